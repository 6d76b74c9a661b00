/**
 * Random contact-center days for property tests: a fast-check arbitrary of abstract operations ("an agent
 * accepts one of the pending offers", "time passes 12 s") that `runScenario` turns into concrete command
 * envelopes against the live engine and the independent `RoutingModel`. Operations pick their targets by
 * index into what currently exists, so shrinking keeps producing meaningful commands, and the concrete
 * envelopes are returned for replay, snapshot and duplicate checks.
 */
import fc from 'fast-check';
import type { Engine } from '../../src/engine/api.js';
import type {
  AgentConfig,
  ApplyResult,
  Channel,
  Command,
  CommandEnvelope,
  OverflowStep,
  Presence,
  QueueConfig,
  SkillLevel,
  SkillRequirement,
  StrategyName,
} from '../../src/engine/types.js';
import { agent, customer, queue, routingConfig, T0 } from './engine-builders.js';
import { RoutingModel } from './engine-model.js';

export const SKILLS = ['billing', 'lang:fr'] as const;
export const MAX_AGENTS = 5;
export const MAX_QUEUES = 3;
const CUSTOMERS = 6;

/** Which parts of the routing rules a scenario may exercise. */
export interface Profile {
  strategies: StrategyName[];
  /** Offer timeouts to draw from (0 = direct assignment). */
  offerTimeouts: number[];
  overflow: boolean;
  /** Returning-customer wait budgets to draw from. */
  previousAgentWaits: number[];
  dedicatedAgents: boolean;
  rejects: boolean;
  transfers: boolean;
  escalations: boolean;
  cancels: boolean;
  manualAssign: boolean;
  duplicates: boolean;
  /** Equivalent agents: one shared skill set and capacity, one queue, one priority. */
  equivalentAgents: boolean;
  maxMissedOffers: number[];
  wrapUpSeconds: number[];
}

/** Everything the engine offers, for capacity/ownership/eligibility and determinism properties. */
export const FULL: Profile = {
  strategies: ['round_robin', 'least_busy', 'longest_idle', 'most_skilled', 'broadcast', 'manual'],
  offerTimeouts: [0, 0, 10, 30],
  overflow: true,
  previousAgentWaits: [0, 0, 20],
  dedicatedAgents: true,
  rejects: true,
  transfers: true,
  escalations: true,
  cancels: true,
  manualAssign: true,
  duplicates: true,
  equivalentAgents: false,
  maxMissedOffers: [0, 2],
  wrapUpSeconds: [0, 0, 5, 30],
};

/** No rule that legitimately keeps a conversation waiting beside an idle eligible agent. */
export const NO_DELIBERATE_WAIT: Profile = {
  ...FULL,
  strategies: ['round_robin', 'least_busy', 'longest_idle', 'most_skilled', 'broadcast'],
  previousAgentWaits: [0],
  dedicatedAgents: false,
};

/** Identical agents on one queue, one priority, no rejects: arrival order must decide. */
export const EQUIVALENT_AGENTS: Profile = {
  ...FULL,
  strategies: ['round_robin', 'least_busy', 'longest_idle', 'most_skilled', 'broadcast'],
  offerTimeouts: [0, 0, 3600],
  overflow: false,
  previousAgentWaits: [0],
  dedicatedAgents: false,
  rejects: false,
  transfers: false,
  escalations: false,
  manualAssign: false,
  equivalentAgents: true,
};

export type Op =
  | { k: 'agent'; a: number; skills: number[]; chat: number; voice: number; wrap: number; queues: number[] }
  | { k: 'presence'; a: number; p: Presence }
  | {
      k: 'queue';
      q: number;
      voice: boolean;
      req: number[];
      strategy: number;
      onlineOnly: boolean;
      width: number;
      priority: number;
      timeout: number;
      overflow: number;
      prevWait: number;
    }
  | { k: 'customer'; cu: number; high: boolean; dedicated: number }
  | { k: 'enqueue'; q: number; cu: number; priority: number; req: number; reuse: boolean }
  | { k: 'accept'; pick: number }
  | { k: 'reject'; pick: number }
  | { k: 'end'; pick: number; outcome: number }
  | { k: 'wrap'; a: number }
  | { k: 'cancel'; pick: number }
  | { k: 'transfer'; pick: number; q: number; a: number; toAgent: boolean }
  | { k: 'assign'; pick: number; a: number }
  | { k: 'escalate'; pick: number; a: number; toAgent: boolean; tier: number }
  | { k: 'tick'; dt: number }
  | { k: 'dup'; pick: number };

/** One generated day: setup then operations, each preceded by a small pause (ms). */
export interface Scenario {
  missed: number;
  agents: Extract<Op, { k: 'agent' }>[];
  queues: Extract<Op, { k: 'queue' }>[];
  ops: { op: Op; dt: number }[];
}

const nat = (max: number) => fc.nat({ max });
const pickOf = <T>(xs: readonly T[]) => fc.constantFrom(...xs);

function agentOp(p: Profile, a: number): fc.Arbitrary<Extract<Op, { k: 'agent' }>> {
  if (p.equivalentAgents)
    return fc.constant({ k: 'agent', a, skills: [5, 5], chat: 2, voice: 1, wrap: 0, queues: [] });
  return fc.record({
    k: fc.constant('agent' as const),
    a: fc.constant(a),
    // Mostly staffable days: most agents hold skills at a useful level and have chat capacity.
    skills: fc.array(
      fc.oneof(
        { arbitrary: fc.constant(0), weight: 1 },
        { arbitrary: fc.integer({ min: 2, max: 10 }), weight: 3 },
      ),
      { minLength: 2, maxLength: 2 },
    ),
    chat: fc.oneof(
      { arbitrary: fc.constant(0), weight: 1 },
      { arbitrary: fc.integer({ min: 1, max: 3 }), weight: 5 },
    ),
    voice: nat(2),
    wrap: pickOf(p.wrapUpSeconds),
    queues: fc.oneof(fc.constant<number[]>([]), fc.uniqueArray(nat(MAX_QUEUES - 1), { maxLength: 2 })),
  });
}

function queueOp(p: Profile, q: number): fc.Arbitrary<Extract<Op, { k: 'queue' }>> {
  return fc.record({
    k: fc.constant('queue' as const),
    q: fc.constant(q),
    voice: p.equivalentAgents ? fc.constant(false) : nat(3).map((n) => n === 0),
    req: p.equivalentAgents
      ? fc.constant([5, 0])
      : fc.array(
          fc.oneof(
            { arbitrary: fc.constant(0), weight: 1 },
            { arbitrary: fc.integer({ min: 1, max: 6 }), weight: 1 },
          ),
          { minLength: 2, maxLength: 2 },
        ),
    strategy: nat(p.strategies.length - 1),
    onlineOnly: fc.boolean(),
    width: fc.integer({ min: 1, max: 3 }),
    priority: nat(10),
    timeout: pickOf(p.offerTimeouts),
    overflow: p.overflow ? nat(3) : fc.constant(0),
    prevWait: pickOf(p.previousAgentWaits),
  });
}

/** Arbitrary scenario for a profile; `maxOps` bounds the day so the suite stays fast. */
export function scenarioArb(p: Profile, maxOps = 60): fc.Arbitrary<Scenario> {
  const agentIdx = nat(MAX_AGENTS - 1);
  const queueIdx = p.equivalentAgents ? fc.constant(0) : nat(MAX_QUEUES - 1);
  const weighted: { arbitrary: fc.Arbitrary<Op>; weight: number }[] = [
    {
      weight: 10,
      arbitrary: fc.record({
        k: fc.constant('enqueue' as const),
        q: queueIdx,
        cu: nat(CUSTOMERS - 1),
        priority: p.equivalentAgents ? fc.constant(0) : nat(3),
        req: p.equivalentAgents ? fc.constant(0) : nat(6),
        reuse: nat(9).map((n) => n === 0),
      }),
    },
    { weight: 5, arbitrary: fc.record({ k: fc.constant('accept' as const), pick: nat(20) }) },
    { weight: 4, arbitrary: fc.record({ k: fc.constant('end' as const), pick: nat(20), outcome: nat(2) }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('wrap' as const), a: agentIdx }) },
    { weight: 4, arbitrary: fc.record({ k: fc.constant('tick' as const), dt: nat(40_000) }) },
    {
      weight: 3,
      arbitrary: fc.record({
        k: fc.constant('presence' as const),
        a: agentIdx,
        p: fc.constantFrom<Presence>('online', 'online', 'away', 'offline'),
      }),
    },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: MAX_AGENTS - 1 }).chain((a) => agentOp(p, a)) },
  ];
  if (!p.equivalentAgents)
    weighted.push({ weight: 1, arbitrary: nat(MAX_QUEUES - 1).chain((q) => queueOp(p, q)) });
  if (p.rejects)
    weighted.push({ weight: 3, arbitrary: fc.record({ k: fc.constant('reject' as const), pick: nat(20) }) });
  if (p.cancels)
    weighted.push({ weight: 2, arbitrary: fc.record({ k: fc.constant('cancel' as const), pick: nat(20) }) });
  if (p.transfers) {
    weighted.push({
      weight: 2,
      arbitrary: fc.record({
        k: fc.constant('transfer' as const),
        pick: nat(20),
        q: nat(MAX_QUEUES - 1),
        a: agentIdx,
        toAgent: fc.boolean(),
      }),
    });
  }
  if (p.escalations) {
    weighted.push({
      weight: 1,
      arbitrary: fc.record({
        k: fc.constant('escalate' as const),
        pick: nat(20),
        a: agentIdx,
        toAgent: fc.boolean(),
        tier: fc.integer({ min: 1, max: 3 }),
      }),
    });
  }
  if (p.manualAssign) {
    weighted.push({
      weight: 2,
      arbitrary: fc.record({ k: fc.constant('assign' as const), pick: nat(20), a: agentIdx }),
    });
  }
  if (p.duplicates)
    weighted.push({ weight: 2, arbitrary: fc.record({ k: fc.constant('dup' as const), pick: nat(1000) }) });
  if (p.dedicatedAgents) {
    weighted.push({
      weight: 1,
      arbitrary: fc.record({
        k: fc.constant('customer' as const),
        cu: nat(CUSTOMERS - 1),
        high: fc.boolean(),
        dedicated: agentIdx,
      }),
    });
  }
  const nQueues = p.equivalentAgents ? 1 : MAX_QUEUES;
  return fc.record({
    missed: pickOf(p.maxMissedOffers),
    agents: fc.tuple(...Array.from({ length: MAX_AGENTS }, (_, a) => agentOp(p, a))),
    queues: fc.tuple(...Array.from({ length: nQueues }, (_, q) => queueOp(p, q))),
    ops: fc.array(fc.record({ op: fc.oneof(...weighted), dt: nat(3000) }), {
      minLength: 1,
      maxLength: maxOps,
      // Full-length days are where offers, wrap-ups and timeouts interleave; shrinking still shortens them.
      size: 'max',
    }),
  });
}

const aid = (a: number) => `a${a}`;
const qid = (q: number) => `q${q}`;
const cuid = (c: number) => `cu${c}`;

function agentConfig(op: Extract<Op, { k: 'agent' }>): AgentConfig {
  const skills: SkillLevel[] = [];
  op.skills.forEach((lvl, i) => {
    if (lvl > 0) skills.push({ skill: SKILLS[i]!, level: lvl });
  });
  const capacity: Partial<Record<Channel, number>> = { chat: op.chat };
  if (op.voice > 0) capacity.voice = op.voice;
  return agent(aid(op.a), {
    skills,
    capacity,
    wrapUpSeconds: op.wrap,
    queues: op.queues.map(qid),
    seniority: op.a % 2 === 0 ? 'new' : 'experienced',
    tier: 1 + (op.a % 3),
  });
}

function queueConfig(p: Profile, op: Extract<Op, { k: 'queue' }>): QueueConfig {
  const requiredSkills: SkillRequirement[] = [];
  op.req.forEach((lvl, i) => {
    if (lvl > 0) requiredSkills.push({ skill: SKILLS[i]!, minLevel: lvl });
  });
  // 0 none; 1 relax then drop a language; 2 widen to the next queue; 3 relax then require a higher tier.
  const overflows: OverflowStep[][] = [
    [],
    [
      { afterSeconds: 15, action: { kind: 'relax_skills', by: 2 } },
      { afterSeconds: 45, action: { kind: 'drop_skills', skills: ['lang:fr'] } },
    ],
    [{ afterSeconds: 20, action: { kind: 'widen_to_queue', queueId: qid((op.q + 1) % MAX_QUEUES) } }],
    [
      { afterSeconds: 10, action: { kind: 'relax_skills', by: 1 } },
      { afterSeconds: 30, action: { kind: 'escalate_tier', tier: 2 } },
    ],
  ];
  const overflow = overflows[op.overflow % overflows.length]!;
  return queue(qid(op.q), {
    channel: op.voice ? 'voice' : 'chat',
    requiredSkills,
    strategy: p.strategies[op.strategy % p.strategies.length]!,
    onlineOnly: op.onlineOnly,
    broadcastWidth: op.width,
    priority: op.priority,
    offerTimeoutSeconds: op.timeout,
    overflow,
    serviceLevel: { target: 0.9, thresholdSeconds: 60, windowSeconds: 3600 },
    previousAgentWaitSeconds: op.prevWait,
  });
}

/** A concrete step the scenario produced, with the engine's answer. */
export interface Step {
  env: CommandEnvelope;
  result: ApplyResult;
  /** Index of the original step when this one re-sends its envelope id. */
  duplicateOf?: number;
}

export interface RunOptions {
  /** Called after every command with the step index (for state checks through queries). */
  afterEach?: (engine: Engine, model: RoutingModel, step: Step, index: number) => void;
  checkArrivalOrder?: boolean;
}

export interface RunOutcome {
  steps: Step[];
  model: RoutingModel;
}

/** Drives a scenario through `engine`, resolving index-based picks against the model's current view. */
export function runScenario(engine: Engine, p: Profile, s: Scenario, opts: RunOptions = {}): RunOutcome {
  const model = new RoutingModel({ checkArrivalOrder: opts.checkArrivalOrder });
  const steps: Step[] = [];
  let at = T0;
  let nextConv = 0;
  const send = (cmd: Command, duplicateOf?: number, id?: string) => {
    const env: CommandEnvelope = { id: id ?? `c${steps.length}`, at, cmd };
    const result = engine.apply(env);
    const step: Step = duplicateOf === undefined ? { env, result } : { env, result, duplicateOf };
    steps.push(step);
    model.observe(env, result);
    opts.afterEach?.(engine, model, step, steps.length - 1);
  };
  send({ type: 'set_routing_config', config: routingConfig({ maxMissedOffers: s.missed }) });
  for (const q of s.queues) send({ type: 'upsert_queue', queue: queueConfig(p, q) });
  for (const a of s.agents) {
    send({ type: 'upsert_agent', agent: agentConfig(a) });
    send({ type: 'set_presence', agentId: aid(a.a), presence: 'online' });
  }
  const open = (pred: (state: string) => boolean) =>
    [...model.conversations.values()].filter((c) => pred(c.state));
  for (const { op, dt } of s.ops) {
    at += dt;
    const cmd = resolve(op);
    if (cmd) send(cmd.cmd, cmd.dup, cmd.id);
  }
  return { steps, model };

  function resolve(op: Op): { cmd: Command; dup?: number; id?: string } | null {
    switch (op.k) {
      case 'agent':
        return { cmd: { type: 'upsert_agent', agent: agentConfig(op) } };
      case 'queue':
        return { cmd: { type: 'upsert_queue', queue: queueConfig(p, op) } };
      case 'presence':
        return { cmd: { type: 'set_presence', agentId: aid(op.a), presence: op.p } };
      case 'customer':
        return {
          cmd: {
            type: 'upsert_customer',
            customer: customer(cuid(op.cu), {
              valueTier: op.high ? 'high_value' : 'standard',
              ...(op.high ? { dedicatedAgentId: aid(op.dedicated) } : {}),
            }),
          },
        };
      case 'enqueue': {
        const q = model.queues.get(qid(op.q));
        const channel: Channel = q?.channel ?? 'chat';
        const requiredSkills: SkillRequirement[] = op.req > 0 ? [{ skill: 'billing', minLevel: op.req }] : [];
        // Now and then the gateway re-sends an enqueue for a conversation it already placed (new request id).
        const known = [...model.conversations.keys()];
        const id = op.reuse && known.length > 0 ? known[op.cu % known.length]! : `conv${nextConv++}`;
        return {
          cmd: {
            type: 'enqueue',
            conversation: {
              id,
              channel,
              customer: { id: p.equivalentAgents ? `new-${id}` : cuid(op.cu) },
              requiredSkills,
              queueId: qid(op.q),
              priority: op.priority,
            },
          },
        };
      }
      case 'accept':
      case 'reject': {
        const offers = open((st) => st === 'offered').flatMap((c) =>
          [...c.offers].map((a) => [a, c.id] as const),
        );
        if (offers.length === 0) return null;
        const [agentId, conversationId] = offers[op.pick % offers.length]!;
        return {
          cmd: { type: op.k === 'accept' ? 'accept_offer' : 'reject_offer', agentId, conversationId },
        };
      }
      case 'end': {
        const owned = open((st) => st === 'assigned');
        if (owned.length === 0) return null;
        const outcome = (['resolved', 'closed', 'needs_follow_up'] as const)[op.outcome]!;
        return {
          cmd: { type: 'end_conversation', conversationId: owned[op.pick % owned.length]!.id, outcome },
        };
      }
      case 'wrap': {
        const wrapping = [...model.agents.entries()].filter(([, a]) => a.inWrapUp).map(([id]) => id);
        const agentId = wrapping.length > 0 ? wrapping[op.a % wrapping.length]! : aid(op.a);
        return { cmd: { type: 'finish_wrap_up', agentId } };
      }
      case 'cancel': {
        const live = open((st) => st !== 'done');
        if (live.length === 0) return null;
        return { cmd: { type: 'cancel', conversationId: live[op.pick % live.length]!.id } };
      }
      case 'transfer': {
        const owned = open((st) => st === 'assigned');
        if (owned.length === 0) return null;
        const conversationId = owned[op.pick % owned.length]!.id;
        return {
          cmd: op.toAgent
            ? { type: 'transfer', conversationId, toAgentId: aid(op.a) }
            : { type: 'transfer', conversationId, toQueueId: qid(op.q) },
        };
      }
      case 'assign': {
        const waiting = open((st) => st === 'waiting');
        if (waiting.length === 0) return null;
        return {
          cmd: { type: 'assign', conversationId: waiting[op.pick % waiting.length]!.id, agentId: aid(op.a) },
        };
      }
      case 'escalate': {
        const owned = open((st) => st === 'assigned');
        if (owned.length === 0) return null;
        const conversationId = owned[op.pick % owned.length]!.id;
        return {
          cmd: op.toAgent
            ? { type: 'escalate', conversationId, toAgentId: aid(op.a) }
            : { type: 'escalate', conversationId, toTier: op.tier },
        };
      }
      case 'tick':
        at += op.dt;
        return { cmd: { type: 'tick' } };
      case 'dup': {
        // Gateway retry: same request id and command, stamped later. Only ids the engine accepted, and
        // never a tick: the host makes those under fresh ids and does not retry them (nor remember them).
        const accepted = steps
          .map((st, i) => [st, i] as const)
          .filter(([st]) => st.result.ok && !st.duplicateOf && st.env.cmd.type !== 'tick');
        if (accepted.length === 0) return null;
        const [orig, i] = accepted[op.pick % accepted.length]!;
        return { cmd: orig.env.cmd, dup: i, id: orig.env.id };
      }
    }
  }
}

/** Re-applies recorded envelopes to a fresh engine; returns the results. */
export function replay(engine: Engine, envs: readonly CommandEnvelope[]): ApplyResult[] {
  return envs.map((e) => engine.apply(e));
}

/** Property-run budget: `share` of SB_PROPERTY_RUNS (default 12 000 across the suite), at least 1. */
export function runsFor(share: number): number {
  const total = Number(process.env.SB_PROPERTY_RUNS ?? '12000');
  return Math.max(1, Math.ceil((Number.isFinite(total) && total > 0 ? total : 12000) * share));
}

/** A vitest timeout generous enough for `runs` scenarios (≈2 ms each on this machine, ×10 margin). */
export function timeoutFor(runs: number): number {
  return Math.max(60_000, runs * 20);
}

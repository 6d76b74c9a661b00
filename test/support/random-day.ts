/**
 * Random contact-center days for the snapshot property (`test/property/random-day-determinism`): 6 agents,
 * 4 queues with every strategy, overflow, offers with timeouts and every service-level window, then
 * arrivals, accept/reject, end, wrap-up, cancel, transfer, manual assign, escalate, ticks of up to 43 s, and
 * reconfiguration, removals and customer erasure between them. Plain seeded PRNG (no shrinking): a failure
 * names its seed. First written as a review fuzzer (r5); it found slaNextAt going stale outside a tick.
 */
import type { Engine } from '../../src/engine/api.js';
import { createEngine, restoreEngine } from '../../src/engine/index.js';
import type {
  AgentConfig,
  ApplyResult,
  Command,
  CommandEnvelope,
  OverflowStep,
  QueueConfig,
  SkillLevel,
  SkillRequirement,
} from '../../src/engine/types.js';
import { agent, queue, routingConfig, T0 } from './engine-builders.js';

export function rng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick };
}

const SK = ['billing', 'lang:fr', 'lang:de'];
const NA = 6;
const NQ = 4;

export interface Opts {
  steps: number;
  /** Allow structural ops (remove agent/queue, requeue config). */
  structural: boolean;
  channels: ('chat' | 'voice')[];
}

export const DEFAULT_OPTS: Opts = { steps: 160, structural: true, channels: ['chat'] };

export function agentCfg(r: ReturnType<typeof rng>, i: number): AgentConfig {
  const skills: SkillLevel[] = [];
  for (const s of SK) if (r.int(3) > 0) skills.push({ skill: s, level: 1 + r.int(10) });
  return agent(`a${i}`, {
    skills,
    capacity: { chat: 1 + r.int(3), voice: r.int(2) },
    wrapUpSeconds: r.pick([0, 0, 5, 30, 60]),
    tier: 1 + r.int(3),
    seniority: r.int(2) ? 'new' : 'experienced',
  });
}

export function queueCfg(r: ReturnType<typeof rng>, i: number, o: Opts): QueueConfig {
  const req: SkillRequirement[] = [];
  for (const s of SK) if (r.int(3) === 0) req.push({ skill: s, minLevel: 1 + r.int(6) });
  const overflows: OverflowStep[][] = [
    [],
    [
      { afterSeconds: 15, action: { kind: 'relax_skills', by: 2 } },
      { afterSeconds: 45, action: { kind: 'drop_skills', skills: ['lang:fr'] } },
    ],
    [{ afterSeconds: 20, action: { kind: 'widen_to_queue', queueId: `q${(i + 1) % NQ}` } }],
    [
      { afterSeconds: 10, action: { kind: 'relax_skills', by: 1 } },
      { afterSeconds: 30, action: { kind: 'escalate_tier', tier: 2 } },
    ],
  ];
  return queue(`q${i}`, {
    channel: i === 3 && o.channels.includes('voice') ? 'voice' : 'chat',
    requiredSkills: req,
    strategy: r.pick([
      'round_robin',
      'least_busy',
      'longest_idle',
      'most_skilled',
      'most_skilled',
      'broadcast',
      'manual',
    ] as const),
    broadcastWidth: 1 + r.int(3),
    priority: r.int(11),
    maxSize: r.pick([0, 0, 1, 2, 4]),
    offerTimeoutSeconds: r.pick([0, 0, 10, 30]),
    overflow: r.pick(overflows),
    serviceLevel: {
      target: 0.8,
      thresholdSeconds: r.pick([5, 20, 60]),
      windowSeconds: r.pick([60, 600, 3600]),
    },
    previousAgentWaitSeconds: r.pick([0, 0, 20]),
    newCustomersToNewAgents: r.int(2) === 0,
  });
}

export interface Day {
  envs: CommandEnvelope[];
  results: ApplyResult[];
  engine: Engine;
  problems: string[];
}

/** Generates a random day against `engine`, with optional per-step checks. */
export function runDay(
  seed: number,
  o: Opts = DEFAULT_OPTS,
  check?: (e: Engine, at: number, i: number, problems: string[]) => void,
): Day {
  const r = rng(seed);
  const engine = createEngine('p');
  const envs: CommandEnvelope[] = [];
  const results: ApplyResult[] = [];
  const problems: string[] = [];
  let at = T0;
  let nConv = 0;
  const convIds: string[] = [];
  const send = (cmd: Command) => {
    const env: CommandEnvelope = { id: `c${envs.length}`, at, cmd };
    const res = engine.apply(env);
    envs.push(env);
    results.push(res);
    if (engine.halted)
      problems.push(`HALT at step ${envs.length - 1} ${JSON.stringify(cmd)}: ${engine.halted.error}`);
    else check?.(engine, at, envs.length - 1, problems);
  };
  send({
    type: 'set_routing_config',
    config: routingConfig({ maxMissedOffers: r.pick([0, 2]), slaDrivenPriority: r.int(2) === 0 }),
  });
  for (let q = 0; q < NQ; q++) send({ type: 'upsert_queue', queue: queueCfg(r, q, o) });
  for (let a = 0; a < NA; a++) {
    send({ type: 'upsert_agent', agent: agentCfg(r, a) });
    send({ type: 'set_presence', agentId: `a${a}`, presence: 'online' });
  }
  const convState = (id: string) => {
    const v = engine.query({ type: 'conversation', conversationId: id }, at);
    return v.type === 'conversation' ? v.conversation : null;
  };
  const live = (pred: (s: string) => boolean) =>
    convIds.map((id) => convState(id)).filter((v) => v !== null && pred(v.status)) as NonNullable<
      ReturnType<typeof convState>
    >[];
  for (let step = 0; step < o.steps && !engine.halted; step++) {
    at += r.int(4000);
    const k = r.int(100);
    let cmd: Command | null = null;
    if (k < 22) {
      const id = `conv${nConv++}`;
      convIds.push(id);
      const reqs: SkillRequirement[] = [];
      if (r.int(3) === 0) reqs.push({ skill: r.pick(SK), minLevel: 1 + r.int(8) });
      const qi = r.int(NQ);
      cmd = {
        type: 'enqueue',
        conversation: {
          id,
          channel: qi === 3 && o.channels.includes('voice') ? 'voice' : 'chat',
          customer: { id: `cu${r.int(5)}` },
          requiredSkills: reqs,
          queueId: `q${qi}`,
          priority: r.pick([0, 0, 1, 5, 10]),
        },
      };
    } else if (k < 32) {
      const offers = live((s) => s === 'offered').flatMap((v) => v.offeredTo.map((a) => [a, v.id] as const));
      if (offers.length) {
        const [agentId, conversationId] = r.pick(offers);
        cmd = { type: r.int(2) ? 'accept_offer' : 'reject_offer', agentId, conversationId };
      }
    } else if (k < 42) {
      const owned = live((s) => s === 'assigned');
      if (owned.length)
        cmd = { type: 'end_conversation', conversationId: r.pick(owned).id, outcome: 'resolved' };
    } else if (k < 47) {
      cmd = { type: 'finish_wrap_up', agentId: `a${r.int(NA)}` };
    } else if (k < 52) {
      const l = live((s) => s !== 'closed' && s !== 'abandoned' && s !== 'assigned');
      if (l.length) cmd = { type: 'cancel', conversationId: r.pick(l).id };
    } else if (k < 60) {
      const l = live((s) => s === 'assigned' || s === 'waiting' || s === 'offered');
      if (l.length) {
        const c = r.pick(l);
        cmd =
          r.int(3) === 0
            ? { type: 'transfer', conversationId: c.id, toAgentId: `a${r.int(NA)}` }
            : { type: 'transfer', conversationId: c.id, toQueueId: r.int(2) ? c.queueId : `q${r.int(NQ)}` };
      }
    } else if (k < 64) {
      const l = live((s) => s === 'waiting' || s === 'offered');
      if (l.length) cmd = { type: 'assign', conversationId: r.pick(l).id, agentId: `a${r.int(NA)}` };
    } else if (k < 66) {
      const l = live((s) => s === 'assigned');
      if (l.length) cmd = { type: 'escalate', conversationId: r.pick(l).id, toTier: 1 + r.int(3) };
    } else if (k < 76) {
      at += r.int(40_000);
      cmd = { type: 'tick' };
    } else if (k < 82) {
      cmd = {
        type: 'set_presence',
        agentId: `a${r.int(NA)}`,
        presence: r.pick(['online', 'online', 'away', 'offline'] as const),
      };
    } else if (k < 85) {
      cmd = { type: 'upsert_agent', agent: agentCfg(r, r.int(NA)) };
    } else if (k < 90) {
      cmd = { type: 'upsert_queue', queue: queueCfg(r, r.int(NQ), o) };
    } else if (k < 92) {
      const cu = `cu${r.int(5)}`;
      cmd = r.int(2)
        ? { type: 'remove_customer', customerId: cu }
        : {
            type: 'upsert_customer',
            customer: {
              id: cu,
              valueTier: r.int(2) ? 'high_value' : 'standard',
              previousAgents: [`a${r.int(NA)}`],
              ...(r.int(2) ? { dedicatedAgentId: `a${r.int(NA)}` } : {}),
            },
          };
    } else if (k < 95 && o.structural) {
      cmd = { type: 'remove_agent', agentId: `a${r.int(NA)}` };
    } else if (k < 97 && o.structural) {
      cmd = { type: 'remove_queue', queueId: `q${r.int(NQ)}` };
    } else {
      at += r.int(3000);
      cmd = { type: 'tick' };
    }
    if (cmd) send(cmd);
  }
  return { envs, results, engine, problems };
}

export function replayFrom(snapJson: string, envs: CommandEnvelope[]) {
  const e = restoreEngine(JSON.parse(snapJson));
  const results = envs.map((env) => e.apply(env));
  return { e, results };
}

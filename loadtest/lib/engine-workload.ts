/**
 * A steady-state contact-center partition for the engine benches, built only through the public API.
 *
 * Two halves of the staff, so both decision directions run against one partition holding many waiting
 * conversations:
 *   backlog  agents serve queues b0..b{Q-1}; all are at capacity and `waiting` conversations queue behind
 *            them. Ending one of their conversations frees a slot → the engine picks the best waiting
 *            conversation across the agent's queues (queue priority, conversation priority, age).
 *   live     agents serve queues l0..l{Q-1} and keep spare capacity. A new conversation there → the engine
 *            picks an agent by the queue's strategy.
 * Each measured decision is one `apply`; a companion command (unmeasured) restores the steady state.
 */
import type { Engine } from '../../src/engine/api.js';
import type {
  AgentConfig,
  ApplyResult,
  Command,
  CommandEnvelope,
  QueueConfig,
  StrategyName,
} from '../../src/engine/types.js';
import { mulberry32 } from './prng.js';

export interface WorkloadOptions {
  agents: number;
  waiting: number;
  /** Queues per half (default 20). */
  queues?: number;
  seed?: number;
  /** Chat capacity of every agent (default 2). */
  capacity?: number;
}

const LIVE_STRATEGIES: StrategyName[] = ['least_busy', 'longest_idle', 'round_robin', 'most_skilled'];

export function queueConfig(
  id: string,
  skill: string,
  strategy: StrategyName,
  priority: number,
): QueueConfig {
  return {
    id,
    name: id,
    channel: 'chat',
    requiredSkills: [{ skill, minLevel: 3 }],
    strategy,
    onlineOnly: true,
    broadcastWidth: 1,
    priority,
    serviceLevel: { target: 0.9, thresholdSeconds: 20, windowSeconds: 3600 },
    maxSize: 0,
    offerTimeoutSeconds: 0,
    overflow: [],
    previousAgentWaitSeconds: 0,
    newCustomersToNewAgents: false,
  };
}

/** Builds and drives the steady-state partition. */
export class EngineWorkload {
  readonly backlogAgents: number;
  readonly liveAgents: number;
  readonly queues: number;
  private readonly capacity: number;
  private readonly rand: () => number;
  private at = Date.UTC(2026, 0, 5, 9, 0, 0);
  private seq = 0;
  private conv = 0;
  /** Conversations currently assigned to backlog agents (ids), for picking one to end. */
  private readonly backlogOpen: string[] = [];

  constructor(
    readonly engine: Engine,
    readonly opts: WorkloadOptions,
  ) {
    this.queues = opts.queues ?? 20;
    this.capacity = opts.capacity ?? 2;
    this.rand = mulberry32(opts.seed ?? 42);
    this.backlogAgents = Math.ceil(opts.agents / 2);
    this.liveAgents = opts.agents - this.backlogAgents;
  }

  /** Next envelope (ids and time advance as a real log would: 1 ms apart). */
  envelope(cmd: Command): CommandEnvelope {
    this.at += 1;
    return { id: `r${++this.seq}`, at: this.at, cmd };
  }

  private run(cmd: Command): ApplyResult {
    const r = this.engine.apply(this.envelope(cmd));
    if (!r.ok) throw new Error(`workload command ${cmd.type} failed: ${r.error.code} ${r.error.message}`);
    return r;
  }

  /** Queues and agents, all online, nothing assigned yet. */
  staff(): void {
    for (let q = 0; q < this.queues; q++) {
      this.run({ type: 'upsert_queue', queue: queueConfig(`b${q}`, `bs${q}`, 'least_busy', q % 11) });
      const strategy = LIVE_STRATEGIES[q % LIVE_STRATEGIES.length]!;
      this.run({ type: 'upsert_queue', queue: queueConfig(`l${q}`, `ls${q}`, strategy, q % 11) });
    }
    for (let i = 0; i < this.opts.agents; i++) {
      const backlog = i < this.backlogAgents;
      const prefix = backlog ? 'bs' : 'ls';
      const s1 = i % this.queues;
      const s2 = (i * 7 + 3) % this.queues;
      const skills = [{ skill: `${prefix}${s1}`, level: 3 + Math.floor(this.rand() * 8) }];
      if (s2 !== s1) skills.push({ skill: `${prefix}${s2}`, level: 3 + Math.floor(this.rand() * 8) });
      const agent: AgentConfig = {
        id: `agent-${i}`,
        displayName: `Agent ${i}`,
        skills,
        teams: [],
        tier: 1,
        seniority: 'experienced',
        // Live agents get twice the seats so one conversation each leaves real spare capacity.
        capacity: { chat: backlog ? this.capacity : 2 * this.capacity },
        wrapUpSeconds: 0,
        queues: [],
      };
      this.run({ type: 'upsert_agent', agent });
      this.run({ type: 'set_presence', agentId: agent.id, presence: 'online' });
    }
  }

  /** Fills backlog agents to capacity and gives live agents one conversation each on average. */
  fillAssigned(): void {
    const backlogSlots = this.backlogAgents * this.capacity;
    for (let i = 0; i < backlogSlots; i++)
      this.noteAssigned(this.run(this.backlogArrival()), this.backlogOpen);
    // Live agents hold one conversation each on average: spare capacity, but a real spread of loads.
    for (let i = 0; i < this.liveAgents; i++) this.run(this.liveArrival());
  }

  /** Queues `n` conversations behind the saturated backlog agents. */
  fillWaiting(n: number): void {
    for (let i = 0; i < n; i++) this.run(this.backlogArrival());
  }

  private backlogArrival(): Command {
    return this.arrival('b');
  }

  private liveArrival(): Command {
    return this.arrival('l');
  }

  private arrival(prefix: 'b' | 'l', queueId?: string): Command {
    const id = `c${++this.conv}`;
    return {
      type: 'enqueue',
      conversation: {
        id,
        channel: 'chat',
        customer: { id: `cust-${id}` },
        requiredSkills: [],
        queueId: queueId ?? `${prefix}${Math.floor(this.rand() * this.queues)}`,
        priority: Math.floor(this.rand() * 4),
      },
    };
  }

  /** Envelope for "a conversation arrives in a live queue" (a free agent will be chosen). */
  nextArrival(): CommandEnvelope {
    return this.envelope(this.liveArrival());
  }

  /** Envelope for "a backlog agent finishes a conversation" (the best waiting one will be chosen). */
  nextRelease(): CommandEnvelope {
    return this.envelope({
      type: 'end_conversation',
      conversationId: takeRandom(this.backlogOpen, this.rand),
      outcome: 'resolved',
    });
  }

  /**
   * After a measured arrival: ends the conversation just assigned (unmeasured), so live agents' loads stay
   * where the fill put them. Returns whether the arrival was assigned.
   */
  afterArrival(r: ApplyResult): boolean {
    const assigned = firstAssigned(r);
    if (assigned)
      this.run({ type: 'end_conversation', conversationId: assigned.conversationId, outcome: 'resolved' });
    return assigned !== null;
  }

  /**
   * After a measured release: remembers the newly assigned conversation and queues a new one in the same
   * queue (unmeasured), so every queue's backlog keeps its size. Returns whether a conversation was chosen.
   */
  afterRelease(r: ApplyResult): boolean {
    const assigned = firstAssigned(r);
    if (!assigned) return false;
    this.backlogOpen.push(assigned.conversationId);
    this.run(this.arrival('b', assigned.queueId));
    return true;
  }

  /** Applies an envelope, failing loudly on an error. */
  apply(env: CommandEnvelope): ApplyResult {
    const r = this.engine.apply(env);
    if (!r.ok) throw new Error(`workload command ${env.cmd.type} failed: ${r.error.code} ${r.error.message}`);
    return r;
  }

  private noteAssigned(r: ApplyResult, into: string[]): boolean {
    if (!r.ok) return false;
    let decided = false;
    for (const e of r.events) {
      if (e.type === 'assigned') {
        into.push(e.conversationId);
        decided = true;
      }
    }
    return decided;
  }
}

function firstAssigned(r: ApplyResult): { conversationId: string; queueId: string } | null {
  if (!r.ok) return null;
  for (const e of r.events) if (e.type === 'assigned') return e;
  return null;
}

function takeRandom(xs: string[], rand: () => number): string {
  if (xs.length === 0) throw new Error('workload: no open conversation left to end');
  const i = Math.floor(rand() * xs.length);
  const v = xs[i]!;
  xs[i] = xs[xs.length - 1]!;
  xs.pop();
  return v;
}

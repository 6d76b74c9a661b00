/**
 * An independent model of a partition rebuilt only from the commands a test sent and the events the engine
 * emitted — what a gateway or a supervisor dashboard sees. Every routing decision (`offered`, `assigned`)
 * is checked against it as the event arrives:
 *
 *   capacity     agent's load on the channel (open conversations + pending offers) ≤ its capacity
 *   one owner    a conversation never gets a second accepted assignment while one is open
 *   eligibility  automatic decisions go only to online agents, out of wrap-up, holding the skills,
 *                serving the queue, with capacity, not passed over for this conversation (below)
 *   arrival      (optional) equal-priority conversations of a queue are first served in arrival order
 *
 * Passed over: an agent who missed an offer of a conversation (or, B1, transferred it to a queue) is not
 * given it again until the engine's next 30 s notice re-check of it after it went back to waiting
 * (`Partition.liftExclusions`), when every agent is eligible again. The model does not see re-checks, so
 * it judges with bounds that never blame the engine wrongly: a decision to such an agent within 30 s of
 * its miss is a violation (the re-check cannot be earlier); for work conservation the agent counts as
 * eligible again only once a tick has passed 30 s after the last time the conversation went back to
 * waiting (the re-check has certainly fired). Before, a miss excluded the agent for good, and a
 * conversation every agent had missed waited forever beside them (B5).
 *
 * Violations are collected as sentences naming the command, so a fast-check counterexample reads like an
 * incident report.
 */
import type {
  AgentConfig,
  ApplyResult,
  Channel,
  CommandEnvelope,
  EngineEvent,
  Presence,
  QueueConfig,
  SkillRequirement,
} from '../../src/engine/types.js';

/** The engine's notice re-check (`NOTICE_RECHECK_MS`): the least time a missed agent is passed over. */
const PASSED_OVER_MS = 30_000;

/** What the model believes about one conversation. */
export interface ModelConversation {
  id: string;
  channel: Channel;
  queueId: string;
  priority: number;
  /** The conversation's own requirements (the queue's are looked up when needed). */
  requiredSkills: SkillRequirement[];
  /** Order of arrival across the partition. */
  arrival: number;
  state: 'waiting' | 'offered' | 'assigned' | 'done';
  owner: string | null;
  offers: Set<string>;
  /** Extra participants added by escalation (they hold a seat on the channel too). */
  helpers: Set<string>;
  /** Agents passed over (missed an offer of it, or transferred it away) → when, in ms. */
  missedBy: Map<string, number>;
  /** Latest time it went back to waiting (upper bound: the command's time); its re-check is ≤ 30 s later. */
  waitingSince: number;
  /** Expiry of the latest offer (the time of a timeout miss). */
  offerExpiresAt: number;
  /** Overflow relaxations seen in `overflowed` events (make eligibility more lenient, never stricter). */
  /** Overflow steps applied in the current queue (index into its overflow list). */
  step: number;
  relaxBy: number;
  dropped: Set<string>;
  /** Queues whose agents may serve it after `widen_to_queue` steps. */
  widened: Set<string>;
  /** Minimum agent tier after `escalate_tier` steps (0 = none). */
  minTier: number;
  firstServed: boolean;
}

export interface ModelAgent {
  cfg: AgentConfig;
  presence: Presence;
  inWrapUp: boolean;
}

/** Which invariant a violation breaks; each property test asserts its own kind. */
export type ViolationKind = 'capacity' | 'owner' | 'eligibility' | 'arrival_order' | 'consistency';

export interface Violation {
  kind: ViolationKind;
  message: string;
}

/** Automatic rules: these must respect full eligibility. Manual assign / transfer to an agent only capacity. */
const AUTOMATIC_RULES = new Set([
  'dedicated_agent',
  'previous_agent',
  'new_customer_to_new_agent',
  'strategy',
]);

export interface ModelOptions {
  /** Check first-served order per (queue, priority). Only meaningful when agents are equivalent. */
  checkArrivalOrder?: boolean;
}

export class RoutingModel {
  readonly agents = new Map<string, ModelAgent>();
  readonly queues = new Map<string, QueueConfig>();
  readonly conversations = new Map<string, ModelConversation>();
  readonly violations: Violation[] = [];
  private arrivals = 0;
  private current = '';
  /** Time of the command being observed, and of the latest tick (timers fired up to it). */
  private at = 0;
  private lastTickAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: ModelOptions = {}) {}

  /** Feeds one applied command and its result. Duplicates (result.duplicate) must change nothing. */
  observe(env: CommandEnvelope, result: ApplyResult): void {
    this.current = `${env.id} ${env.cmd.type}`;
    this.at = env.at;
    if (!result.ok && result.error.code === 'SB_ERR_INTERNAL') {
      this.fail('consistency', `internal error: ${result.error.message}`);
    }
    if (!result.ok || result.duplicate) return;
    const cmd = env.cmd;
    if (cmd.type === 'tick') this.lastTickAt = Math.max(this.lastTickAt, env.at);
    switch (cmd.type) {
      case 'upsert_agent': {
        const prev = this.agents.get(cmd.agent.id);
        this.agents.set(cmd.agent.id, {
          cfg: cmd.agent,
          presence: prev?.presence ?? 'offline',
          inWrapUp: prev?.inWrapUp ?? false,
        });
        break;
      }
      case 'upsert_queue':
        this.queues.set(cmd.queue.id, cmd.queue);
        // Engine rule: a conversation keeps its step index, clamped to the new overflow list, and gets the
        // new list's meaning for it (no `overflowed` events are emitted for that re-mapping).
        for (const c of this.conversations.values()) {
          if (c.queueId !== cmd.queue.id || c.state === 'done') continue;
          c.step = Math.min(c.step, cmd.queue.overflow.length);
          this.deriveOverflow(c);
        }
        break;
      case 'set_presence': {
        const a = this.agents.get(cmd.agentId);
        if (a) a.presence = cmd.presence;
        break;
      }
      case 'enqueue': {
        const c = cmd.conversation;
        if (!this.conversations.has(c.id) && result.reply.kind === 'enqueued') {
          this.conversations.set(c.id, {
            id: c.id,
            channel: c.channel,
            queueId: result.reply.queueId,
            priority: c.priority,
            requiredSkills: c.requiredSkills,
            arrival: this.arrivals++,
            state: 'waiting',
            owner: null,
            offers: new Set(),
            helpers: new Set(),
            missedBy: new Map(),
            waitingSince: env.at,
            offerExpiresAt: 0,
            step: 0,
            relaxBy: 0,
            dropped: new Set(),
            widened: new Set(),
            minTier: 0,
            firstServed: false,
          });
        }
        break;
      }
      default:
        break;
    }
    for (const e of result.events) this.event(e);
    for (const c of this.conversations.values()) {
      if (c.state === 'done' && c.offers.size > 0) {
        this.fail(
          'consistency',
          `conversation ${c.id} is finished but offers to ${[...c.offers].join(',')} were never rescinded`,
        );
        c.offers.clear();
      }
    }
  }

  /** Open conversations plus pending offers of `agentId` on `channel`. */
  load(agentId: string, channel: Channel): number {
    let n = 0;
    for (const c of this.conversations.values()) {
      if (c.channel !== channel) continue;
      if (c.state === 'assigned' && (c.owner === agentId || c.helpers.has(agentId))) n++;
      else if (c.offers.has(agentId)) n++;
    }
    return n;
  }

  capacity(agentId: string, channel: Channel): number {
    return this.agents.get(agentId)?.cfg.capacity[channel] ?? 0;
  }

  /**
   * Whether `agentId` may serve `conv` now. `lenient` credits every overflow relaxation seen in events (for
   * judging a decision the engine made); strict ignores them (for claiming an agent was wrongly left idle).
   */
  eligible(agentId: string, conv: ModelConversation, lenient: boolean): string | null {
    const a = this.agents.get(agentId);
    if (!a) return 'unknown agent';
    if (a.presence !== 'online') return `presence ${a.presence}`;
    if (a.inWrapUp) return 'in wrap-up';
    const missedAt = conv.missedBy.get(agentId);
    if (missedAt !== undefined) {
      // Lenient (judging a decision): certainly passed over within 30 s of the miss. Strict (claiming the
      // agent was left idle): passed over until a tick has certainly fired the re-check.
      if (lenient ? this.at < missedAt + PASSED_OVER_MS : !this.recheckedSinceWaiting(conv))
        return 'already missed this conversation';
    }
    if ((a.cfg.capacity[conv.channel] ?? 0) <= 0) return `no ${conv.channel} capacity`;
    // Tier escalation narrows: applied in both modes.
    if (a.cfg.tier < conv.minTier) return `tier ${a.cfg.tier} < ${conv.minTier}`;
    const own = this.meets(a.cfg, conv.queueId, this.requirements(conv), conv, lenient);
    if (own === null || !lenient) return own;
    // Widening lets agents of the other queue serve it (their queue's requirements plus the conversation's).
    for (const w of conv.widened) {
      const tq = this.queues.get(w);
      if (!tq) continue;
      const reqs = [...tq.requiredSkills, ...conv.requiredSkills];
      if (this.meets(a.cfg, w, reqs, conv, lenient) === null) return null;
    }
    return own;
  }

  /** The conversation has waited since before its last re-check, which a tick has fired. */
  private recheckedSinceWaiting(conv: ModelConversation): boolean {
    return conv.state === 'waiting' && this.lastTickAt >= conv.waitingSince + PASSED_OVER_MS;
  }

  private meets(
    a: AgentConfig,
    queueId: string,
    reqs: SkillRequirement[],
    conv: ModelConversation,
    lenient: boolean,
  ): string | null {
    if (a.queues.length > 0 && !a.queues.includes(queueId)) return `does not serve ${queueId}`;
    for (const r of reqs) {
      if (lenient && conv.dropped.has(r.skill)) continue;
      const min = lenient ? Math.max(1, r.minLevel - conv.relaxBy) : r.minLevel;
      const has = a.skills.find((s) => s.skill === r.skill)?.level ?? 0;
      if (has < min) return `skill ${r.skill} ${has} < ${min}`;
    }
    return null;
  }

  /** Relaxations, widenings and tier from the first `step` overflow steps of the conversation's queue. */
  private deriveOverflow(c: ModelConversation): void {
    c.relaxBy = 0;
    c.dropped.clear();
    c.widened.clear();
    c.minTier = 0;
    const steps = this.queues.get(c.queueId)?.overflow ?? [];
    for (const { action } of steps.slice(0, c.step)) {
      if (action.kind === 'relax_skills') c.relaxBy += action.by;
      if (action.kind === 'drop_skills') for (const s of action.skills) c.dropped.add(s);
      if (action.kind === 'widen_to_queue') c.widened.add(action.queueId);
      if (action.kind === 'escalate_tier') c.minTier = Math.max(c.minTier, action.tier);
    }
  }

  /** Queue requirements merged with the conversation's own (the stricter minimum wins). */
  requirements(conv: ModelConversation): SkillRequirement[] {
    const merged = new Map<string, number>();
    for (const r of this.queues.get(conv.queueId)?.requiredSkills ?? []) merged.set(r.skill, r.minLevel);
    for (const r of conv.requiredSkills) merged.set(r.skill, Math.max(merged.get(r.skill) ?? 0, r.minLevel));
    return [...merged].map(([skill, minLevel]) => ({ skill, minLevel }));
  }

  private event(e: EngineEvent): void {
    switch (e.type) {
      case 'offered': {
        const c = this.conv(e.conversationId);
        if (!c) return;
        this.checkDecision(c, e.agentId, 'offer', true, c.offers.has(e.agentId));
        if (c.state === 'assigned')
          this.fail('owner', `${c.id} offered to ${e.agentId} while owned by ${c.owner}`);
        this.served(c, e.agentId);
        c.offers.add(e.agentId);
        c.offerExpiresAt = e.expiresAt;
        if (c.state === 'waiting') c.state = 'offered';
        break;
      }
      case 'assigned': {
        const c = this.conv(e.conversationId);
        if (!c) return;
        const automatic = AUTOMATIC_RULES.has(e.explanation.rule);
        this.checkDecision(c, e.agentId, 'assignment', automatic, c.offers.has(e.agentId));
        if (c.owner !== null && c.state === 'assigned') {
          this.fail(
            'owner',
            `${c.id} assigned to ${e.agentId} while already owned by ${c.owner} (two owners)`,
          );
        }
        this.served(c, e.agentId);
        c.offers.delete(e.agentId);
        c.owner = e.agentId;
        c.state = 'assigned';
        break;
      }
      case 'offer_rescinded': {
        this.conv(e.conversationId)?.offers.delete(e.agentId);
        this.settle(e.conversationId);
        break;
      }
      case 'offer_missed': {
        const c = this.conv(e.conversationId);
        if (!c) return;
        c.offers.delete(e.agentId);
        c.missedBy.set(e.agentId, e.reason === 'timeout' ? c.offerExpiresAt : this.at);
        this.settle(e.conversationId);
        break;
      }
      case 'escalated': {
        const c = this.conv(e.conversationId);
        if (!c) return;
        this.checkDecision(c, e.agentId, 'escalation', false, false);
        const a = this.agents.get(e.agentId);
        if (a && (a.presence !== 'online' || a.inWrapUp)) {
          this.fail(
            'eligibility',
            `escalation of ${c.id} to ${e.agentId}, who is ${a.inWrapUp ? 'in wrap-up' : a.presence}`,
          );
        }
        c.helpers.add(e.agentId);
        break;
      }
      case 'transferred': {
        const c = this.conv(e.conversationId);
        if (!c) return;
        c.owner = null;
        c.helpers.clear();
        c.queueId = e.queueId;
        // A transfer is a fresh routing attempt in the target queue (engine design): earlier misses are
        // forgiven, but the agent who transferred it to a queue is passed over like one who missed it.
        c.missedBy.clear();
        if (e.toAgentId === null && e.fromAgentId !== null) c.missedBy.set(e.fromAgentId, this.at);
        // Overflow restarts in the target queue.
        c.step = 0;
        this.deriveOverflow(c);
        c.state = c.offers.size > 0 ? 'offered' : 'waiting';
        c.waitingSince = this.at;
        break;
      }
      case 'conversation_ended':
      case 'abandoned': {
        const c = this.conv(e.conversationId);
        if (!c) return;
        c.state = 'done';
        c.owner = null;
        c.helpers.clear();
        break;
      }
      case 'overflowed': {
        const c = this.conv(e.conversationId);
        if (!c) return;
        c.step = e.step + 1;
        this.deriveOverflow(c);
        // Routed again: a conversation that waits on has its re-check moved.
        c.waitingSince = this.at;
        break;
      }
      case 'wrap_up_started': {
        const a = this.agents.get(e.agentId);
        if (a) a.inWrapUp = true;
        break;
      }
      case 'wrap_up_ended': {
        const a = this.agents.get(e.agentId);
        if (a) a.inWrapUp = false;
        break;
      }
      case 'presence_changed': {
        const a = this.agents.get(e.agentId);
        if (a) a.presence = e.presence;
        break;
      }
      default:
        break;
    }
  }

  private checkDecision(
    c: ModelConversation,
    agentId: string,
    what: string,
    fullEligibility: boolean,
    alreadyCounted: boolean,
  ): void {
    const load = this.load(agentId, c.channel) + (alreadyCounted ? 0 : 1);
    const cap = this.capacity(agentId, c.channel);
    if (load > cap) {
      this.fail(
        'capacity',
        `${what} of ${c.id} to ${agentId} puts ${c.channel} load at ${load} > capacity ${cap}`,
      );
    }
    if (fullEligibility && !alreadyCounted) {
      const why = this.eligible(agentId, c, true);
      if (why)
        this.fail(
          'eligibility',
          `${what} of ${c.id} (queue ${c.queueId}) to ineligible agent ${agentId}: ${why}`,
        );
    }
  }

  /** First offer/assignment of `c` (to `agentId`): no earlier equal-priority arrival may still be waiting. */
  private served(c: ModelConversation, agentId: string): void {
    if (c.firstServed) return;
    c.firstServed = true;
    if (!this.options.checkArrivalOrder) return;
    for (const o of this.conversations.values()) {
      if (o.queueId === c.queueId && o.priority === c.priority && o.arrival < c.arrival) {
        // An agent who missed the earlier one is not equivalent for it any more.
        if (!o.firstServed && o.state === 'waiting' && !o.missedBy.has(agentId)) {
          this.fail(
            'arrival_order',
            `${c.id} served before ${o.id}, which arrived earlier in ${c.queueId} at the same priority`,
          );
        }
      }
    }
  }

  private settle(id: string): void {
    const c = this.conversations.get(id);
    if (c && c.state === 'offered' && c.offers.size === 0) {
      c.state = 'waiting';
      c.waitingSince = this.at;
    }
  }

  private conv(id: string): ModelConversation | undefined {
    const c = this.conversations.get(id);
    if (!c) this.fail('consistency', `event names conversation ${id} that was never enqueued`);
    return c;
  }

  /** Violations of one kind, as readable sentences. */
  of(kind: ViolationKind): string[] {
    return this.violations.filter((v) => v.kind === kind).map((v) => v.message);
  }

  private fail(kind: ViolationKind, msg: string): void {
    this.violations.push({ kind, message: `[${this.current}] ${msg}` });
  }
}

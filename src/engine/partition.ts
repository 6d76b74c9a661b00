/**
 * The routing core of one partition: state, incremental indexes and the two matching directions.
 *
 * - Conversation side (`route`): customer rules, then the lane's pool heap → O(log agents).
 * - Agent side (`serveAgent`): for each lane the agent serves, the heads of ≤ 11 priority-level heaps →
 *   O(lanes served × (11 + log waiting)).
 * Nothing here scans all agents or all conversations per decision. Two bounded lazy searches exist:
 * conversations with ad-hoc skills or excluded agents are matched by a best-first walk of at most
 * `SEARCH_LIMIT` heap entries (so such a conversation may wait while a matching agent exists deeper than
 * that in the pool; it is retried whenever agents change), and customer rules look at ≤ 3 agents.
 */

import type { LinePlace } from './api.js';
import { CustomerBook, DEFAULT_CUSTOMER_LIMIT } from './customers.js';
import { IndexedHeap } from './heap.js';
import { HoursCache } from './hours.js';
import { ReplyMemo } from './memo.js';
import {
  Agent,
  AgentSlab,
  CHANNEL_INDEX,
  type Clause,
  Conv,
  compareText,
  Lane,
  laneOf,
  levelRanks,
  Member,
  NO_PENDING,
  NO_QORD,
  NONE,
  PRIORITY_LEVELS,
  Queue,
  skillGroups,
  small,
} from './model.js';
import { CUSTOMER_RULES, canWaitFor, type RuleContext } from './rules/index.js';
import { STRATEGIES } from './strategies/index.js';
import { SEARCH_LIMIT } from './strategies/strategy.js';
import { StringTable } from './string-table.js';
import type {
  AgentConfig,
  ConversationView,
  CustomerConfig,
  EngineEvent,
  Explanation,
  OverflowAction,
  QueueConfig,
  RoutingConfig,
  SkillRequirement,
} from './types.js';
import { BUCKETS, F } from './window.js';

export { SEARCH_LIMIT };
/**
 * How far past a boundary the service level must climb before a breached or at-risk queue is told it
 * improved (one percentage point): without it a queue hovering at the boundary alerts with every answer.
 */
export const SLA_HYSTERESIS = 0.01;
/**
 * The waiting count at or below which a queue over its maximum size is back within it
 * (`queue_capacity_recovered`): max − max(1, ⌈5 % of max⌉), a hysteresis band like `SLA_HYSTERESIS`.
 */
export function capacityRecoveredAt(maxSize: number): number {
  return maxSize - Math.max(1, Math.ceil(maxSize * 0.05));
}
/** How often a waiting conversation's position/estimate is re-checked for a material change. */
export const NOTICE_RECHECK_MS = 30_000;
/**
 * Handle time (talk + wrap-up) assumed for wait estimates before a queue has handled anything in its
 * window.
 */
export const DEFAULT_AHT_MS = 300_000;
/** Offer timeout for `broadcast` queues configured with `offerTimeoutSeconds: 0` (broadcast always offers). */
export const BROADCAST_DEFAULT_TIMEOUT_S = 30;

export const DEFAULT_ROUTING: RoutingConfig = {
  maxMissedOffers: 3,
  agingPerMinute: 1,
  slaDrivenPriority: false,
  queueRules: [],
  slaAtRiskMargin: 0.05,
};

/**
 * "Material" change of a queued notice: the position moved by at least max(1, 20 % of the last one), or
 * the estimate moved by at least max(30 s, 25 % of the last one). Checked every `NOTICE_RECHECK_MS`.
 */
export function materialChange(oldPos: number, pos: number, oldEst: number, est: number): boolean {
  if (Math.abs(pos - oldPos) >= Math.max(1, Math.ceil(oldPos * 0.2))) return true;
  return Math.abs(est - oldEst) >= Math.max(30_000, oldEst * 0.25);
}

/** `Conv.lastNotice`: what a waiting customer was last told (kept in the snapshot's conversation flags). */
export const NOTICE_QUEUED = 0;
export const NOTICE_OVER_CAPACITY = 1;
export const NOTICE_OUTSIDE_HOURS = 2;

export type ConvRouteStatus = 'assigned' | 'offered' | 'queued' | 'over_capacity' | 'outside_hours';

export class Partition implements RuleContext {
  now = 0;
  /**
   * The time of the command being applied (its envelope's `at`, or `now` if later). `now` lags it while a
   * tick fires timers that fell due before it, each at its due time (so they keep their order); what
   * happens at a desk because of them happens now, though: an offer made then rings from this time (see
   * `offer`). Not state: set by every command before anything reads it.
   */
  clockAt = 0;
  agentSeq = 0;
  convSeq = 0;
  config: RoutingConfig = DEFAULT_ROUTING;
  readonly agents = new Map<string, Agent>();
  /** Agents by tier, for escalation to a tier (a handful of tiers; senior tiers hold few agents). */
  readonly byTier = new Map<number, Set<Agent>>();
  /** Agents' hot numbers: times, seats, loads (see `AgentSlab`). */
  readonly agentSlab = new AgentSlab();
  readonly queues = new Map<string, Queue>();
  readonly customers: CustomerBook;
  readonly convs: StringTable<Conv>;
  /** Recently closed or abandoned conversations, oldest first (restored ones as views). */
  recent: ReplyMemo<Conv | ConversationView>;

  /** `hashSeed`: see `hashString` (the tables' layout only, never a decision). */
  constructor(
    readonly hashSeed = 0,
    recentLimit = 10_000,
  ) {
    this.customers = new CustomerBook(DEFAULT_CUSTOMER_LIMIT, hashSeed);
    this.convs = new StringTable<Conv>(1024, hashSeed);
    this.recent = new ReplyMemo(recentLimit, hashSeed);
  }
  /** Agents per skill (for lint). */
  readonly skillHolders = new Map<string, number>();
  readonly hours = new Map<string, HoursCache>();
  /**
   * Conversations by next timer (offer expiry, overflow, reservation end). The time is kept only in the
   * heap's key array (`timers.topK1()`): `reschedule` passes it through `timerKey` when it files a
   * conversation.
   */
  private timerKey = 0;
  readonly timers = new IndexedHeap<Conv>(
    { k1: () => this.timerKey, k2: (c) => c.seq, tie: (c) => c.seq },
    (c) => c.tpos,
    (c, i) => {
      c.tpos = i;
    },
  );
  /** Agents in wrap-up by end time. */
  readonly wraps = new IndexedHeap<Agent>(
    { k1: (a) => a.wrapUntil, k2: (a) => a.seq, tie: (a) => a.seq },
    (a) => a.wrapPos,
    (a, i) => {
      a.wrapPos = i;
    },
  );
  /**
   * Notice re-checks: a FIFO of (conversation, time) instead of heap entries, since every waiting
   * conversation has one and they are scheduled in time order. Entries whose conversation moved on, or
   * was rescheduled, are skipped when they reach the head.
   */
  noticeConvs: Conv[] = [];
  noticeTimes: number[] = [];
  noticeHead = 0;
  /** Earliest time a service-level window drops a bucket (null = none). */
  slaNextAt: number | null = null;
  /** Output buffer of the command being applied. */
  events: EngineEvent[] = [];
  /** Read-only stand-in for customers without a record (rules only read it). */
  private readonly blankCustomer: CustomerConfig = { id: '', valueTier: 'standard', previousAgents: NONE };
  /** Status of the last `route` (for the enqueue reply). */
  lastStatus: ConvRouteStatus = 'queued';
  lastNextOpenAt: number | null = null;

  /**
   * Agent and queue ids in code-unit order (`compareText`), for the listings' pages: a page starts by a
   * binary search for the last id of the one before. Sorted when a listing first needs them after an
   * agent or queue came or went (`idsChanged`), then reused by every page and poll until the next such
   * change. Derived from `agents` / `queues` and never read by a decision: no part of the snapshot or
   * the digest, and the insertion order the decisions iterate in is untouched.
   */
  private agentOrder: string[] | null = null;
  private queueOrder: string[] | null = null;

  agentIdsInOrder(): readonly string[] {
    this.agentOrder ??= [...this.agents.keys()].sort(compareText);
    return this.agentOrder;
  }

  queueIdsInOrder(): readonly string[] {
    this.queueOrder ??= [...this.queues.keys()].sort(compareText);
    return this.queueOrder;
  }

  /** An agent or queue was added or removed: the next listing sorts the ids again. */
  idsChanged(): void {
    this.agentOrder = null;
    this.queueOrder = null;
  }

  // ---------------------------------------------------------------- RuleContext

  agent(id: string): Agent | undefined {
    return this.agents.get(id);
  }

  eligibleMember(agent: Agent, lane: Lane, conv: Conv): Member | null {
    if (!agent.available(lane.ch)) return null;
    const m = agent.memberOf(lane);
    if (!m) return null;
    return fits(agent, conv) ? m : null;
  }

  firstMember(lane: Lane, conv: Conv, extra: (m: Member) => boolean): Member | null {
    return lane.pool.findFirst((m) => extra(m) && fits(m.agent, conv), SEARCH_LIMIT) ?? null;
  }

  // ---------------------------------------------------------------- agents & lanes

  addAgent(cfg: AgentConfig): Agent {
    const a = new Agent(cfg, ++this.agentSeq, this.now, this.agentSlab);
    this.agents.set(cfg.id, a);
    this.idsChanged();
    this.indexTier(a, true);
    this.countSkills(a, 1);
    for (const q of this.queues.values())
      for (const lane of q.lanes) if (lane.admits(a)) this.addMember(a, lane);
    return a;
  }

  /** Applies a new configuration to an existing agent: memberships, pools, staffing. */
  reconfigureAgent(a: Agent, cfg: AgentConfig): void {
    a.accrue(this.now);
    this.countSkills(a, -1);
    this.indexTier(a, false);
    this.detachOnline(a);
    a.setConfig(cfg);
    this.indexTier(a, true);
    this.countSkills(a, 1);
    for (const q of this.queues.values()) {
      for (const lane of q.lanes) {
        const m = a.memberOf(lane);
        const admit = lane.admits(a);
        if (admit && !m) this.addMember(a, lane, false);
        else if (!admit && m) this.removeMember(m, false);
        else if (m) m.score = lane.skillScore(a);
      }
    }
    this.attachOnline(a);
    this.refreshAgent(a);
  }

  indexTier(a: Agent, add: boolean): void {
    const t = a.cfg.tier;
    let set = this.byTier.get(t);
    if (add) {
      if (!set) {
        set = new Set();
        this.byTier.set(t, set);
      }
      set.add(a);
    } else if (set) {
      set.delete(a);
      if (set.size === 0) this.byTier.delete(t);
    }
  }

  /** Holders per skill and per skill group (a sub-skill counts for its groups, as in `Agent.level`). */
  countSkills(a: Agent, d: number): void {
    for (const s of a.cfg.skills) {
      for (const name of [s.skill, ...skillGroups(s.skill)]) {
        const n = (this.skillHolders.get(name) ?? 0) + d;
        if (n === 0) this.skillHolders.delete(name);
        else this.skillHolders.set(name, n);
      }
    }
  }

  /** `countOnline: false` while the agent's staffing contribution is detached (reconfiguration). */
  addMember(a: Agent, lane: Lane, countOnline = true): Member {
    const m = new Member(a, lane);
    m.lid = lane.allocLid();
    m.score = lane.skillScore(a);
    lane.members.add(m);
    // Fresh arrays of the exact length (`concat`; push and spread reserve ~16 more slots): memberships
    // change only with configuration, and 10⁵ agents would each carry ~250 unused bytes.
    a.members = a.members.concat([m]);
    a.memberIndex = a.memberIndex.concat([lane, m.lid]);
    if (countOnline && a.presence === 'online') {
      const cap = a.capOn(lane.ch);
      if (cap > 0) lane.online++;
      lane.onlineCapacity += cap;
    }
    if (a.available(lane.ch)) lane.pool.push(m);
    return m;
  }

  removeMember(m: Member, countOnline = true): void {
    const { lane, agent } = m;
    lane.pool.remove(m);
    lane.freeLid(m.lid);
    lane.members.delete(m);
    const i = agent.members.indexOf(m);
    if (i >= 0) {
      agent.members = agent.members.slice(0, i).concat(agent.members.slice(i + 1));
      agent.memberIndex = agent.memberIndex.slice(0, 2 * i).concat(agent.memberIndex.slice(2 * i + 2));
    }
    if (countOnline && agent.presence === 'online') {
      const cap = agent.capOn(lane.ch);
      if (cap > 0) lane.online--;
      lane.onlineCapacity -= cap;
    }
  }

  detachOnline(a: Agent): void {
    if (a.presence !== 'online') return;
    for (const m of a.members) {
      const cap = a.capOn(m.lane.ch);
      if (cap > 0) m.lane.online--;
      m.lane.onlineCapacity -= cap;
    }
  }

  attachOnline(a: Agent): void {
    if (a.presence !== 'online') return;
    for (const m of a.members) {
      const cap = a.capOn(m.lane.ch);
      if (cap > 0) m.lane.online++;
      m.lane.onlineCapacity += cap;
    }
  }

  /**
   * Re-files the agent in every pool it belongs to after its load, idle time or presence changed. Taking
   * a saturated agent out needs only the lane-local ids (`memberIndex`); the Member objects are read only
   * where the pool needs their keys.
   */
  refreshAgent(a: Agent): void {
    const mi = a.memberIndex;
    for (let i = 0; i < mi.length; i += 2) {
      const lane = mi[i] as Lane;
      const pool = lane.pool;
      if (a.available(lane.ch)) {
        const m = a.members[i >> 1]!;
        if (pool.has(m)) pool.update(m);
        else pool.push(m);
      } else pool.removeId(mi[i + 1] as number);
    }
  }

  // ---------------------------------------------------------------- queues & lanes

  /** Builds the lanes of a queue: lane 0 = base requirements, lane k = after overflow steps 1..k. */
  buildLanes(q: Queue): void {
    const cfg = q.cfg;
    let reqs = cfg.requiredSkills.map((r) => ({ skill: r.skill, minLevel: r.minLevel }));
    let minTier = 0;
    const widened: Clause[] = [];
    let relaxed: string[] = [];
    const lanes: Lane[] = [new Lane(q, 0, [{ scope: cfg.id, reqs, minTier }], q.ch, [], q.strategy)];
    cfg.overflow.forEach((step, i) => {
      const a = step.action;
      if (a.kind === 'relax_skills') reqs = relaxReqs(reqs, a.by);
      else if (a.kind === 'drop_skills') reqs = reqs.filter((r) => !a.skills.includes(r.skill));
      else if (a.kind === 'widen_to_queue') {
        const t = this.queues.get(a.queueId);
        if (t) widened.push({ scope: t.id, reqs: t.cfg.requiredSkills, minTier: 0 });
      } else minTier = Math.max(minTier, a.tier);
      relaxed = [...relaxed, actionLabel(a)];
      const clauses: Clause[] = [{ scope: cfg.id, reqs, minTier }];
      for (const w of widened) clauses.push({ scope: w.scope, reqs: w.reqs, minTier });
      lanes.push(new Lane(q, i + 1, clauses, q.ch, relaxed, q.strategy));
    });
    q.lanes = lanes;
    for (const a of this.agents.values())
      for (const lane of lanes) if (lane.admits(a)) this.addMember(a, lane);
  }

  /** Removes a queue's lanes from every agent; returns the conversations that were waiting in them. */
  teardownLanes(q: Queue): Conv[] {
    const waiting: Conv[] = [];
    for (const lane of q.lanes) {
      for (const h of lane.levels) if (h) for (const c of h.all()) waiting.push(c);
      for (const m of [...lane.members]) this.removeMember(m);
    }
    for (const c of waiting) this.removeWaiting(c);
    waiting.sort((a, b) => a.seq - b.seq);
    return waiting;
  }

  // ---------------------------------------------------------------- waiting structures

  insertWaiting(c: Conv, lane: Lane): void {
    const q = lane.queue;
    const p = c.priority;
    c.lane = lane;
    c.status = 'waiting';
    // A conversation new to the line is numbered at the back, unless it keeps an age that puts it ahead
    // of everyone waiting at its level (an offer it never waited for was rejected): then it is numbered
    // below the front. One that already had a place (overflow, a rebuilt queue, a missed offer after
    // waiting) takes it back.
    const ranks = levelRanks(q, p);
    if (c.qord === NO_QORD) {
      c.qord = this.aheadOfLevel(q, p, c) ? ranks.min() - 1 : q.levelArrivals[p]!++;
    }
    ranks.add(c.qord);
    lane.level(p).push(c);
    lane.levelMask |= 1 << p;
    lane.waiting++;
    q.waiting++;
    q.levelCount[p]!++;
  }

  /** Whether `c` is ahead of every conversation waiting at level `p` of `q` (some are): O(lanes). */
  private aheadOfLevel(q: Queue, p: number, c: Conv): boolean {
    if (q.levelCount[p] === 0) return false;
    for (const lane of q.lanes) {
      const h = lane.levels[p];
      if (!h || h.size === 0) continue;
      h.peek();
      if (h.frontAt < c.enqueuedAt || (h.frontAt === c.enqueuedAt && h.frontSeq < c.seq)) return false;
    }
    return true;
  }

  removeWaiting(c: Conv): void {
    const lane = c.lane;
    if (!lane) return;
    const q = lane.queue;
    const p = c.priority;
    const h = lane.levels[p]!;
    h.remove(c);
    if (h.size === 0) lane.levelMask &= ~(1 << p);
    lane.waiting--;
    q.waiting--;
    q.levelCount[p]!--;
    q.levelRanks[p]!.remove(c.qord);
    c.lane = null;
  }

  /**
   * Effective priority for cross-queue ordering of a conversation of priority `p` in `q` waiting since
   * `at`: queue priority dominates, waiting raises it (aging), optionally SLA urgency.
   */
  effective(q: Queue, p: number, at: number): number {
    const wait = this.now - at;
    let e = q.cfg.priority * PRIORITY_LEVELS + p + (this.config.agingPerMinute * wait) / 60_000;
    if (this.config.slaDrivenPriority) {
      e += 10 * Math.min(1, wait / (q.cfg.serviceLevel.thresholdSeconds * 1000));
    }
    return e;
  }

  /**
   * Key of the last `bestWaiting` / `bestRing` result (effective priority, enqueuedAt, seq), meaningful
   * when it found one.
   */
  bwE = 0;
  bwAt = 0;
  bwSeq = 0;

  /**
   * Leaves a key in bwE/bwAt/bwSeq. `bestWaiting` (the hot path) keeps its running best in locals and
   * leaves it once; `bestRing` keeps its running best here.
   */
  private keepKey(e: number, at: number, seq: number): void {
    this.bwE = e;
    this.bwAt = at;
    this.bwSeq = seq;
  }

  /**
   * Best waiting conversation of `lane` that `agent` may take; its key is left in bwE/bwAt/bwSeq. Heads
   * are compared by their keys only, so only the winner's record is read (plus any constrained ones).
   */
  bestWaiting(lane: Lane, agent: Agent): Conv | null {
    let best: Conv | null = null;
    let bestE = 0;
    let bestAt = 0;
    let bestSeq = 0;
    const q = lane.queue;
    const mask = lane.levelMask;
    for (let p = PRIORITY_LEVELS - 1; p >= 0; p--) {
      if ((mask & (1 << p)) === 0) continue;
      const h = lane.levels[p]!;
      let c = h.peek()!;
      let at = h.frontAt;
      let seq = h.frontSeq;
      if (h.constrained > 0 && !fits(agent, c)) {
        const found = h.findFirst((x) => fits(agent, x), SEARCH_LIMIT);
        if (!found) continue;
        c = found;
        at = c.enqueuedAt;
        seq = c.seq;
      }
      const e = this.effective(q, p, at);
      if (best === null || outranks(e, at, seq, bestE, bestAt, bestSeq)) {
        best = c;
        bestE = e;
        bestAt = at;
        bestSeq = seq;
      }
    }
    this.keepKey(bestE, bestAt, bestSeq);
    return best;
  }

  // ---------------------------------------------------------------- timers

  overflowDue(c: Conv): number {
    const step = c.queue.cfg.overflow[c.step];
    return step ? c.enqueuedAt + step.afterSeconds * 1000 : Number.POSITIVE_INFINITY;
  }

  reschedule(c: Conv): void {
    let t = Number.POSITIVE_INFINITY;
    if (c.status === 'offered') t = c.offerExpiresAt;
    else if (c.status === 'waiting') {
      // A reserved conversation is outside its lane: overflow waits until the reservation ends.
      t = c.reservedFor !== null ? c.reservedUntil : this.overflowDue(c);
    }
    if (t === Number.POSITIVE_INFINITY) {
      if (c.tpos >= 0) this.timers.remove(c);
      return;
    }
    this.timerKey = t;
    if (c.tpos >= 0) this.timers.update(c);
    else this.timers.push(c);
  }

  /** Schedules the next notice re-check; the FIFO stays time-ordered because `now` never decreases. */
  scheduleNotice(c: Conv): void {
    c.noticeAt = this.now + NOTICE_RECHECK_MS;
    this.noticeConvs.push(c);
    this.noticeTimes.push(c.noticeAt);
  }

  /** Time of the earliest live notice re-check (drops stale entries at the head). */
  nextNoticeAt(): number {
    const convs = this.noticeConvs;
    const times = this.noticeTimes;
    let h = this.noticeHead;
    while (h < convs.length && (convs[h]!.status !== 'waiting' || convs[h]!.noticeAt !== times[h])) {
      convs[h] = DEAD;
      h++;
    }
    if (h > 4096 && h * 2 > convs.length) {
      this.noticeConvs = convs.slice(h);
      this.noticeTimes = times.slice(h);
      h = 0;
    }
    this.noticeHead = h;
    return h < this.noticeConvs.length ? this.noticeTimes[h]! : Number.POSITIVE_INFINITY;
  }

  /** Removes and returns the live re-checks due exactly at `t`, in arrival order (seq). */
  takeNoticesAt(t: number): Conv[] {
    const out: Conv[] = [];
    while (this.nextNoticeAt() === t) {
      out.push(this.noticeConvs[this.noticeHead]!);
      this.noticeConvs[this.noticeHead] = DEAD;
      this.noticeHead++;
    }
    return out.sort((a, b) => a.seq - b.seq);
  }

  setWrap(a: Agent, until: number): void {
    a.wrapUntil = until;
    if (a.wrapPos >= 0) this.wraps.update(a);
    else this.wraps.push(a);
  }

  // ---------------------------------------------------------------- routing: conversation side

  /**
   * Routes a conversation that is not offered/assigned and not in any lane: customer rules (first
   * contact only), then the strategy, else it waits in its lane with a notice.
   */
  route(c: Conv, withRules: boolean, initialNotice: boolean, known?: CustomerConfig): ConvRouteStatus {
    if (this.deliverNow(c, withRules, initialNotice, known)) return this.lastStatus;
    this.park(c, initialNotice);
    return this.lastStatus;
  }

  /** The waiting half of `route`: into its lane's line, with a notice. */
  park(c: Conv, initialNotice: boolean): void {
    this.insertWaiting(c, laneOf(c));
    this.notice(c, initialNotice);
  }

  /**
   * The first half of `route`: customer rules, then the strategy. True when the conversation was
   * delivered or held for an agent; false when it must wait (it is then in no line yet: `park` it).
   */
  deliverNow(c: Conv, withRules: boolean, initialNotice: boolean, known?: CustomerConfig): boolean {
    this.catchUpOverflow(c);
    // The queue may have been reconfigured since the conversation's requirements were last derived.
    this.setAdHoc(c);
    const q = c.queue;
    const lane = laneOf(c);
    // A manual queue does nothing automatic, customer rules included: a supervisor assigns.
    if (withRules && q.strategy.automatic) {
      // A customer without a record has no history: the rules see a blank one.
      let customer = known ?? this.customers.lookup(c.customerId);
      if (!customer) {
        customer = this.blankCustomer;
        customer.id = c.customerId;
      }
      for (const rule of CUSTOMER_RULES) {
        const d = rule(this, c, customer, lane);
        if (!d) continue;
        if (d.kind === 'deliver') {
          // With the member, so a round-robin turn is used up like a strategy pick's (equal share).
          this.deliverOne(c, d.agent, d.member, this.explain(c, lane, d.rule, 1));
          return true;
        }
        this.reserve(c, d.agent, d.untilMs, d.rule, initialNotice);
        return true;
      }
    }
    if (q.strategy.automatic && lane.pool.size > 0) {
      const width = q.strategy.width(q.cfg);
      // Every available member of the lane qualifies for an unconstrained conversation. A constrained one
      // counts those its bounded walk met that qualify: fewer than the pool when it stopped early.
      const free = unconstrained(c);
      this.walkChecked = 0;
      this.walkQualified = 0;
      const eligible = free ? null : (x: Member) => this.countFit(x, c);
      if (width === 1) {
        let m: Member | undefined;
        if (eligible === null) m = lane.pool.peek()!;
        else
          m =
            c.adHoc !== null && q.strategy.pickAdHoc
              ? q.strategy.pickAdHoc(lane, c, eligible, SEARCH_LIMIT)
              : lane.pool.findFirst(eligible, SEARCH_LIMIT);
        if (m) {
          const n = free ? lane.pool.size : this.walkQualified;
          const truncated = !free && this.walkChecked < lane.pool.size;
          this.deliverOne(c, m.agent, m, this.explain(c, lane, 'strategy', n, m, truncated));
          return true;
        }
      } else {
        // An explicit width beyond the search bound is honoured: the walk must be able to meet that many.
        const ms = lane.pool.findTop(eligible ?? ALWAYS, width, Math.max(SEARCH_LIMIT, width));
        if (ms.length > 0) {
          const n = free ? lane.pool.size : this.walkQualified;
          const truncated = !free && this.walkChecked < lane.pool.size;
          this.deliver(
            c,
            ms.map((m) => m.agent),
            ms,
            this.explain(c, lane, 'strategy', n, null, truncated),
          );
          return true;
        }
      }
    }
    return false;
  }

  /** Members a constrained search of a pool looked at, and those of them that qualified (`countFit`). */
  walkChecked = 0;
  walkQualified = 0;

  /** `fits`, counted for the explanation's candidates. */
  countFit(x: Member, c: Conv): boolean {
    this.walkChecked++;
    if (!fits(x.agent, c)) return false;
    this.walkQualified++;
    return true;
  }

  /**
   * `m`: the member the strategy picked, for a strategy that explains its score (`explainPick`).
   * `truncated`: `candidates` is a lower bound, the search stopped before it had looked at every
   * available agent.
   */
  explain(
    c: Conv,
    lane: Lane,
    rule: Explanation['rule'],
    candidates: number,
    m: Member | null = null,
    truncated = false,
  ): Explanation {
    const e: Explanation = {
      rule,
      strategy: c.queue.cfg.strategy,
      queueId: c.queue.id,
      candidates,
      relaxed: lane.relaxed.length === 0 ? NONE : lane.relaxed.slice(),
      // Kept with the conversation: a small integer, not a boxed number (see `small`).
      waitedMs: small(Math.max(this.now, this.clockAt) - c.enqueuedAt),
    };
    if (truncated) e.candidatesTruncated = true;
    if (m !== null && rule === 'strategy') c.queue.strategy.explainPick?.(m, c, e);
    return e;
  }

  /**
   * The explanation of an offer accepted now. The offer's was written when it went out, but the customer
   * waited until the accept: `waitedMs` is the wait until now (as the queue's average wait counts it),
   * `offeredAfterMs` the wait until the offer went out. A fresh object: explanations are shared with
   * snapshots and events, never changed in place.
   */
  acceptedExplanation(c: Conv): Explanation {
    const pending = c.pending;
    if (pending === null) return this.explain(c, laneOf(c), 'strategy', 1);
    return { ...pending, waitedMs: small(this.now - c.enqueuedAt), offeredAfterMs: pending.waitedMs };
  }

  /** Applies overflow steps that are already due (e.g. while the conversation was being offered). */
  catchUpOverflow(c: Conv): void {
    while (this.overflowDue(c) <= this.now) this.applyStep(c);
  }

  applyStep(c: Conv): void {
    const q = c.queue;
    const step = q.cfg.overflow[c.step]!;
    this.events.push({
      type: 'overflowed',
      conversationId: c.id,
      queueId: q.id,
      step: c.step,
      action: step.action,
    });
    c.step++;
    this.setAdHoc(c);
  }

  /** Requirements of the request not already guaranteed by its lane (after the steps applied so far). */
  setAdHoc(c: Conv): void {
    c.adHoc = this.adHocOf(c);
  }

  /**
   * What `setAdHoc` would set, without setting it (a check that may still reject must change nothing);
   * `step`: at another overflow step than its own.
   */
  adHocOf(c: Conv, step = c.step): Conv['adHoc'] {
    if (c.requiredSkills.length === 0) return null;
    let reqs = c.requiredSkills;
    const steps = c.queue.cfg.overflow;
    for (let i = 0; i < step && i < steps.length; i++) {
      const a = steps[i]!.action;
      if (a.kind === 'relax_skills') reqs = relaxReqs(reqs, a.by);
      else if (a.kind === 'drop_skills') reqs = reqs.filter((r) => !a.skills.includes(r.skill));
    }
    // In a widened lane other queues' agents qualify through their own clause, so none of the
    // conversation's own requirements is implied any more.
    const lanes = c.queue.lanes;
    const lane = lanes[step < lanes.length ? step : lanes.length - 1]!;
    const base = lane.clauses.length === 1 ? lane.clauses[0]!.reqs : [];
    const extra = reqs.filter((r) => !base.some((b) => b.skill === r.skill && b.minLevel >= r.minLevel));
    return extra.length > 0 ? extra : null;
  }

  /**
   * The re-check of a waiting conversation that passes over agents (`Conv.excluded`): they are eligible
   * again, so it is routed afresh (to one of them if nobody else is free; else it waits, keeping its
   * place and age, and the re-check is scheduled as usual). This is what keeps a conversation that every
   * available agent missed from waiting forever beside them.
   */
  liftExclusions(c: Conv): void {
    this.removeWaiting(c);
    c.excluded = null;
    this.route(c, false, false);
  }

  reserve(c: Conv, agent: Agent, until: number, rule: Explanation['rule'], initialNotice: boolean): void {
    c.status = 'waiting';
    c.reservedFor = agent.id;
    c.reservedUntil = until;
    c.reservedRule = rule;
    agent.reserve(c);
    c.queue.held.push(c);
    this.notice(c, initialNotice);
  }

  unreserve(c: Conv): void {
    if (c.reservedFor === null) return;
    c.queue.held.remove(c);
    const a = this.agents.get(c.reservedFor);
    if (a) {
      const i = a.reserved.indexOf(c);
      if (i >= 0) a.reserved.splice(i, 1);
    }
    c.reservedFor = null;
    c.reservedUntil = 0;
    c.reservedRule = null;
  }

  /**
   * The conversations held for `a` that it could no longer take (`canWaitFor`): it went away (itself or
   * for missed offers), logged off or was removed, or lost the seats, skills or lane membership for them.
   * Left held they would wait out the budget for nobody: the caller routes them at once, with whatever
   * else the same change sends back to routing (`routeAgain`, `fileAgain`). In arrival order
   * (`Agent.reserved`, live and restored alike); the routing sorts them.
   */
  heldToRelease(a: Agent): readonly Conv[] {
    if (a.reserved.length === 0) return NO_CONVS;
    return a.reserved.filter((c) => !this.mayStayHeld(a, c));
  }

  /** `heldToRelease` for the conversations held in `q` (its lanes were rebuilt), by arrival. */
  heldToReleaseIn(q: Queue): readonly Conv[] {
    if (q.held.size === 0) return NO_CONVS;
    const gone = q.held.all().filter((c) => {
      const a = this.agents.get(c.reservedFor!);
      return !a || !this.mayStayHeld(a, c);
    });
    return gone.sort((x, y) => x.seq - y.seq);
  }

  private mayStayHeld(a: Agent, c: Conv): boolean {
    this.setAdHoc(c);
    return canWaitFor(a, laneOf(c), c);
  }

  /**
   * A conversation sent back to routing by a change (a withdrawn offer, a missed one, a released hold,
   * already let go: `letGo`) made ready for it: an offer with no desk left stops ringing. False when it is
   * not to be routed: a broadcast still ringing at other desks (the caller widens it or lets agents join
   * it), or one already delivered, waiting in a line or closed.
   */
  private takeBack(c: Conv): boolean {
    if (c.status === 'offered') {
      if (c.offers.length > 0) return false;
      this.unoffer(c);
      c.pending = null;
      return true;
    }
    return c.status === 'waiting' && c.lane === null;
  }

  /**
   * Routes again, together, the conversations one change sent back to routing (an agent's withdrawn
   * offers, the offer it missed, the customers held for it) in serving order: the best by effective
   * priority, then age, takes the first free agent who may have it, as an agent serving from the waiting
   * lines would pick (SPEC §3.4) — not in arrival order, which gave the only free agent to an older
   * low-priority conversation ahead of a newer high-priority one. A broadcast still ringing elsewhere
   * rings at the next desks instead. Those nobody can take go back to their places in line with their age,
   * filed youngest first: each is then ahead of those of its level who arrived after it and behind the
   * older ones (filed oldest first, a younger one would be numbered at the back behind later arrivals,
   * see `insertWaiting`). Free agents with waiting work of their own do not exist outside a
   * configuration change (they are served at once), so these compete only among themselves here; a
   * queue change, which admits new agents, files them with its line instead (`fileAgain`).
   */
  routeAgain(convs: readonly Conv[]): void {
    if (convs.length === 0) return;
    if (convs.length > 1) convs = [...new Set(convs)].sort((x, y) => this.servingOrder(x, y));
    this.letGo(convs);
    const left: Conv[] = [];
    for (const c of convs) {
      if (!this.takeBack(c)) {
        if (c.status === 'offered') this.widenRing(c);
        continue;
      }
      if (!this.deliverNow(c, false, false)) left.push(c);
    }
    for (let i = left.length - 1; i >= 0; i--) this.park(left[i]!, false);
  }

  /**
   * The queue-change half of `routeAgain`: the conversations sent back to routing are filed into their
   * lines (youngest first, as there: the reverse of serving order) without a notice, so that the caller's drain of the rebuilt queues'
   * agents serves them together with those already waiting, by effective priority then age; `noticeAgain`
   * then tells those still waiting. Returns those filed. A broadcast still ringing elsewhere stays in its
   * ring, which the drain's agents join as they would a waiting conversation.
   */
  fileAgain(convs: readonly Conv[]): readonly Conv[] {
    if (convs.length === 0) return NO_CONVS;
    convs = [...new Set(convs)].sort((x, y) => this.servingOrder(y, x));
    this.letGo(convs);
    const filed: Conv[] = [];
    for (const c of convs) {
      if (!this.takeBack(c)) continue;
      this.catchUpOverflow(c);
      this.setAdHoc(c);
      this.insertWaiting(c, laneOf(c));
      filed.push(c);
    }
    return filed;
  }

  /** The holds among `convs` are let go, all of them before any is routed. */
  private letGo(convs: readonly Conv[]): void {
    for (const c of convs) if (c.reservedFor !== null) this.unreserve(c);
  }

  /** After `fileAgain` and the drain: the notice of those still in line (as `park` gives). */
  noticeAgain(filed: readonly Conv[]): void {
    for (const c of filed) if (c.lane !== null) this.notice(c, false);
  }

  /** Offers or assigns according to the queue's offer timeout (broadcast always offers). */
  deliver(c: Conv, agents: Agent[], members: Member[] | null, expl: Explanation, refresh = true): void {
    const q = c.queue;
    if (q.cfg.offerTimeoutSeconds > 0 || q.cfg.strategy === 'broadcast') this.offer(c, agents, expl);
    else this.assign(c, agents[0]!, expl, false);
    if (members) for (const m of members) q.strategy.picked?.(m);
    if (refresh) for (const a of agents) this.refreshAgent(a);
  }

  /** `deliver` to one agent without allocating the one-element lists (the hot path of both directions). */
  deliverOne(c: Conv, a: Agent, m: Member | null, expl: Explanation, refresh = true): void {
    const q = c.queue;
    if (q.cfg.offerTimeoutSeconds > 0 || q.cfg.strategy === 'broadcast') this.offer(c, [a], expl);
    else this.assign(c, a, expl, false);
    if (m) q.strategy.picked?.(m);
    if (refresh) this.refreshAgent(a);
  }

  offer(c: Conv, agents: Agent[], expl: Explanation): void {
    const q = c.queue;
    c.status = 'offered';
    q.offered.push(c);
    this.checkCapacity(q);
    c.offers = agents.map((a) => a.id);
    // From when the desk rings: a tick late by more than the timeout (a restart, a stalled host) would
    // otherwise make an offer that expired before anyone saw it, a miss, and an agent set away for it.
    c.offerExpiresAt = Math.max(this.now, this.clockAt) + offerTimeoutMs(q);
    c.pending = expl;
    for (const a of agents) {
      a.accrue(this.now);
      a.addLoad(q.ch, 1);
      a.offers.push(c.id);
      this.events.push({
        type: 'offered',
        conversationId: c.id,
        agentId: a.id,
        queueId: q.id,
        expiresAt: c.offerExpiresAt,
      });
    }
    this.reschedule(c);
    this.fileRing(c);
    this.lastStatus = 'offered';
  }

  /**
   * A conversation that was being offered stops ringing (accepted, re-routed, taken by a supervisor,
   * cancelled, transferred): out of its queue's `offered` line, waiting until its next status is set.
   * Does nothing to a conversation that is not offered.
   */
  unoffer(c: Conv): void {
    if (c.status !== 'offered') return;
    c.queue.offered.remove(c);
    c.status = 'waiting';
    this.fileRing(c);
  }

  /** Makes `a` the conversation's agent. `fromOffer`: the load was already counted by the offer. */
  assign(c: Conv, a: Agent, expl: Explanation, fromOffer: boolean): void {
    const q = c.queue;
    this.unoffer(c);
    a.accrue(this.now);
    if (!fromOffer) a.addLoad(q.ch, 1);
    a.open++;
    a.lastAssignedAt = this.now;
    a.idleSince = this.now;
    c.status = 'assigned';
    c.agent = a;
    c.participants = NONE;
    c.offers = NONE;
    c.pending = null;
    c.assignedAt = this.now;
    c.explanation = expl;
    this.checkCapacity(q);
    this.customers.remember(c.customerId, a.id, c.customerEntry);
    if (!c.answered) {
      c.answered = true;
      // Until the command that answers it, which a late tick's timers run behind (`clockAt`): the
      // customer waited that long, and the service level judges that wait.
      const at = Math.max(this.now, this.clockAt);
      const wait = at - c.enqueuedAt;
      q.assigned++;
      this.addSample(q, F.answered, 1);
      this.addSample(q, F.waitSumMs, wait);
      if (this.serviceLevelWait(c, at) <= q.cfg.serviceLevel.thresholdSeconds * 1000)
        this.addSample(q, F.answeredInThreshold, 1);
      this.evaluateSla(q);
    }
    this.events.push({
      type: 'assigned',
      conversationId: c.id,
      agentId: a.id,
      agentName: a.displayName,
      queueId: q.id,
      expectedResponseMs: q.cfg.serviceLevel.thresholdSeconds * 1000,
      explanation: expl,
    });
    this.reschedule(c);
    this.lastStatus = 'assigned';
  }

  // ---------------------------------------------------------------- notices

  /**
   * 1 + the conversations of `c`'s queue's line served before it: those ahead at its own level (place
   * numbers), and at each other level those of higher effective priority (`servedBefore`). Without
   * aging or SLA-driven priority that is every conversation of a higher level and none of a lower one;
   * with them, an old low-priority conversation overtakes newer high-priority ones (it is served first,
   * `bestWaiting`), and its place says so. O(levels × lanes × log n); the levels that cannot hold an
   * overtaking conversation (fast paths) cost O(1).
   */
  position(c: Conv): number {
    if (c.reservedFor !== null) return 1;
    const q = c.queue;
    const p = c.priority;
    let ahead = 0;
    if (this.config.agingPerMinute === 0 && !this.config.slaDrivenPriority) {
      for (let k = p + 1; k < PRIORITY_LEVELS; k++) ahead += q.levelCount[k]!;
    } else {
      const cmp = this.cmp;
      cmp.q = q;
      cmp.at = c.enqueuedAt;
      cmp.seq = c.seq;
      cmp.e = this.effective(q, p, c.enqueuedAt);
      for (let k = 0; k < PRIORITY_LEVELS; k++) {
        if (k === p || q.levelCount[k] === 0) continue;
        cmp.k = k;
        ahead += this.countServedBefore(q, k, this.servedBefore);
      }
    }
    return 1 + ahead + q.levelRanks[p]!.below(c.qord);
  }

  /** The conversation `position` counts for (its queue, key and effective priority) and a level `k`. */
  private readonly cmp = { q: null as unknown as Queue, k: 0, e: 0, at: 0, seq: 0 };
  /**
   * Whether a conversation of level `cmp.k` that joined at `at` (then `seq`) is served before the one in
   * `cmp`: one function for every call (no closure per level on the notice path).
   */
  private readonly servedBefore = (at: number, seq: number): boolean => {
    const c = this.cmp;
    return outranks(this.effective(c.q, c.k, at), at, seq, c.e, c.at, c.seq);
  };

  /**
   * How many conversations of level `k` of `q` are served before a given one: `before` (true on a prefix
   * of each line's order, as effective priority falls with the age of a conversation of one level)
   * marks them. The count is by place numbers (`qord`) below the first of each lane's FIFO that is not
   * served before: exact while place numbers follow arrival order, which they do except for the rare
   * conversation re-filed in the middle of its level (see `insertWaiting`), counted by its number.
   */
  private countServedBefore(q: Queue, k: number, before: (at: number, seq: number) => boolean): number {
    let bound = Number.POSITIVE_INFINITY;
    for (const lane of q.lanes) {
      if ((lane.levelMask & (1 << k)) === 0) continue;
      const b = lane.levels[k]!.firstNotAheadQord(before);
      if (b < bound) bound = b;
    }
    return bound === Number.POSITIVE_INFINITY ? q.levelCount[k]! : q.levelRanks[k]!.below(bound);
  }

  averageHandleMs(q: Queue): number {
    const s = q.window.sums;
    return s[F.handled]! > 0 ? s[F.handleSumMs]! / s[F.handled]! : DEFAULT_AHT_MS;
  }

  /**
   * Estimated wait: position × recent average handle time (wrap-up included: the time until a seat comes
   * free) ÷ online capacity of the queue's agents, plus,
   * while the queue is closed, the time until it opens (a customer told the hours must not be promised
   * five minutes thirteen hours before opening). A queue that never opens again adds nothing.
   */
  estimate(c: Conv, pos: number): number {
    if (c.reservedFor !== null) return Math.max(0, c.reservedUntil - this.now);
    const q = c.queue;
    const staffing = Math.max(1, q.lanes[0]!.onlineCapacity);
    const est = Math.round((pos * this.averageHandleMs(q)) / staffing);
    const bh = q.cfg.businessHours;
    if (!bh) return est;
    const opens = this.hoursOf(q).nextOpenAt(bh, this.now);
    return opens === null ? est : Math.max(0, opens - this.now) + est;
  }

  /** Emits the waiting notice (initially always, later only when it changed materially). */
  notice(c: Conv, initial: boolean): void {
    const q = c.queue;
    const pos = this.position(c);
    const est = this.estimate(c, pos);
    this.scheduleNotice(c);
    this.reschedule(c);
    // The queue is over capacity whether or not it is open (a closed queue filling up is an alert too).
    this.checkCapacity(q);
    const bh = q.cfg.businessHours;
    if (bh && !this.hoursOf(q).isOpen(bh, this.now)) {
      this.lastStatus = 'outside_hours';
      this.lastNextOpenAt = this.hoursOf(q).nextOpenAt(bh, this.now);
      if (initial || c.lastNotice !== NOTICE_OUTSIDE_HOURS)
        this.events.push({
          type: 'outside_hours',
          conversationId: c.id,
          queueId: q.id,
          nextOpenAt: this.lastNextOpenAt,
          openingHours: bh,
        });
      c.lastNotice = NOTICE_OUTSIDE_HOURS;
      c.lastPosition = pos;
      c.lastEstimateMs = est;
      return;
    }
    const over = this.overCapacityAt(c, pos);
    this.lastStatus = over ? 'over_capacity' : 'queued';
    const status = over ? NOTICE_OVER_CAPACITY : NOTICE_QUEUED;
    if (!initial && c.lastNotice === status && !materialChange(c.lastPosition, pos, c.lastEstimateMs, est))
      return;
    c.lastNotice = status;
    c.lastPosition = pos;
    c.lastEstimateMs = est;
    this.events.push({
      type: over ? 'over_capacity' : 'queued',
      conversationId: c.id,
      queueId: q.id,
      position: pos,
      estimatedWaitMs: est,
    });
  }

  /**
   * Announces a change of the queue's over-capacity state: `queue_over_capacity` when more customers than
   * its maximum size wait (`Queue.waitingTotal`: held and ringing ones too), `queue_capacity_recovered`
   * when it is back within it by a margin (`capacityRecoveredAt`), or the maximum was lifted. Called where a customer joins (notice, offer)
   * or leaves for good (answer, cancel, transfer out) and after a configuration change — not in
   * `removeWaiting`, which also runs while a conversation is filed again (overflow, a rebuilt queue):
   * an uninterrupted condition is announced once. O(1).
   */
  checkCapacity(q: Queue): void {
    const max = q.cfg.maxSize;
    if (max === 0 && !q.overCapacity) return;
    const size = q.waitingTotal;
    // Recovery takes a margin below the maximum (`capacityRecoveredAt`): a line moving between the
    // maximum and one more would otherwise raise and clear the alert with every arrival and answer.
    const over = max > 0 && (q.overCapacity ? size > capacityRecoveredAt(max) : size > max);
    if (over === q.overCapacity) return;
    q.overCapacity = over;
    this.events.push({
      type: 'alert',
      alert: over ? 'queue_over_capacity' : 'queue_capacity_recovered',
      queueId: q.id,
      value: size,
    });
  }

  hoursOf(q: Queue): HoursCache {
    let h = this.hours.get(q.id);
    if (!h) {
      h = new HoursCache();
      this.hours.set(q.id, h);
    }
    return h;
  }

  // ---------------------------------------------------------------- routing: agent side

  /**
   * Gives a freed agent the best work it can take, repeatedly, until it has no free capacity left, then
   * re-files it in its pools once (not after every delivery: a saturated agent who frees one seat and
   * fills it again costs no pool operation at all).
   */
  serveAgent(a: Agent): void {
    this.fillAgent(a);
    if (!a.removed) this.refreshAgent(a);
  }

  private fillAgent(a: Agent): void {
    for (let guard = 0; guard < 10_000; guard++) {
      if (a.presence !== 'online' || a.wrapUntil !== 0 || a.removed) return;
      if (a.reserved.length > 0 && this.takeReserved(a)) continue;
      let best: Conv | null = null;
      let bestE = 0;
      let bestAt = 0;
      let bestSeq = 0;
      let bestK = -1;
      let bestRings = false;
      const mi = a.memberIndex;
      for (let k = 0; k < mi.length; k += 2) {
        const lane = mi[k] as Lane;
        if (
          (lane.waiting === 0 && lane.ringMask === 0) ||
          !a.available(lane.ch) ||
          !lane.queue.strategy.automatic
        )
          continue;
        // A broadcast still ringing with room for another desk competes with the waiting conversations
        // like one of them: the customer is waiting all the same, and joining is what broadcast promises.
        if (
          lane.ringMask !== 0 &&
          this.bestRing(lane, a) !== null &&
          (best === null || this.bwBeats(bestE, bestAt, bestSeq))
        ) {
          best = this.bwConv;
          bestE = this.bwE;
          bestAt = this.bwAt;
          bestSeq = this.bwSeq;
          bestK = k;
          bestRings = true;
        }
        if (lane.waiting === 0) continue;
        const c = this.bestWaiting(lane, a);
        if (!c) continue;
        const e = this.bwE;
        const at = this.bwAt;
        const seq = this.bwSeq;
        // Higher effective priority, then older, then earlier arrival.
        if (
          best === null ||
          e > bestE ||
          (e === bestE && (at < bestAt || (at === bestAt && seq < bestSeq)))
        ) {
          best = c;
          bestE = e;
          bestAt = at;
          bestSeq = seq;
          bestK = k;
          bestRings = false;
        }
      }
      if (!best) return;
      if (bestRings) {
        this.joinRing(best, [a]);
        continue;
      }
      if (this.overflowDue(best) <= this.now) {
        // An overflow step is due but no tick has fired it yet: apply it first (it may change who may
        // take the conversation), with this agent's pool slots current since route() reads the pools.
        this.refreshAgent(a);
        this.removeWaiting(best);
        this.route(best, false, false);
        continue;
      }
      const lane = mi[bestK] as Lane;
      const inPool = lane.pool.hasId(mi[bestK + 1] as number);
      // Candidates: for an unconstrained conversation every agent available in the lane, this one
      // included (its pool slot is refreshed later). A constrained one (skills of its own, agents who
      // missed it) was matched to this agent alone: the others were not looked at, so it says at least
      // this one. The Member is needed only by a strategy that records picks (round robin) or explains a
      // score.
      const strategy = lane.queue.strategy;
      const m = strategy.picked || strategy.explainPick ? a.members[bestK >> 1]! : null;
      const others = lane.pool.size - (inPool ? 1 : 0);
      const free = unconstrained(best);
      const expl = this.explain(best, lane, 'strategy', free ? others + 1 : 1, m, !free && others > 0);
      this.removeWaiting(best);
      this.deliverOne(best, a, m, expl, false);
    }
  }

  /** Conversation found by the last `bestRing`. */
  bwConv: Conv | null = null;

  /** Whether the key left by `bestWaiting`/`bestRing` beats (e, at, seq): higher, then older, then earlier. */
  private bwBeats(e: number, at: number, seq: number): boolean {
    return this.bwE > e || (this.bwE === e && (this.bwAt < at || (this.bwAt === at && this.bwSeq < seq)));
  }

  /**
   * Best broadcast of `lane` ringing with room that `agent` may join (not already ringing at its desk,
   * not missed by it, its own skills held); its key left in bwE/bwAt/bwSeq and itself in `bwConv`. A
   * bounded walk per level, as for constrained waiting conversations.
   */
  bestRing(lane: Lane, agent: Agent): Conv | null {
    let best: Conv | null = null;
    const q = lane.queue;
    const mask = lane.ringMask;
    // A ring expiring now is being missed by this tick: joining it would hand its desks a fresh timeout.
    const pred = (x: Conv) => x.offerExpiresAt > this.now && fits(agent, x) && !x.offers.includes(agent.id);
    for (let p = PRIORITY_LEVELS - 1; p >= 0; p--) {
      if ((mask & (1 << p)) === 0) continue;
      const c = lane.rings[p]!.findFirst(pred, SEARCH_LIMIT);
      if (!c) continue;
      const e = this.effective(q, p, c.enqueuedAt);
      if (best === null || outranks(e, c.enqueuedAt, c.seq, this.bwE, this.bwAt, this.bwSeq)) {
        best = c;
        this.keepKey(e, c.enqueuedAt, c.seq);
      }
    }
    this.bwConv = best;
    return best;
  }

  /**
   * Files a ringing conversation among its lane's broadcasts with room (`Lane.rings`), or takes it out,
   * after its offers changed: a strategy broadcast (a customer rule's offer is for that agent alone)
   * ringing at fewer desks than the width. O(log rings).
   */
  fileRing(c: Conv): void {
    const lane = laneOf(c);
    const p = c.priority;
    const q = c.queue;
    const n = c.offers.length;
    const room =
      c.status === 'offered' &&
      n > 0 &&
      n < q.strategy.width(q.cfg) &&
      c.pending !== null &&
      c.pending.rule === 'strategy';
    const h = lane.rings[p];
    if (room === (h?.has(c) === true)) return;
    if (room) {
      lane.ring(p).push(c);
      lane.ringMask |= 1 << p;
    } else {
      h!.remove(c);
      if (h!.size === 0) lane.ringMask &= ~(1 << p);
    }
  }

  /** Whether `c` rings with room for more desks. */
  hasRoom(c: Conv): boolean {
    const h = laneOf(c).rings[c.priority];
    return h?.has(c) === true;
  }

  /**
   * A broadcast that lost a desk (a reject, an agent gone) while others still ring: the next agents
   * available in its lane who may take it ring too, up to the width, as a conversation whose only offer
   * went away is routed to the next agent.
   */
  widenRing(c: Conv): void {
    if (!this.hasRoom(c) || c.offerExpiresAt <= this.now) return;
    const lane = laneOf(c);
    if (lane.pool.size === 0) return;
    const q = c.queue;
    const width = q.strategy.width(q.cfg);
    const ms = lane.pool.findTop(
      (m) => !c.offers.includes(m.agent.id) && fits(m.agent, c),
      width - c.offers.length,
      Math.max(SEARCH_LIMIT, width),
    );
    if (ms.length === 0) return;
    this.joinRing(
      c,
      ms.map((m) => m.agent),
    );
    for (const m of ms) this.refreshAgent(m.agent);
  }

  /**
   * Adds desks to a ringing broadcast. The ring starts its timeout afresh and the desks already ringing
   * are told the later expiry (another `offered`): a desk that joins late would otherwise have moments
   * to answer and be counted a miss for it. The explanation stays the one of the decision.
   */
  joinRing(c: Conv, agents: Agent[]): void {
    const q = c.queue;
    const expiresAt = Math.max(this.now, this.clockAt) + offerTimeoutMs(q);
    if (expiresAt !== c.offerExpiresAt) {
      c.offerExpiresAt = expiresAt;
      for (const id of c.offers)
        this.events.push({ type: 'offered', conversationId: c.id, agentId: id, queueId: q.id, expiresAt });
    }
    for (const a of agents) {
      a.accrue(this.now);
      a.addLoad(q.ch, 1);
      a.offers.push(c.id);
      c.offers.push(a.id);
      this.events.push({ type: 'offered', conversationId: c.id, agentId: a.id, queueId: q.id, expiresAt });
    }
    this.reschedule(c);
    this.fileRing(c);
  }

  /**
   * Whether `a` may go on ringing for `c` after a configuration change (its own, or its queue's): the
   * conversation's lane still admits it and it still holds the conversation's own skills. Its seats are
   * `offersBeyondReach`'s business.
   */
  mayKeepOffer(a: Agent, c: Conv): boolean {
    if (laneOf(c).admits(a) && (c.adHoc === null || a.satisfies(c.adHoc))) return true;
    // Overflow steps do not apply while a conversation rings; routed again it would first catch up those
    // due by now (`catchUpOverflow`). An agent that lane admits would be offered it again at once: keep
    // the offer ringing instead of withdrawing it and ringing the same desk with a fresh timeout.
    const steps = c.queue.cfg.overflow;
    let due = c.step;
    while (due < steps.length && c.enqueuedAt + steps[due]!.afterSeconds * 1000 <= this.now) due++;
    if (due === c.step) return false;
    const lanes = c.queue.lanes;
    const adHoc = this.adHocOf(c, due);
    return (
      lanes[due < lanes.length ? due : lanes.length - 1]!.admits(a) && (adHoc === null || a.satisfies(adHoc))
    );
  }

  /** Serving order of two conversations as a comparator: the one routing would serve first sorts first. */
  servingOrder(x: Conv, y: Conv): number {
    const ex = this.effective(x.queue, x.priority, x.enqueuedAt);
    const ey = this.effective(y.queue, y.priority, y.enqueuedAt);
    if (outranks(ex, x.enqueuedAt, x.seq, ey, y.enqueuedAt, y.seq)) return -1;
    if (outranks(ey, y.enqueuedAt, y.seq, ex, x.enqueuedAt, x.seq)) return 1;
    return 0;
  }

  /**
   * The offers `a` must give up after its configuration changed, in the order to withdraw them: first
   * those it may no longer take (`mayKeepOffer`, oldest first), then, per channel, as many as its load
   * (open conversations, offers and escalations, as counted everywhere) still exceeds its new seats there.
   * The others keep ringing as they were: same expiry, no new event (withdrawing all and routing them
   * again rang most of them at the same desk with a fresh timeout).
   *
   * Which ones go when seats shrink: the lowest in serving order (lowest effective priority, then the
   * newest arrival), i.e. those routing would have given this agent last. They go back to their places
   * in line with their age, and to another agent at once if one is free; the customers who matter most
   * or waited longest keep the desk already ringing for them. (The offers made last was the other
   * choice considered; it would let a low-priority offer outlive a higher-priority one made after it.)
   * Deterministic: it reads logical fields only, never the order of `a.offers`.
   */
  offersBeyondReach(a: Agent): Conv[] {
    if (a.offers.length === 0) return [];
    const out: Conv[] = [];
    const kept: Conv[] = [];
    for (const id of a.offers) {
      const c = this.convs.get(id)!;
      (this.mayKeepOffer(a, c) ? kept : out).push(c);
    }
    out.sort((x, y) => x.seq - y.seq);
    for (let ch = 0; ch < CHANNEL_COUNT; ch++) {
      let excess = a.loadOn(ch) - a.capOn(ch);
      if (excess <= 0) continue;
      for (const c of out) if (c.queue.ch === ch) excess--;
      if (excess <= 0) continue;
      const on = kept.filter((c) => c.queue.ch === ch).sort((x, y) => this.servingOrder(x, y));
      for (let i = on.length - 1; i >= 0 && excess > 0; i--, excess--) out.push(on[i]!);
    }
    return out;
  }

  /** Delivers the oldest conversation waiting for this agent (customer-rule wait budget), if it can. */
  takeReserved(a: Agent): boolean {
    for (const c of a.reserved) {
      this.setAdHoc(c);
      const lane = laneOf(c);
      const m = this.eligibleMember(a, lane, c);
      if (!m) continue;
      // A hold restored from a snapshot written before the rule was kept: the customer's record decides.
      const rule: Explanation['rule'] =
        c.reservedRule ??
        (this.customers.configured.get(c.customerId)?.dedicatedAgentId === a.id
          ? 'dedicated_agent'
          : 'previous_agent');
      this.unreserve(c);
      this.deliverOne(c, a, m, this.explain(c, lane, rule, 1), false);
      return true;
    }
    return false;
  }

  // ---------------------------------------------------------------- statistics

  /**
   * Adds a sample to `q`'s window, keeping `slaNextAt` exactly the earliest `nextExpiry()` of all windows
   * (it is not snapshotted: a restored engine recomputes it, and the timer loop's order and
   * `nextTimerAt` must not tell the two apart). The add moves the window to now first, which may drop
   * samples outside a tick (a command's time is not ticked to): when the oldest one dropped was the
   * earliest expiry, it is looked up again (O(queues), at most once per queue per bucket step, and only
   * for the queue holding the earliest expiry). The new sample's own expiry can only lower it. O(1)
   * otherwise.
   */
  addSample(q: Queue, field: number, v: number): void {
    const dropped = q.window.add(this.now, field, v);
    if (dropped !== null && (this.slaNextAt === null || dropped <= this.slaNextAt)) this.recomputeSlaNext();
    const exp = (q.window.head + BUCKETS) * q.window.bucketMs;
    if (this.slaNextAt === null || exp < this.slaNextAt) this.slaNextAt = exp;
  }

  /**
   * `ms` of handling by `a` in queue `q` ended now: one handled conversation (or transfer segment) for
   * the agent's average and for the queue's window (AHT). `q` null: a queue removed since.
   */
  recordHandled(a: Agent, q: Queue | null, ms: number): void {
    a.handled++;
    a.handleMsTotal = small(a.handleMsTotal + ms);
    if (q === null) return;
    this.addSample(q, F.handled, 1);
    this.addSample(q, F.handleSumMs, ms);
  }

  /**
   * The agent's wrap-up ended now: the conversations it followed count as handled, each with its own
   * after-contact work (`PendingHandle`). Standard AHT = talk + after-contact work.
   */
  endPendingHandles(a: Agent): void {
    const pending = a.pendingHandles;
    if (pending.length === 0) return;
    a.pendingHandles = NO_PENDING;
    for (const h of pending) {
      const q = h.queue !== null && this.queues.get(h.queue.id) === h.queue ? h.queue : null;
      this.recordHandled(a, q, h.talkMs + Math.min(this.now, h.until) - h.endedAt);
    }
  }

  recomputeSlaNext(): void {
    let next: number | null = null;
    for (const q of this.queues.values()) {
      const e = q.window.nextExpiry();
      if (e !== null && (next === null || e < next)) next = e;
    }
    this.slaNextAt = next;
  }

  /**
   * Answered within the threshold ÷ (answered + abandoned after the threshold + still waiting past it)
   * over the window; null with none of them.
   */
  serviceLevel(sums: number[], waitingPast: number): number | null {
    const denom = sums[F.answered]! + sums[F.abandonedAfterThreshold]! + waitingPast;
    return denom > 0 ? sums[F.answeredInThreshold]! / denom : null;
  }

  /**
   * Emits an alert when the queue's service level crosses into at-risk, breached, or back to ok. No
   * figure at all (nothing answered or lost late in the window, nobody waiting past the threshold) is
   * ok: a queue whose late answers left the window, or whose late customers were moved elsewhere, is
   * not still breached (`sla_recovered` with value 1, nothing being late).
   */
  evaluateSla(q: Queue): void {
    // The window as of now: a re-check due in the same millisecond as a bucket's expiry runs before the
    // tick advances the windows, and would judge samples that have just left (a spurious alert).
    const dropped = q.window.advanceTo(this.now);
    if (dropped !== null && (this.slaNextAt === null || dropped <= this.slaNextAt)) this.recomputeSlaNext();
    const sl = this.serviceLevel(
      q.window.sums,
      q.waitingPastThreshold(this.now, true, this.openSince(q, this.now)),
    );
    const target = q.cfg.serviceLevel.target;
    const margin = this.config.slaAtRiskMargin;
    // A state is left for a better one only once the level clears its boundary by SLA_HYSTERESIS: a
    // queue hovering at a boundary would otherwise raise and clear an alert with every answer. Both
    // boundaries are capped at 1, which a level cannot exceed: with a target at or near 100 % (the
    // SPEC's email queue) every answer in time is ok, not at risk forever.
    const from = q.slaState;
    const breachBelow = Math.min(1, target + (from === 'breached' ? SLA_HYSTERESIS : 0));
    const riskBelow = Math.min(1, target + margin + (from === 'ok' ? 0 : SLA_HYSTERESIS));
    const state: Queue['slaState'] =
      sl === null ? 'ok' : sl < breachBelow ? 'breached' : sl < riskBelow ? 'at_risk' : 'ok';
    if (state === q.slaState) return;
    q.slaState = state;
    this.events.push({
      type: 'alert',
      alert: state === 'breached' ? 'sla_breached' : state === 'at_risk' ? 'sla_at_risk' : 'sla_recovered',
      queueId: q.id,
      value: sl ?? 1,
    });
  }

  /**
   * Status a waiting conversation reports: outside hours beats over capacity (its own position beyond
   * the queue's maximum size) beats queued.
   */
  waitingStatus(c: Conv): ConvRouteStatus {
    const q = c.queue;
    const bh = q.cfg.businessHours;
    if (bh && !this.hoursOf(q).isOpen(bh, this.now)) return 'outside_hours';
    return q.cfg.maxSize > 0 && this.overCapacityAt(c, this.position(c)) ? 'over_capacity' : 'queued';
  }

  /**
   * A customer is over capacity by their own place (types.ts: waiting conversations beyond `maxSize`),
   * not because others joined behind them. Their place counts the line ahead of them and the customers
   * the queue already holds out of the line (ringing at a desk, held for an agent), as
   * `Queue.waitingTotal` does for the `queue_over_capacity` alert: the customer whose arrival raises the
   * alert is told so too. One held for their own agent is next for that agent: never over.
   */
  overCapacityAt(c: Conv, pos: number): boolean {
    const q = c.queue;
    const max = q.cfg.maxSize;
    if (max === 0 || c.reservedFor !== null) return false;
    return pos + q.offered.size + q.held.size > max;
  }

  /**
   * Since when the queue's service-level clock has run at `t`: its last opening while it is open (−∞
   * without business hours, or always open), null while it is closed. A pure function of the queue's
   * hours and `t` (cached per minute), so nothing to snapshot.
   */
  openSince(q: Queue, t: number): number | null {
    const bh = q.cfg.businessHours;
    return bh ? this.hoursOf(q).openedAt(bh, t) : Number.NEGATIVE_INFINITY;
  }

  /**
   * The wait of `c` that counts for the service level, now: the time its queue has been open since the
   * later of its arrival and the queue's (re)opening; 0 while the queue is closed. A customer who arrives
   * at night is not late for the morning shift, nor does waiting overnight count (the average wait and
   * the events keep the customer's whole wait).
   */
  serviceLevelWait(c: Conv, at = this.now): number {
    const since = this.openSince(c.queue, at);
    return since === null ? 0 : at - Math.max(c.enqueuedAt, since);
  }

  nextOpenOf(c: Conv): number | null {
    const bh = c.queue.cfg.businessHours;
    return bh ? this.hoursOf(c.queue).nextOpenAt(bh, this.now) : this.now;
  }

  /** Retires a closed or abandoned conversation into the bounded recent list. */
  close(c: Conv): void {
    if (c.tpos >= 0) this.timers.remove(c);
    c.queue.active--;
    this.convs.delete(c.id);
    this.recent.set(c.id, c);
  }

  /**
   * Forgets a customer (erasure): their record, and their id on the recently closed conversations kept
   * for GetConversation and dedupe (those keep everything else, with an empty customer id). Open
   * conversations keep theirs until they close.
   */
  forgetCustomer(id: string): void {
    this.customers.forget(id);
    this.recent.replaceWhere(
      (r) => r.customerId === id,
      (r) => ({ ...(r instanceof Conv ? this.view(r, this.now) : r), customerId: '' }),
    );
  }

  recentView(id: string): ConversationView | null {
    const r = this.recent.get(id);
    if (!r) return null;
    const v = r instanceof Conv ? this.view(r, this.now) : structuredClone(r);
    // Closed is the state (snapshots store it); while its agent wraps up after it, it reads `wrap_up`.
    if (v.status === 'closed' && v.agentId !== null && this.wrappingUp(v.agentId, id)) v.status = 'wrap_up';
    return v;
  }

  /** Whether agent `agentId` is still in the wrap-up after conversation `convId`. */
  private wrappingUp(agentId: string, convId: string): boolean {
    const a = this.agents.get(agentId);
    if (!a || a.pendingHandles.length === 0) return false;
    for (const h of a.pendingHandles) if (h.conv === convId) return true;
    return false;
  }

  /**
   * The first `limit` conversations waiting in queue `q`, in the order they are served and `position`
   * counts them: effective priority (`effective`: the conversation's priority, raised by aging and
   * SLA-driven priority), then arrival — without aging, higher priority first, then arrival. With `after`
   * (a `LinePlace`: the place of the last conversation of the previous page), the first `limit` of
   * those served after that place now. Each level's lines are walked from their head, or from a binary
   * search for the place: O(levels × lanes × (log n + limit)), not O(waiting).
   */
  waitingInOrder(q: Queue, limit: number, after?: LinePlace): Conv[] {
    // One run per level and lane, each in line order (= serving order within a level), merged.
    const runs: { items: Conv[]; i: number; e: number }[] = [];
    const e0 = after === undefined ? 0 : this.effective(q, after.priority, after.at);
    for (let lvl = PRIORITY_LEVELS - 1; lvl >= 0; lvl--) {
      const skip =
        after === undefined
          ? undefined
          : (at: number, seq: number) =>
              !outranks(e0, after.at, after.seq, this.effective(q, lvl, at), at, seq);
      for (const lane of q.lanes) {
        if ((lane.levelMask & (1 << lvl)) === 0) continue;
        const line = lane.levels[lvl]!;
        const items = skip === undefined ? line.firstInOrder(limit) : line.inOrderAfter(limit, skip);
        if (items.length > 0) runs.push({ items, i: 0, e: this.effective(q, lvl, items[0]!.enqueuedAt) });
      }
    }
    if (runs.length === 1) return runs[0]!.items;
    const out: Conv[] = [];
    while (out.length < limit) {
      let best: (typeof runs)[number] | null = null;
      for (const r of runs) {
        if (r.i >= r.items.length) continue;
        const c = r.items[r.i]!;
        if (best === null) {
          best = r;
          continue;
        }
        const b = best.items[best.i]!;
        if (outranks(r.e, c.enqueuedAt, c.seq, best.e, b.enqueuedAt, b.seq)) best = r;
      }
      if (best === null) break;
      const c = best.items[best.i++]!;
      out.push(c);
      if (best.i < best.items.length) {
        const n = best.items[best.i]!;
        best.e = this.effective(q, n.priority, n.enqueuedAt);
      }
    }
    return out;
  }

  view(c: Conv, at: number): ConversationView {
    const waiting = c.status === 'waiting';
    const pos = waiting ? this.position(c) : null;
    return {
      id: c.id,
      channel: c.channel,
      customerId: c.customerId,
      queueId: c.queue.id,
      priority: c.priority,
      status: c.status,
      createdAt: c.createdAt,
      agentId: c.agentId,
      participants: c.participants.slice(),
      offeredTo: c.offers.slice(),
      outcome: c.outcome,
      explanation: c.explanation,
      position: pos,
      estimatedWaitMs: pos === null ? null : Math.max(0, this.estimate(c, pos) - Math.max(0, at - this.now)),
    };
  }

  makeQueue(cfg: QueueConfig): Queue {
    return new Queue(cfg, STRATEGIES[cfg.strategy]);
  }
}

const ALWAYS = (): boolean => true;

/** The shared empty answer of `heldToRelease` and `fileAgain` (read-only). */
const NO_CONVS: readonly Conv[] = [];
/** Channels, as indexes 0..CHANNEL_COUNT − 1 (`CHANNEL_INDEX`). */
const CHANNEL_COUNT = Object.keys(CHANNEL_INDEX).length;

/** How long an offer of `q` rings (broadcast always offers: its default when the queue says 0). */
export function offerTimeoutMs(q: Queue): number {
  return (q.cfg.offerTimeoutSeconds > 0 ? q.cfg.offerTimeoutSeconds : BROADCAST_DEFAULT_TIMEOUT_S) * 1000;
}

/** Conversation without ad-hoc requirements or exclusions: any pool member fits. */
export function unconstrained(c: Conv): boolean {
  return c.adHoc === null && c.excluded === null;
}

/** May `a` take `c`, beyond lane membership and availability? */
export function fits(a: Agent, c: Conv): boolean {
  if (c.excluded?.includes(a.id)) return false;
  return c.adHoc === null || a.satisfies(c.adHoc);
}

export function relaxReqs(reqs: readonly SkillRequirement[], by: number): SkillRequirement[] {
  return reqs.map((r) => ({ skill: r.skill, minLevel: Math.max(1, r.minLevel - by) }));
}

export function actionLabel(a: OverflowAction): string {
  switch (a.kind) {
    case 'relax_skills':
      return `relax_skills:${a.by}`;
    case 'drop_skills':
      return `drop_skills:${a.skills.join('+')}`;
    case 'widen_to_queue':
      return `widen_to_queue:${a.queueId}`;
    case 'escalate_tier':
      return `escalate_tier:${a.tier}`;
  }
}

export { CHANNEL_INDEX };

/** Placeholder left in consumed FIFO slots so the conversation can be collected. */
const DEAD = Object.create(null) as Conv;

/**
 * Serving order among waiting work: higher effective priority first, then older, then earlier filed
 * (the sequence number breaks ties of the same millisecond deterministically).
 */
function outranks(
  e: number,
  at: number,
  seq: number,
  bestE: number,
  bestAt: number,
  bestSeq: number,
): boolean {
  return e > bestE || (e === bestE && (at < bestAt || (at === bestAt && seq < bestSeq)));
}

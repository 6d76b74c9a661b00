/**
 * The engine's mutable runtime records. Logical state (what a snapshot holds) lives in plain fields;
 * index fields (`hpos`, `tpos`, pools, heaps) are derived and rebuilt on restore.
 *
 * Picture of the indexes for one queue with one overflow step:
 *
 *   Queue q ── lanes[0] (base requirements)      pool: heap of available Members, strategy order
 *          │                                       levels[0..10]: wait line (FIFO + side heap) per priority
 *          └─ lanes[1] (after overflow step 1)     same shape, membership of the relaxed requirements
 *
 *   Agent ── members[] ── one Member per lane it may serve (pool slot `hpos`, round-robin `turn`)
 *
 * A conversation waits in exactly one lane (the one for its current overflow step) or is reserved for
 * one agent, or is offered/assigned (in no lane).
 */
import { DenseHeap } from './dense-heap.js';
import { IndexedHeap } from './heap.js';
import { RankCounter } from './rank-counter.js';
import type { RoutingStrategy } from './strategies/strategy.js';
import type {
  AgentConfig,
  Channel,
  ConversationStatus,
  CustomerConfig,
  Explanation,
  Outcome,
  Presence,
  QueueConfig,
  SkillRequirement,
} from './types.js';
import { CHANNELS } from './types.js';
import { AGE_ORDER, WaitLine } from './wait-line.js';
import { WaitSet } from './wait-set.js';
import { SlidingWindow } from './window.js';

const TWO_30 = 1 << 30;

/**
 * `n` as a small integer when it is one. V8 keeps a number field inside the object only while every value
 * ever stored in it was a small integer; arithmetic on large numbers (times in ms) yields heap numbers
 * even when the result is small, and a single such store turns the field, in every instance, into a
 * pointer to a separately allocated box (16 bytes more each, and one more object to reach).
 */
export function small(n: number): number {
  const i = n | 0;
  return i === n ? i : n;
}
/** Marks "no assignment" in Conv.assignedOff (offsets are ≥ 0: assignment never precedes creation). */
const NOT_ASSIGNED = -1;
/**
 * `Conv.qord` of a conversation not yet in its queue's line (a small integer, so the field stays
 * unboxed). Real values can be negative (a re-join at the front, see `Partition.insertWaiting`).
 */
export const NO_QORD = -(2 ** 30);

export const CHANNEL_INDEX: Record<Channel, number> = { chat: 0, voice: 1, email: 2, sms: 3, social: 4 };
/** Code-unit order of two strings, as a comparator (ids in listings and snapshots: no locale). */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `/` in a skill name separates a group from its sub-skill (`support/networking`). */
export const SKILL_GROUP_SEP = 47;
/** The groups a skill belongs to, innermost first: `a/b/c` → `a/b`, `a`. */
export function skillGroups(skill: string): string[] {
  const out: string[] = [];
  for (let i = skill.lastIndexOf('/'); i > 0; i = skill.lastIndexOf('/', i - 1)) out.push(skill.slice(0, i));
  return out;
}
export const PRIORITY_LEVELS = 11;
/**
 * Shared empty list for conversation fields that are usually empty (saves two arrays per waiting
 * conversation). Frozen: code must replace it, never push into it.
 */
export const NONE: string[] = Object.freeze([]) as unknown as string[];
/**
 * Shared empty `Agent.reserved` (almost every agent's): every release checks the list, and a list per agent
 * was one more cache miss there. Frozen: replace it before pushing (`Agent.reserve`).
 */
export const NO_CONVS: Conv[] = Object.freeze([]) as unknown as Conv[];
export const NO_SKILLS: SkillRequirement[] = Object.freeze([]) as unknown as SkillRequirement[];

/**
 * A conversation an agent ended and is wrapping up after: it counts as handled (agent and queue AHT)
 * when the wrap-up ends, with its after-contact work — from its end to its own wrap-up end (`until`),
 * or to the agent's end of wrap-up if that comes first (`finish_wrap_up`).
 */
export interface PendingHandle {
  /** The conversation (its view reports `wrap_up` while this is pending). */
  conv: string;
  /** Its queue (null: removed since; the agent's figures still count it). */
  queue: Queue | null;
  /** Assignment to end, ms. */
  talkMs: number;
  endedAt: number;
  /** endedAt + the agent's wrap-up time then. */
  until: number;
}
/** Shared empty `Agent.pendingHandles` (frozen: replace it before pushing). */
export const NO_PENDING: PendingHandle[] = Object.freeze([]) as unknown as PendingHandle[];

/**
 * Growable slab of fixed-stride float64 records: the numbers of an agent that every decision reads or
 * writes (times, seats, loads), one record per agent. Not object fields, because a timestamp in
 * milliseconds is not a small integer: as a field V8 boxes it in a separate HeapNumber. And not a small
 * array per agent, because at 10⁵ agents every separate object an assignment or an end touches is one
 * more cache and TLB miss (the seats array was two: the array and its elements). A record is 128 bytes
 * (two cache lines, never split across pages).
 */
export class AgentSlab {
  /** Doubles per record. */
  static readonly STRIDE = 16;
  f: Float64Array;
  /** Records handed out so far (the high-water mark; freed ones below it are in `freed`). */
  private n = 0;
  /**
   * Offsets of records given back by removed agents, reused last freed first: a tenant that creates and
   * removes agents for months (temporary agents per shift, turnover) keeps as many records as it ever
   * had agents at once, not one per agent it ever had. Which record an agent gets is invisible: nothing
   * decided, snapshotted or digested reads an offset, so a restored engine (laid out afresh, with its
   * own free list) decides exactly like the live one; the free list is not state and not snapshotted.
   */
  private readonly freed: number[] = [];

  constructor(initialRecords = 64) {
    this.f = new Float64Array(initialRecords * AgentSlab.STRIDE);
  }

  /** Offset of a zeroed record: a freed one if any, else a new one (the slab doubles when full). */
  alloc(): number {
    if (this.freed.length > 0) return this.freed.pop()!;
    if ((this.n + 1) * AgentSlab.STRIDE > this.f.length) {
      const g = new Float64Array(this.f.length * 2);
      g.set(this.f);
      this.f = g;
    }
    return this.n++ * AgentSlab.STRIDE;
  }

  /** Gives a record back (zeroed, as `alloc` promises). */
  free(at: number): void {
    this.f.fill(0, at, at + AgentSlab.STRIDE);
    this.freed.push(at);
  }

  /** Records in use. */
  get live(): number {
    return this.n - this.freed.length;
  }
}

/**
 * Fields of an agent's slab record: four times, seats per channel index, load per channel index, then the
 * accrued staffed and busy time (written at every change of the agent, and past 2³¹ ms not small integers).
 */
const WRAP_UNTIL = 0;
const IDLE_SINCE = 1;
const LAST_ASSIGNED_AT = 2;
const ACCT_AT = 3;
const SEATS = 4;
/** Open conversations + pending offers + escalation participations, per channel index. */
const LOAD = 9;
const STAFFED_MS = 14;
const BUSY_MS = 15;

export class Agent {
  presence: Presence = 'offline';
  wrapPos = -1;
  /** Offset of this agent's record in its slab (the partition's, or its own once removed: `release`). */
  private at: number;
  consecutiveMisses = 0;
  missedTotal = 0;
  handled = 0;
  /** Sum of handle times (stored through `small`, see there). */
  handleMsTotal = 0;
  members: Member[] = [];
  /**
   * Lane and lane-local id of each membership, in `members` order: [lane₀, lid₀, lane₁, lid₁, …]. Serving a
   * freed agent and re-filing a saturated one read only this array, not each Member object: at 10⁵ agents
   * every object reached is one more cache miss (`Partition.addMember` / `removeMember` keep it in step).
   */
  memberIndex: (Lane | number)[] = [];
  /** Conversations this agent holds (assigned or participating): only the count is ever needed. */
  open = 0;
  /** Ids of conversations offered to this agent, pending. */
  offers: string[] = [];
  /** Conversations waiting for this agent (previous/dedicated agent wait budget), oldest first. */
  reserved: Conv[] = NO_CONVS;
  /** Conversations ended and in wrap-up, counted as handled when it ends (see `PendingHandle`). */
  pendingHandles: PendingHandle[] = NO_PENDING;
  /** Set once the agent leaves the partition's map (saves a hot `agents.get` identity check). */
  removed = false;
  /**
   * Copies of the config fields every assignment and end reads (the id, the name for the `assigned`
   * event, the wrap-up time), so the hot path does not also miss on the config object.
   */
  readonly id: string;
  displayName: string;
  wrapUpSeconds: number;

  constructor(
    public cfg: AgentConfig,
    readonly seq: number,
    now: number,
    private slab: AgentSlab,
  ) {
    this.at = slab.alloc();
    this.setSeats(cfg);
    this.id = cfg.id;
    this.displayName = cfg.displayName;
    this.wrapUpSeconds = cfg.wrapUpSeconds;
    this.idleSince = now;
    this.acctAt = now;
  }

  /** End of wrap-up, 0 when not wrapping up. */
  get wrapUntil(): number {
    return this.slab.f[this.at + WRAP_UNTIL]!;
  }
  set wrapUntil(v: number) {
    this.slab.f[this.at + WRAP_UNTIL] = v;
  }
  get idleSince(): number {
    return this.slab.f[this.at + IDLE_SINCE]!;
  }
  set idleSince(v: number) {
    this.slab.f[this.at + IDLE_SINCE] = v;
  }
  get lastAssignedAt(): number {
    return this.slab.f[this.at + LAST_ASSIGNED_AT]!;
  }
  set lastAssignedAt(v: number) {
    this.slab.f[this.at + LAST_ASSIGNED_AT] = v;
  }
  /**
   * Time staffed: online, or busy (an open conversation or wrap-up) whatever the presence — the
   * denominator of occupancy (see `accrue`). Snapshot slot "onlineMs" (its name before away time idle
   * was left out; older snapshots' totals include it).
   */
  get staffedMs(): number {
    return this.slab.f[this.at + STAFFED_MS]!;
  }
  set staffedMs(v: number) {
    this.slab.f[this.at + STAFFED_MS] = v;
  }
  get busyMs(): number {
    return this.slab.f[this.at + BUSY_MS]!;
  }
  set busyMs(v: number) {
    this.slab.f[this.at + BUSY_MS] = v;
  }
  /** Time up to which online and busy time are accrued. */
  get acctAt(): number {
    return this.slab.f[this.at + ACCT_AT]!;
  }
  set acctAt(v: number) {
    this.slab.f[this.at + ACCT_AT] = v;
  }

  /**
   * The agent left the partition (`remove_agent`): its record goes back to the partition's slab for the
   * next agent, and this object keeps a private copy, so whatever still holds it (a recently closed
   * conversation names its agent) reads its last figures and can never write into the record of the
   * agent that reuses the slot.
   */
  release(): void {
    const own = new AgentSlab(1);
    const at = own.alloc();
    own.f.set(this.slab.f.subarray(this.at, this.at + AgentSlab.STRIDE), at);
    this.slab.free(this.at);
    this.slab = own;
    this.at = at;
  }

  /** A new configuration for the same agent id. */
  setConfig(cfg: AgentConfig): void {
    this.cfg = cfg;
    this.setSeats(cfg);
    this.displayName = cfg.displayName;
    this.wrapUpSeconds = cfg.wrapUpSeconds;
  }

  private setSeats(cfg: AgentConfig): void {
    const f = this.slab.f;
    for (const ch of CHANNELS) f[this.at + SEATS + CHANNEL_INDEX[ch]] = cfg.capacity[ch] ?? 0;
  }

  capOn(ch: number): number {
    return this.slab.f[this.at + SEATS + ch]!;
  }

  loadOn(ch: number): number {
    return this.slab.f[this.at + LOAD + ch]!;
  }

  addLoad(ch: number, d: number): void {
    this.slab.f[this.at + LOAD + ch]! += d;
  }

  available(ch: number): boolean {
    if (this.presence !== 'online') return false;
    const f = this.slab.f;
    const at = this.at;
    return f[at + WRAP_UNTIL] === 0 && f[at + LOAD + ch]! < f[at + SEATS + ch]!;
  }

  /**
   * Proficiency in `skill`, 0 if not held. Skills come in groups by name: `support/networking` is a
   * sub-skill of the group `support` (a department and its specialities), so a sub-skill counts for its
   * groups at its own level, the best of them if several (`support` is met by `support/networking` 7;
   * `support/networking` is not met by `support` alone). A linear scan of the agent's own list: agents
   * hold a handful of skills, and a Map per agent would cost ~200 bytes of heap each.
   */
  level(skill: string): number {
    const ss = this.cfg.skills;
    const n = skill.length;
    let best = 0;
    for (let i = 0; i < ss.length; i++) {
      const s = ss[i]!;
      const name = s.skill;
      if (
        s.level > best &&
        (name === skill || (name.charCodeAt(n) === SKILL_GROUP_SEP && name.startsWith(skill)))
      )
        best = s.level;
    }
    return best;
  }

  satisfies(reqs: readonly SkillRequirement[]): boolean {
    for (let i = 0; i < reqs.length; i++) {
      const r = reqs[i]!;
      if (this.level(r.skill) < r.minLevel) return false;
    }
    return true;
  }

  busy(): boolean {
    return this.open > 0 || this.wrapUntil !== 0;
  }

  /**
   * Accrues staffed and busy time up to `now`; call before presence or workload changes. Occupancy =
   * busy ÷ staffed: time online counts, and so does time busy while away or offline (finishing a
   * conversation or its wrap-up after going on a break is work); time away or offline with nothing
   * open does not (a lunch break is not idle capacity).
   */
  accrue(now: number): void {
    const dt = now - this.acctAt;
    if (dt > 0) {
      if (this.busy()) {
        this.staffedMs += dt;
        this.busyMs += dt;
      } else if (this.presence === 'online') this.staffedMs += dt;
    }
    this.acctAt = now;
  }

  /** Adds a conversation waiting for this agent (customer-rule wait budget). */
  reserve(c: Conv): void {
    if (this.reserved === NO_CONVS) this.reserved = [];
    this.reserved.push(c);
  }

  memberOf(lane: Lane): Member | undefined {
    const ms = this.members;
    for (let i = 0; i < ms.length; i++) if (ms[i]!.lane === lane) return ms[i];
    return undefined;
  }
}

/** One agent's place in one lane: its pool slot and its round-robin turn there. */
export class Member {
  /** Lane-local dense id (pool slot index key), recycled when the member leaves the lane. */
  lid = -1;
  /** Round-robin: the lane's turn counter when this agent was last picked (lower goes first). */
  turn = 0;
  /**
   * Most-skilled: sum of the agent's levels on the lane's required skills (`Lane.scoredSkills`). A
   * conversation's own skills beyond those are added per decision (`strategies/most-skilled.ts`).
   */
  score = 0;
  constructor(
    readonly agent: Agent,
    readonly lane: Lane,
  ) {}
}

/** Who may serve a lane: agents of `scope` (or of every queue) holding `reqs`, of at least `minTier`. */
export interface Clause {
  scope: string;
  reqs: SkillRequirement[];
  minTier: number;
}

export class Lane {
  readonly pool: DenseHeap<Member>;
  readonly members = new Set<Member>();
  readonly levels: (WaitLine | null)[] = new Array(PRIORITY_LEVELS).fill(null);
  /** Bit p set ⇔ levels[p] is non-empty. */
  levelMask = 0;
  waiting = 0;
  turnCounter = 0;
  /**
   * Members currently online with a seat on the lane's channel (capacity > 0: a chat-only agent does not
   * staff a voice queue), and their summed capacity on it (staffing). Kept by `Partition.attachOnline` /
   * `detachOnline` around presence and configuration changes.
   */
  online = 0;
  onlineCapacity = 0;

  constructor(
    readonly queue: Queue,
    readonly step: number,
    readonly clauses: Clause[],
    readonly ch: number,
    /** Labels of the overflow actions applied to reach this lane, e.g. "relax_skills:1". */
    readonly relaxed: string[],
    strategy: RoutingStrategy,
  ) {
    const reqs = clauses[0]!.reqs;
    this.scoredSkills =
      reqs.length === 0 ? NONE : (Object.freeze(reqs.map((r) => r.skill)) as unknown as string[]);
    this.pool = new DenseHeap<Member>(
      { k1: strategy.key1, k2: strategy.key2, tie: (m) => m.agent.seq },
      (m) => m.lid,
    );
  }

  private nextLid = 0;
  private freeLids: number[] = [];

  allocLid(): number {
    return this.freeLids.length > 0 ? this.freeLids.pop()! : this.nextLid++;
  }

  freeLid(id: number): void {
    this.freeLids.push(id);
  }

  admits(a: Agent): boolean {
    for (const c of this.clauses) {
      if (a.cfg.tier < c.minTier) continue;
      if (a.cfg.queues.length > 0 && !a.cfg.queues.includes(c.scope)) continue;
      if (a.satisfies(c.reqs)) return true;
    }
    return false;
  }

  /**
   * Names of the skills `skillScore` sums: the queue's own clause after this lane's overflow steps
   * (dropped skills gone). Frozen, so explanations share it instead of copying it per decision.
   */
  readonly scoredSkills: string[];

  skillScore(a: Agent): number {
    let s = 0;
    for (const r of this.clauses[0]!.reqs) s += a.level(r.skill);
    return s;
  }

  /**
   * Broadcast offers of this lane still ringing with room for more desks (fewer than the queue's width),
   * per priority level by age: an agent who frees up joins the best of them as it would take the best
   * waiting conversation (`Partition.fillAgent`). Derived from the offered conversations
   * (`Partition.fileRing`), never snapshotted.
   */
  readonly rings: (IndexedHeap<Conv> | null)[] = new Array(PRIORITY_LEVELS).fill(null);
  /** Bit p set ⇔ rings[p] is non-empty. */
  ringMask = 0;

  ring(p: number): IndexedHeap<Conv> {
    let h = this.rings[p];
    if (!h) {
      h = new IndexedHeap<Conv>(
        AGE_ORDER,
        (c) => c.rpos,
        (c, i) => {
          c.rpos = i;
        },
      );
      this.rings[p] = h;
    }
    return h;
  }

  level(p: number): WaitLine {
    let h = this.levels[p];
    if (!h) {
      h = new WaitLine();
      this.levels[p] = h;
    }
    return h;
  }
}

export type SlaState = 'ok' | 'at_risk' | 'breached';

/** The place numbers of level `p` of `q`'s line (created on first use). */
export function levelRanks(q: Queue, p: number): RankCounter {
  let r = q.levelRanks[p];
  if (!r) {
    r = new RankCounter();
    q.levelRanks[p] = r;
  }
  return r;
}

export class Queue {
  lanes: Lane[] = [];
  strategy: RoutingStrategy;
  ch: number;
  /** Waiting per priority level (all lanes), and the next place number (`Conv.qord`) at the back. */
  levelCount: number[] = new Array(PRIORITY_LEVELS).fill(0);
  levelArrivals: number[] = new Array(PRIORITY_LEVELS).fill(0);
  /**
   * Per level, the place numbers of the conversations in the line: a position is the count of those
   * below one's own. Derived from the waiting conversations, so rebuilt on restore, not snapshotted.
   */
  levelRanks: (RankCounter | undefined)[] = new Array(PRIORITY_LEVELS);
  waiting = 0;
  /** Active (not closed) conversations whose queue this is. */
  active = 0;
  inbound = 0;
  assigned = 0;
  abandoned = 0;
  transferred = 0;
  window: SlidingWindow;
  /**
   * Conversations held for a previous or dedicated agent (customer-rule wait budget): outside the lanes'
   * lines but waiting all the same, so they count for the service level like the lines (a `WaitSet`: its
   * past-threshold count and oldest, no line order). Derived from
   * the conversations' `reservedFor`, not snapshotted; rebuilt with the queue (a threshold change).
   */
  held = new WaitSet();
  /**
   * Conversations being offered (ringing at one or more desks): out of the lines too, but the customer
   * waits until an agent accepts, so they count as waiting, for the longest wait and for the service
   * level like `held` (a `WaitSet` too: offers go out by priority and end in any order). Derived from the conversations' status
   * (`Partition.offer` / `unoffer`), not snapshotted; rebuilt with the queue.
   */
  offered = new WaitSet();
  slaState: SlaState = 'ok';
  /**
   * `waitingTotal` > the maximum size as last announced (`queue_over_capacity` / `queue_capacity_recovered`):
   * part of the snapshot, and kept while a configuration change files the waiting conversations again.
   */
  overCapacity = false;

  constructor(
    public cfg: QueueConfig,
    strategy: RoutingStrategy,
  ) {
    this.strategy = strategy;
    this.ch = CHANNEL_INDEX[cfg.channel];
    this.window = new SlidingWindow(cfg.serviceLevel.windowSeconds * 1000);
  }
  /**
   * Conversations waiting longer than the service-level threshold, in the lines, held for an agent
   * (`held`) or being offered (`offered`): whatever happens now,
   * they count against the service level (answered late or abandoned late), so the real-time figure and
   * its alerts count them already — a queue nobody answers (an outage, an unstaffed shift) is breached,
   * not "no data". One answered in this queue and transferred back into it is not counted (it was, when
   * answered), while the queue is open (`openSince`: `Partition.openSince`). Amortised O(1) per line
   * (`WaitLine.countPast`), O(log n) per conversation in `held` / `offered`
   * (`WaitSet.countPast`). `keep` = false for queries (their
   * time may be ahead of the engine's; they change nothing).
   */
  waitingPastThreshold(now: number, keep: boolean, openSince: number | null): number {
    const held = this.held.size;
    const offered = this.offered.size;
    if (this.waiting === 0 && held === 0 && offered === 0) return 0;
    const cutoff = now - this.cfg.serviceLevel.thresholdSeconds * 1000;
    // Past it = waited longer than the threshold since the later of arrival and the queue's opening
    // (`Partition.serviceLevelWait`): nobody while closed or open for less than the threshold, else
    // those who joined before the cutoff. Skipping the count leaves the cursors behind, never ahead.
    if (openSince === null || openSince >= cutoff) return 0;
    let n = held === 0 ? 0 : this.held.countPast(cutoff, keep);
    if (offered > 0) n += this.offered.countPast(cutoff, keep);
    for (const lane of this.lanes) {
      let mask = lane.levelMask;
      while (mask !== 0) {
        const p = 31 - Math.clz32(mask);
        mask &= ~(1 << p);
        n += lane.levels[p]!.countPast(cutoff, keep);
      }
    }
    return n;
  }

  get id(): string {
    return this.cfg.id;
  }

  /**
   * Customers not yet taken by an agent: in the lines, held for an agent, or being offered
   * (`QueueStats.waiting`). What the maximum size limits for the over-capacity alert.
   */
  get waitingTotal(): number {
    return this.waiting + this.held.size + this.offered.size;
  }
}

/**
 * Fields most waiting conversations never use, kept off the main record so a waiting conversation stays
 * small (the target is ≤ 512 bytes of heap each with a million waiting). Nothing that ending a
 * conversation reads or writes lives here (see `Conv.agent`).
 */
class ConvExtra {
  valueTier: CustomerConfig['valueTier'] | undefined = undefined;
  topic: string | undefined = undefined;
  excluded: string[] | null = null;
  offers: string[] = NONE;
  offerExpiresAt = 0;
  reservedFor: string | null = null;
  reservedUntil = 0;
  reservedRule: Explanation['rule'] | null = null;
  pending: Explanation | null = null;
  /** Slot in its lane's ring heap (`Lane.rings`), or -1. */
  rpos = -1;
}

export class Conv {
  status: ConversationStatus = 'waiting';
  /**
   * Times are kept as small integers: V8 stores those in the object itself, while an absolute time in
   * ms is a separately allocated HeapNumber (one more object to allocate, copy in every young-generation
   * GC, and miss in the cache). createdAt is split in two 30-bit halves; enqueuedAt, noticeAt and
   * assignedAt are offsets from it; the timer time lives only in the partition's timer heap. Every
   * store goes through `small()`: computed from ms timestamps, an offset is a heap number even when
   * small, and storing one would box the field in every conversation.
   */
  private bornHi: number;
  private bornLo: number;
  private enqOff = 0;
  /** noticeAt − createdAt, 0 = no re-check scheduled (a scheduled one is ≥ 30 s after creation). */
  private noticeOff = 0;
  /** Overflow steps applied in the current queue. */
  step = 0;
  /** Requirements of the request beyond the lane's (after relaxation); null = none. */
  adHoc: SkillRequirement[] | null = null;
  lane: Lane | null = null;
  /** Slot in the wait line's side heap, or -1. */
  hpos = -1;
  /** Absolute index in the wait line's FIFO, or -1. */
  fpos = -1;
  tpos = -1;
  /**
   * Place in its queue's line at its priority level, for position estimates (`Partition.position`):
   * position − 1 = qord − the level's removals. `NO_QORD` = not yet in this queue's line.
   */
  qord = NO_QORD;
  /** Counted as answered in its current queue's service level. */
  answered = false;
  lastPosition = 0;
  lastEstimateMs = 0;
  /**
   * The status the customer was last told while waiting (`NOTICE_QUEUED`, `NOTICE_OVER_CAPACITY`,
   * `NOTICE_OUTSIDE_HOURS`): a change of status is always announced, e.g. `queued` with the position
   * once a closed queue opens, or `outside_hours` when it closes under a waiting customer.
   */
  lastNotice = 0;
  /** Customer was unknown (or had no history) at first contact. */
  newCustomer = false;
  /** Where the customer's record was at this contact (a lookup hint, see `CustomerBook.remember`). */
  customerEntry = -1;
  /**
   * The assignment: the primary agent (an agent holding conversations is never removed), its time as an
   * offset, escalations, the explanation, the outcome. In this record rather than the extra one although
   * waiting conversations do not use them (20 bytes each): every assignment sets them, so the extra
   * record would be allocated (and kept, and copied by the young-generation GC) for each one, and ending
   * a conversation reads or writes them — with the extra record elsewhere in the heap, one more cache and
   * TLB miss in every `end_conversation` at 10⁵ agents.
   */
  agent: Agent | null = null;
  /** assignedAt − createdAt, or NOT_ASSIGNED. */
  private assignedOff = NOT_ASSIGNED;
  /** Participants after the primary agent (escalations), usually NONE. */
  private esc: string[] = NONE;
  explanation: Explanation | null = null;
  outcome: Outcome | null = null;
  private x: ConvExtra | null = null;

  constructor(
    readonly id: string,
    readonly seq: number,
    readonly channel: Channel,
    readonly customerId: string,
    valueTier: CustomerConfig['valueTier'] | undefined,
    readonly priority: number,
    readonly requiredSkills: SkillRequirement[],
    topic: string | undefined,
    /** The queue named in the request (undefined = chosen by queue rules). */
    readonly requestedQueueId: string | undefined,
    public queue: Queue,
    createdAt: number,
  ) {
    this.bornHi = Math.floor(createdAt / TWO_30);
    this.bornLo = small(createdAt - this.bornHi * TWO_30);
    if (valueTier !== undefined || topic !== undefined) {
      const x = this.ext();
      x.valueTier = valueTier;
      x.topic = topic;
    }
  }

  get createdAt(): number {
    return this.bornHi * TWO_30 + this.bornLo;
  }
  /** Time it entered its current queue: its age for ordering, waits and service level. */
  get enqueuedAt(): number {
    return this.createdAt + this.enqOff;
  }
  set enqueuedAt(v: number) {
    this.enqOff = small(v - this.createdAt);
  }
  /** Time of the next position/estimate re-check, 0 = none. */
  get noticeAt(): number {
    return this.noticeOff === 0 ? 0 : this.createdAt + this.noticeOff;
  }
  set noticeAt(v: number) {
    this.noticeOff = v === 0 ? 0 : small(v - this.createdAt);
  }

  private ext(): ConvExtra {
    if (this.x === null) this.x = new ConvExtra();
    return this.x;
  }

  get valueTier(): CustomerConfig['valueTier'] | undefined {
    return this.x === null ? undefined : this.x.valueTier;
  }
  get topic(): string | undefined {
    return this.x === null ? undefined : this.x.topic;
  }
  /**
   * Agents passed over for this conversation: they rejected or let an offer of it time out (or, see
   * `transfer`, transferred it away). They are passed over until its next notice re-check, 30 s after
   * it went back to waiting (`Partition.liftExclusions`), so it is never stranded beside idle agents
   * who once missed it.
   */
  get excluded(): string[] | null {
    return this.x === null ? null : this.x.excluded;
  }
  set excluded(v: string[] | null) {
    if (v !== null || this.x !== null) this.ext().excluded = v;
  }
  /** Id of the primary agent (`agent`), null when unassigned. */
  get agentId(): string | null {
    return this.agent === null ? null : this.agent.id;
  }
  /**
   * Agents holding the conversation: the primary (`agent`) first, then escalations. Derived, and a
   * fresh array when non-empty: a lone primary (the usual case) stores no list at all. Change it with
   * `addParticipant` or by assigning a whole list (primary first, after `agent`).
   */
  get participants(): string[] {
    if (this.agent === null) return NONE;
    return this.esc === NONE ? [this.agent.id] : [this.agent.id, ...this.esc];
  }
  set participants(v: string[]) {
    this.esc = v.length <= 1 ? NONE : v.slice(1);
  }
  /** Escalations beyond the primary (NONE for a lone primary), read-only. */
  get escalated(): readonly string[] {
    return this.esc;
  }
  addParticipant(agentId: string): void {
    this.esc = [...this.esc, agentId];
  }
  get offers(): string[] {
    return this.x === null ? NONE : this.x.offers;
  }
  set offers(v: string[]) {
    if (v !== NONE || this.x !== null) this.ext().offers = v;
  }
  get offerExpiresAt(): number {
    return this.x === null ? 0 : this.x.offerExpiresAt;
  }
  set offerExpiresAt(v: number) {
    if (v !== 0 || this.x !== null) this.ext().offerExpiresAt = v;
  }
  get reservedFor(): string | null {
    return this.x === null ? null : this.x.reservedFor;
  }
  set reservedFor(v: string | null) {
    if (v !== null || this.x !== null) this.ext().reservedFor = v;
  }
  get reservedUntil(): number {
    return this.x === null ? 0 : this.x.reservedUntil;
  }
  set reservedUntil(v: number) {
    if (v !== 0 || this.x !== null) this.ext().reservedUntil = v;
  }
  /**
   * The customer rule that holds it for `reservedFor` (`dedicated_agent` or `previous_agent`), for the
   * explanation when that agent takes it. Neither can be told from the agent: a high-value customer whose
   * contact is marked standard is held as a returning customer even by the agent who is also their
   * dedicated one, and the customer's record may change while they wait.
   */
  get reservedRule(): Explanation['rule'] | null {
    return this.x === null ? null : this.x.reservedRule;
  }
  set reservedRule(v: Explanation['rule'] | null) {
    if (v !== null || this.x !== null) this.ext().reservedRule = v;
  }
  /** Time of the current assignment, 0 = none (kept as an offset from createdAt, see above). */
  get assignedAt(): number {
    return this.assignedOff === NOT_ASSIGNED ? 0 : this.createdAt + this.assignedOff;
  }
  set assignedAt(v: number) {
    this.assignedOff = v === 0 ? NOT_ASSIGNED : small(v - this.createdAt);
  }
  get rpos(): number {
    return this.x === null ? -1 : this.x.rpos;
  }
  set rpos(v: number) {
    if (v !== -1 || this.x !== null) this.ext().rpos = v;
  }
  /** Explanation of the pending offer, becomes `explanation` on accept. */
  get pending(): Explanation | null {
    return this.x === null ? null : this.x.pending;
  }
  set pending(v: Explanation | null) {
    if (v !== null || this.x !== null) this.ext().pending = v;
  }
}

/**
 * The lane a conversation currently routes in. Its step can exceed the queue's lanes when a supervisor
 * removed overflow steps while it was offered or assigned; it then routes in the last lane.
 */
export function laneOf(c: Conv): Lane {
  const lanes = c.queue.lanes;
  return lanes[c.step < lanes.length ? c.step : lanes.length - 1]!;
}

/**
 * Snapshot = the logical state only, as plain data: configs, presence, counters, conversations, cursors,
 * statistics windows, the dedupe memory. Every index (pools, waiting heaps, timer heaps, loads, member
 * lists, staffing counts) is derived and rebuilt on restore, so a restored engine decides exactly like the
 * original (all heap orders are strict total orders on logical fields).
 *
 * Version 2 is positional: agents and conversations are flat arrays with a fixed stride (no field names),
 * small enum-like strings (channel, status, presence, queue ids, tiers, topics) and skill requirement lists
 * are interned in tables. A partition of 100 000 conversations is then a few large arrays of primitives,
 * which JSON parses, and the restore walks, far faster than 100 000 objects of 31 named fields.
 * Version 1 (one object per record) is still read, by converting it to version 2 first.
 */
import { ReplyMemo } from './memo.js';
import {
  Agent,
  Conv,
  compareText,
  laneOf,
  NO_PENDING,
  NO_QORD,
  NO_SKILLS,
  NONE,
  type PendingHandle,
  type Queue,
  small,
} from './model.js';
import { Partition } from './partition.js';
import type {
  AgentConfig,
  Channel,
  ConversationStatus,
  ConversationView,
  CustomerConfig,
  Explanation,
  Outcome,
  Presence,
  QueueConfig,
  Reply,
  RoutingConfig,
  SkillRequirement,
  ValueTier,
} from './types.js';

export const SNAPSHOT_VERSION = 2;

interface QueueRec {
  cfg: QueueConfig;
  counters: [number, number, number, number];
  levelArrivals: number[];
  /** Written by versions whose positions were estimates (arrivals − removals); read and ignored. */
  levelRemovals?: number[];
  window: { head: number; cells: number[] };
  slaState: Queue['slaState'];
  overCapacity: boolean;
  /** Per lane: round-robin counter and the non-zero turns by agent id. */
  lanes: { turnCounter: number; turns: [string, number][] }[];
}

/** Agent slots, in order: cfg, seq, presence (string table), then the numbers in `AGENT_NUMS`. */
const AGENT_STRIDE = 13;
/**
 * Conversation slots: 0 id, 1 seq, 2 channel†, 3 customerId, 4 valueTier†, 5 priority, 6 requiredSkills
 * (skills table), 7 topic†, 8 requestedQueueId†, 9 queue (index in `queues`), 10 createdAt − now, 11 status†,
 * 12 enqueuedAt − createdAt, 13 step, 14 qord (`qordOut`), 15 flags (1 answered, 2 newCustomer, bits 2–3 lastNotice), 16 noticeAt (`relTime`),
 * 17 lastPosition, 18 lastEstimateMs, 19 extra (0, or the `ConvExtra` tuple when any of it is set).
 * † = index in the string table, −1 for absent.
 */
const CONV_STRIDE = 20;
/**
 * excluded, agentId, participants, offers, offerExpiresAt, reservedFor, reservedUntil, assignedAt, outcome,
 * explanation, pending, then reservedRule only while held (absent in snapshots written before it was kept,
 * and for every other conversation, whose tuple is unchanged).
 */
type ConvExtra = [
  string[] | null,
  string | null,
  string[],
  string[],
  number,
  string | null,
  number,
  number,
  Outcome | null,
  Explanation | null,
  Explanation | null,
  reservedRule?: Explanation['rule'],
];

export interface StateV2 {
  now: number;
  agentSeq: number;
  convSeq: number;
  config: RoutingConfig;
  strs: string[];
  skills: SkillRequirement[][];
  agents: unknown[];
  queues: QueueRec[];
  /** Configured customers (`upsert_customer`). */
  customers: CustomerConfig[];
  /**
   * Customers created by contact, least recently contacted first, as pairs [id, previous agents: '' |
   * one id | ids]. Absent in snapshots written before customers were created at first contact.
   */
  seenCustomers?: (string | string[])[];
  /** Bound on `seenCustomers` (absent = the default). */
  customerLimit?: number;
  /**
   * Conversations agents are wrapping up after, not yet counted as handled (`PendingHandle`), six slots
   * each: agent id, queue id (null: removed since), talk ms, ended at − now, own wrap-up end − now,
   * conversation id.
   * Absent when there are none, and in snapshots written before handle time included the wrap-up (their
   * conversations were counted when they ended).
   */
  pendingHandles?: (string | number | null)[];
  convs: unknown[];
  recent: ConversationView[];
  recentLimit: number;
  /** Remembered replies by command id, oldest first, with the command's fingerprint (absent before it was kept). */
  dedupe: ([string, Reply] | [string, Reply, number])[];
}

/** Version 1: one named-field object per record. */
export interface StateV1 {
  now: number;
  agentSeq: number;
  convSeq: number;
  config: RoutingConfig;
  agents: AgentRecV1[];
  queues: QueueRec[];
  customers: CustomerConfig[];
  conversations: ConvRecV1[];
  recent: ConversationView[];
  recentLimit: number;
  dedupe: [string, Reply][];
}

interface AgentRecV1 {
  cfg: AgentConfig;
  seq: number;
  presence: Presence;
  wrapUntil: number;
  idleSince: number;
  lastAssignedAt: number;
  consecutiveMisses: number;
  missedTotal: number;
  handled: number;
  handleMsTotal: number;
  onlineMs: number;
  busyMs: number;
  acctAt: number;
}

interface ConvRecV1 {
  id: string;
  seq: number;
  channel: Channel;
  customerId: string;
  valueTier: ValueTier | null;
  priority: number;
  requiredSkills: SkillRequirement[];
  topic: string | null;
  requestedQueueId: string | null;
  queueId: string;
  createdAt: number;
  status: ConversationStatus;
  enqueuedAt: number;
  step: number;
  excluded: string[] | null;
  qord: number;
  answered: boolean;
  agentId: string | null;
  participants: string[];
  offers: string[];
  offerExpiresAt: number;
  reservedFor: string | null;
  reservedUntil: number;
  noticeAt: number;
  lastPosition: number;
  lastEstimateMs: number;
  assignedAt: number;
  outcome: Outcome | null;
  explanation: Explanation | null;
  pending: Explanation | null;
  newCustomer: boolean;
}

/** Interns strings and requirement lists while encoding. */
class Tables {
  readonly strs: string[] = [];
  readonly skills: SkillRequirement[][] = [];
  private readonly strIx = new Map<string, number>();
  private readonly skillIx = new Map<string, number>();

  str(s: string | null | undefined): number {
    if (s === null || s === undefined) return -1;
    let i = this.strIx.get(s);
    if (i === undefined) {
      i = this.strs.push(s) - 1;
      this.strIx.set(s, i);
    }
    return i;
  }

  reqs(r: SkillRequirement[]): number {
    const key = r.length === 0 ? '' : JSON.stringify(r);
    let i = this.skillIx.get(key);
    if (i === undefined) {
      i = this.skills.push(r) - 1;
      this.skillIx.set(key, i);
    }
    return i;
  }
}

/**
 * Captures the partition as fresh containers. Leaves that the engine only ever replaces, never mutates
 * (configs, requirement lists, explanations, outcomes, replies, closed views), are shared, not copied;
 * customers (whose fields are reassigned) and per-conversation id lists (pushed/spliced) are copied.
 */
export function capture(p: Partition, dedupe: ReplyMemo<Reply>): StateV2 {
  const steps = captureSteps(p, dedupe, 0x3fffffff);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** Records (agents, conversations, customers) captured between two yields of `captureSteps`. */
export const CAPTURE_CHUNK = 4096;

/**
 * `capture` a piece at a time: yields after every `chunk` records, returns the state when done. The
 * result is exactly `capture`'s at the first step PROVIDED the partition is not touched until the
 * last: the caller (the host's worker, `sliced-snapshot.ts`) runs other partitions' work between the
 * steps, never this one's. A partition of 1 000 000 waiting conversations takes ~0.7 s to capture,
 * which in one piece stopped every partition of its worker that long.
 */
export function* captureSteps(
  p: Partition,
  dedupe: ReplyMemo<Reply>,
  chunk = CAPTURE_CHUNK,
): Generator<void, StateV2, void> {
  const t = new Tables();
  let left = chunk;
  const agents: unknown[] = new Array(p.agents.size * AGENT_STRIDE);
  let i = 0;
  for (const a of p.agents.values()) {
    agents[i] = a.cfg;
    agents[i + 1] = a.seq;
    agents[i + 2] = t.str(a.presence);
    agents[i + 3] = a.wrapUntil;
    agents[i + 4] = a.idleSince;
    agents[i + 5] = a.lastAssignedAt;
    agents[i + 6] = a.consecutiveMisses;
    agents[i + 7] = a.missedTotal;
    agents[i + 8] = a.handled;
    agents[i + 9] = a.handleMsTotal;
    agents[i + 10] = a.staffedMs;
    agents[i + 11] = a.busyMs;
    agents[i + 12] = a.acctAt;
    i += AGENT_STRIDE;
    if (--left === 0) {
      left = chunk;
      yield;
    }
  }
  const pendingHandles: (string | number | null)[] = [];
  for (const a of p.agents.values()) {
    for (const h of a.pendingHandles) {
      const q = h.queue !== null && p.queues.get(h.queue.id) === h.queue ? h.queue.id : null;
      pendingHandles.push(a.id, q, h.talkMs, h.endedAt - p.now, h.until - p.now, h.conv);
    }
  }
  const queueIx = new Map<Queue, number>();
  const queues: QueueRec[] = [];
  for (const q of p.queues.values()) {
    queueIx.set(q, queues.length);
    queues.push({
      cfg: q.cfg,
      counters: [q.inbound, q.assigned, q.abandoned, q.transferred],
      levelArrivals: q.levelArrivals.slice(),
      window: { head: q.window.head, cells: q.window.cells.slice() },
      slaState: q.slaState,
      overCapacity: q.overCapacity,
      lanes: q.lanes.map((l) => {
        const turns: [string, number][] = [];
        for (const m of l.members) if (m.turn > 0) turns.push([m.agent.id, m.turn]);
        turns.sort((x, y) => compareText(x[0], y[0]));
        return { turnCounter: l.turnCounter, turns };
      }),
    });
  }
  const customers: CustomerConfig[] = [];
  for (const cu of p.customers.configured.values()) customers.push({ ...cu });
  const seenCustomers: (string | string[])[] = new Array(p.customers.seen.size * 2);
  i = 0;
  for (const [id, v] of p.customers.seen) {
    seenCustomers[i++] = id;
    seenCustomers[i++] = typeof v === 'string' ? v : v.slice();
    if (--left === 0) {
      left = chunk;
      yield;
    }
  }
  const convs: unknown[] = new Array(p.convs.size * CONV_STRIDE);
  i = 0;
  for (const c of p.convs.values()) {
    convs[i] = c.id;
    convs[i + 1] = c.seq;
    convs[i + 2] = t.str(c.channel);
    convs[i + 3] = c.customerId;
    convs[i + 4] = t.str(c.valueTier);
    convs[i + 5] = c.priority;
    convs[i + 6] = t.reqs(c.requiredSkills);
    convs[i + 7] = t.str(c.topic);
    convs[i + 8] = t.str(c.requestedQueueId);
    convs[i + 9] = queueIx.get(c.queue)!;
    convs[i + 10] = c.createdAt - p.now;
    convs[i + 11] = t.str(c.status);
    convs[i + 12] = c.enqueuedAt - c.createdAt;
    convs[i + 13] = c.step;
    convs[i + 14] = qordOut(c.qord);
    convs[i + 15] = (c.answered ? 1 : 0) | (c.newCustomer ? 2 : 0) | (c.lastNotice << 2);
    convs[i + 16] = relTime(c.noticeAt, c.createdAt);
    convs[i + 17] = c.lastPosition;
    convs[i + 18] = c.lastEstimateMs;
    convs[i + 19] = extraOf(c);
    i += CONV_STRIDE;
    if (--left === 0) {
      left = chunk;
      yield;
    }
  }
  return {
    now: p.now,
    agentSeq: p.agentSeq,
    convSeq: p.convSeq,
    config: p.config,
    strs: t.strs,
    skills: t.skills,
    agents,
    queues,
    customers,
    seenCustomers,
    customerLimit: p.customers.limit,
    // Left out when empty, so a state without any is written (and digested) as before.
    pendingHandles: pendingHandles.length > 0 ? pendingHandles : undefined,
    convs,
    recent: p.recent.values().map((r) => (r instanceof Conv ? p.view(r, p.now) : r)),
    recentLimit: p.recent.limit,
    dedupe: dedupe.taggedEntries(),
  };
}

/**
 * A time (0 = none) relative to `base`, kept nonzero when set: small offsets parse as small integers,
 * not as the 13-digit epoch milliseconds that JSON.parse would box one by one.
 */
export function relTime(t: number, base: number): number {
  if (t === 0) return 0;
  const d = t - base;
  return d >= 0 ? d + 1 : d;
}

/** Inverse of `relTime`. */
export function absTime(v: number, base: number): number {
  return v === 0 ? 0 : v > 0 ? base + v - 1 : base + v;
}

function extraOf(c: Conv): ConvExtra | 0 {
  const { excluded, agentId, participants, offers, reservedFor, outcome, explanation, pending } = c;
  const { offerExpiresAt, reservedUntil, assignedAt } = c;
  if (
    excluded === null &&
    agentId === null &&
    participants.length === 0 &&
    offers.length === 0 &&
    offerExpiresAt === 0 &&
    reservedFor === null &&
    reservedUntil === 0 &&
    assignedAt === 0 &&
    outcome === null &&
    explanation === null &&
    pending === null
  )
    return 0;
  const x: ConvExtra = [
    excluded === null ? null : excluded.slice(),
    agentId,
    participants.slice(),
    offers.slice(),
    offerExpiresAt,
    reservedFor,
    reservedUntil,
    assignedAt,
    outcome,
    explanation,
    pending,
  ];
  const rule = c.reservedRule;
  if (rule !== null) x.push(rule);
  return x;
}

/** Converts a version 1 state (named-field records) to version 2. */
export function fromV1(s: StateV1): StateV2 {
  const t = new Tables();
  const agents: unknown[] = [];
  for (const r of s.agents) {
    agents.push(r.cfg, r.seq, t.str(r.presence), r.wrapUntil, r.idleSince, r.lastAssignedAt);
    agents.push(
      r.consecutiveMisses,
      r.missedTotal,
      r.handled,
      r.handleMsTotal,
      r.onlineMs,
      r.busyMs,
      r.acctAt,
    );
  }
  const queueIx = new Map(s.queues.map((q, i) => [q.cfg.id, i]));
  const convs: unknown[] = [];
  for (const r of s.conversations) {
    const bare = { ...r, queue: null } as unknown as Conv;
    convs.push(r.id, r.seq, t.str(r.channel), r.customerId, t.str(r.valueTier), r.priority);
    convs.push(t.reqs(r.requiredSkills), t.str(r.topic), t.str(r.requestedQueueId), queueIx.get(r.queueId));
    convs.push(r.createdAt - s.now, t.str(r.status), r.enqueuedAt - r.createdAt, r.step, r.qord);
    const flags = (r.answered ? 1 : 0) | (r.newCustomer ? 2 : 0);
    convs.push(flags, relTime(r.noticeAt, r.createdAt), r.lastPosition, r.lastEstimateMs);
    convs.push(extraOf(bare));
  }
  return { ...s, strs: t.strs, skills: t.skills, agents, convs };
}

/**
 * Rebuilds a partition (and its dedupe memory) from a captured state. The state's ownership transfers
 * to the new partition: its configs, customers, lists and explanations become live engine state and
 * are mutated from then on, so the caller must not use the state object afterwards (a snapshot parsed
 * from JSON or received from another thread is exactly that).
 */
export function rebuild(
  s: StateV2,
  dedupeWindow: number,
  hashSeed = 0,
): { p: Partition; dedupe: ReplyMemo<Reply> } {
  const strs = s.strs;
  const p = new Partition(hashSeed, s.recentLimit);
  p.now = s.now;
  p.agentSeq = s.agentSeq;
  p.convSeq = s.convSeq;
  p.config = s.config;
  const ag = s.agents as number[];
  for (let i = 0; i < ag.length; i += AGENT_STRIDE) {
    const a = new Agent(s.agents[i] as AgentConfig, ag[i + 1]!, ag[i + 4]!, p.agentSlab);
    a.presence = strs[ag[i + 2]!] as Presence;
    a.wrapUntil = ag[i + 3]!;
    a.lastAssignedAt = ag[i + 5]!;
    a.consecutiveMisses = ag[i + 6]!;
    a.missedTotal = ag[i + 7]!;
    a.handled = ag[i + 8]!;
    a.handleMsTotal = small(ag[i + 9]!);
    a.staffedMs = ag[i + 10]!;
    a.busyMs = ag[i + 11]!;
    a.acctAt = ag[i + 12]!;
    p.agents.set(a.id, a);
    p.idsChanged();
    p.indexTier(a, true);
    p.countSkills(a, 1);
    if (a.wrapUntil !== 0) p.wraps.push(a);
  }
  const queues: Queue[] = [];
  for (const r of s.queues) {
    const q = p.makeQueue(r.cfg);
    [q.inbound, q.assigned, q.abandoned, q.transferred] = r.counters;
    q.window.head = r.window.head;
    q.window.cells = r.window.cells;
    const sums = q.window.sums;
    for (let i = 0; i < r.window.cells.length; i++) sums[i % sums.length]! += r.window.cells[i]!;
    q.window.nonEmpty = r.window.cells.some((v) => v !== 0);
    q.slaState = r.slaState;
    q.overCapacity = r.overCapacity;
    p.queues.set(q.id, q);
    p.idsChanged();
    queues.push(q);
  }
  const ph = s.pendingHandles ?? [];
  for (let i = 0; i < ph.length; i += 6) {
    const a = p.agents.get(ph[i] as string);
    if (!a) throw new Error(`engine snapshot: a wrap-up pending for unknown agent "${ph[i]}"`);
    const h: PendingHandle = {
      conv: ph[i + 5] as string,
      queue: ph[i + 1] === null ? null : (p.queues.get(ph[i + 1] as string) ?? null),
      talkMs: ph[i + 2] as number,
      endedAt: s.now + (ph[i + 3] as number),
      until: s.now + (ph[i + 4] as number),
    };
    if (a.pendingHandles === NO_PENDING) a.pendingHandles = [h];
    else a.pendingHandles.push(h);
  }
  for (const r of s.customers) p.customers.configured.set(r.id, r);
  const seen = s.seenCustomers ?? [];
  for (let i = 0; i < seen.length; i += 2) p.customers.restoreSeen(seen[i] as string, seen[i + 1]!);
  if (s.customerLimit !== undefined) p.customers.limit = s.customerLimit;
  const skills = s.skills.map((r) => (r.length === 0 ? NO_SKILLS : r));
  const cv = s.convs as number[];
  const cs = s.convs as string[];
  for (let i = 0; i < cv.length; i += CONV_STRIDE) {
    const q = queues[cv[i + 9]!]!;
    const createdAt = s.now + cv[i + 10]!;
    const c = new Conv(
      cs[i]!,
      cv[i + 1]!,
      strs[cv[i + 2]!] as Channel,
      cs[i + 3]!,
      cv[i + 4] === -1 ? undefined : (strs[cv[i + 4]!] as ValueTier),
      cv[i + 5]!,
      skills[cv[i + 6]!]!,
      cv[i + 7] === -1 ? undefined : strs[cv[i + 7]!],
      cv[i + 8] === -1 ? undefined : strs[cv[i + 8]!],
      q,
      createdAt,
    );
    c.status = strs[cv[i + 11]!] as ConversationStatus;
    c.enqueuedAt = createdAt + cv[i + 12]!;
    c.step = cv[i + 13]!;
    c.qord = qordIn(cv[i + 14]!);
    const flags = cv[i + 15]!;
    c.answered = (flags & 1) !== 0;
    c.newCustomer = (flags & 2) !== 0;
    c.lastNotice = (flags >> 2) & 3;
    c.noticeAt = absTime(cv[i + 16]!, createdAt);
    c.lastPosition = cv[i + 17]!;
    c.lastEstimateMs = cv[i + 18]!;
    const x = s.convs[i + 19] as ConvExtra | 0;
    p.convs.set(c.id, c);
    q.active++;
    if (x === 0) continue;
    c.excluded = x[0];
    if (x[1] !== null) c.agent = mustHaveAgent(p, x[1], c.id);
    c.participants = x[2].length === 0 ? NONE : x[2];
    c.offers = x[3].length === 0 ? NONE : x[3];
    c.offerExpiresAt = x[4];
    c.reservedFor = x[5];
    c.reservedUntil = x[6];
    c.reservedRule = x[11] ?? null;
    c.assignedAt = x[7];
    c.outcome = x[8];
    c.explanation = x[9];
    c.pending = x[10];
    // Loads and per-agent lists are derived from the conversations.
    for (const aid of c.offers) {
      const a = p.agents.get(aid)!;
      a.addLoad(q.ch, 1);
      a.offers.push(c.id);
    }
    for (const aid of c.participants) {
      const a = p.agents.get(aid)!;
      a.addLoad(q.ch, 1);
      a.open++;
    }
    if (c.reservedFor !== null) {
      p.agents.get(c.reservedFor)!.reserve(c);
      q.held.push(c);
    }
  }
  for (const a of p.agents.values()) if (a.reserved.length > 1) a.reserved.sort((x, y) => x.seq - y.seq);
  s.queues.forEach((r, qi) => {
    const q = queues[qi]!;
    p.buildLanes(q);
    q.lanes.forEach((lane, i) => {
      const lr = r.lanes[i];
      if (!lr) return;
      lane.turnCounter = lr.turnCounter;
      const turns = new Map(lr.turns);
      for (const m of lane.members) m.turn = turns.get(m.agent.id) ?? 0;
      lane.pool.rebuild();
    });
  });
  const noticed: Conv[] = [];
  for (const c of p.convs.values()) {
    p.setAdHoc(c);
    if (c.status === 'waiting' && c.reservedFor === null) p.insertWaiting(c, laneOf(c));
    if (c.status === 'waiting') noticed.push(c);
    // Derived like the lines (a set by age: the order pushed does not matter).
    if (c.status === 'offered') {
      c.queue.offered.push(c);
      p.fileRing(c);
    }
    p.reschedule(c);
  }
  // Re-checks fire by time, then seq, so rebuilding the FIFO in that order reproduces the original.
  noticed.sort((a, b) => a.noticeAt - b.noticeAt || a.seq - b.seq);
  for (const c of noticed) {
    p.noticeConvs.push(c);
    p.noticeTimes.push(c.noticeAt);
  }
  s.queues.forEach((r, qi) => {
    const q = queues[qi]!;
    q.levelArrivals = r.levelArrivals;
  });
  for (const v of s.recent) p.recent.set(v.id, v);
  p.recomputeSlaNext();
  const dedupe = new ReplyMemo<Reply>(dedupeWindow, hashSeed);
  for (const [k, v, tag] of s.dedupe) dedupe.set(k, v, tag ?? 0);
  return { p, dedupe };
}

/**
 * `Conv.qord` in a snapshot: −1 = `NO_QORD` (as snapshots written before front re-joins say it), a
 * negative place one lower, others as they are.
 */
function qordOut(q: number): number {
  return q === NO_QORD ? -1 : q < 0 ? q - 1 : q;
}

function qordIn(v: number): number {
  return v === -1 ? NO_QORD : v < -1 ? v + 1 : v;
}

/** The agent an assigned conversation names; a snapshot without it is corrupt (say so, clearly). */
function mustHaveAgent(p: Partition, agentId: string, convId: string): Agent {
  const a = p.agents.get(agentId);
  if (!a)
    throw new Error(`engine snapshot: conversation "${convId}" is assigned to unknown agent "${agentId}"`);
  return a;
}

/**
 * Snapshot = the logical state only, as plain data: configs, presence, counters, conversations, cursors,
 * statistics windows, the dedupe memory. Every index (pools, waiting heaps, timer heaps, loads, member
 * lists, staffing counts) is derived and rebuilt on restore, so a restored engine decides exactly like the
 * original (all heap orders are strict total orders on logical fields).
 */
import { BoundedMap } from './memo.js';
import { Agent, Conv, laneOf, type Queue } from './model.js';
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

export const SNAPSHOT_VERSION = 1;

interface AgentRec {
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

interface QueueRec {
  cfg: QueueConfig;
  counters: [number, number, number, number];
  levelArrivals: number[];
  levelRemovals: number[];
  window: { head: number; cells: number[] };
  slaState: Queue['slaState'];
  overCapacity: boolean;
  /** Per lane: round-robin counter and the non-zero turns by agent id. */
  lanes: { turnCounter: number; turns: [string, number][] }[];
}

interface ConvRec {
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

export interface StateV1 {
  now: number;
  agentSeq: number;
  convSeq: number;
  config: RoutingConfig;
  agents: AgentRec[];
  queues: QueueRec[];
  customers: CustomerConfig[];
  conversations: ConvRec[];
  recent: ConversationView[];
  recentLimit: number;
  dedupe: [string, Reply][];
}

export function capture(p: Partition, dedupe: BoundedMap<Reply>): StateV1 {
  return {
    now: p.now,
    agentSeq: p.agentSeq,
    convSeq: p.convSeq,
    config: p.config,
    agents: [...p.agents.values()].map((a) => ({
      cfg: a.cfg,
      seq: a.seq,
      presence: a.presence,
      wrapUntil: a.wrapUntil,
      idleSince: a.idleSince,
      lastAssignedAt: a.lastAssignedAt,
      consecutiveMisses: a.consecutiveMisses,
      missedTotal: a.missedTotal,
      handled: a.handled,
      handleMsTotal: a.handleMsTotal,
      onlineMs: a.onlineMs,
      busyMs: a.busyMs,
      acctAt: a.acctAt,
    })),
    queues: [...p.queues.values()].map((q) => ({
      cfg: q.cfg,
      counters: [q.inbound, q.assigned, q.abandoned, q.transferred],
      levelArrivals: q.levelArrivals.slice(),
      levelRemovals: q.levelRemovals.slice(),
      window: { head: q.window.head, cells: q.window.cells.slice() },
      slaState: q.slaState,
      overCapacity: q.overCapacity,
      lanes: q.lanes.map((l) => {
        const turns: [string, number][] = [];
        for (const m of l.members) if (m.turn > 0) turns.push([m.agent.id, m.turn]);
        turns.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
        return { turnCounter: l.turnCounter, turns };
      }),
    })),
    customers: [...p.customers.values()],
    conversations: [...p.convs.values()].map((c) => ({
      id: c.id,
      seq: c.seq,
      channel: c.channel,
      customerId: c.customerId,
      valueTier: c.valueTier ?? null,
      priority: c.priority,
      requiredSkills: c.requiredSkills,
      topic: c.topic ?? null,
      requestedQueueId: c.requestedQueueId ?? null,
      queueId: c.queue.id,
      createdAt: c.createdAt,
      status: c.status,
      enqueuedAt: c.enqueuedAt,
      step: c.step,
      excluded: c.excluded,
      qord: c.qord,
      answered: c.answered,
      agentId: c.agentId,
      participants: c.participants,
      offers: c.offers,
      offerExpiresAt: c.offerExpiresAt,
      reservedFor: c.reservedFor,
      reservedUntil: c.reservedUntil,
      noticeAt: c.noticeAt,
      lastPosition: c.lastPosition,
      lastEstimateMs: c.lastEstimateMs,
      assignedAt: c.assignedAt,
      outcome: c.outcome,
      explanation: c.explanation,
      pending: c.pending,
      newCustomer: c.newCustomer,
    })),
    recent: p.recent.values().map((r) => (r instanceof Conv ? p.view(r, p.now) : r)),
    recentLimit: p.recent.limit,
    dedupe: [...dedupe.entries()],
  };
}

/** Rebuilds a partition (and its dedupe memory) from a captured state. Deep-copies its input. */
export function rebuild(input: StateV1, dedupeWindow: number): { p: Partition; dedupe: BoundedMap<Reply> } {
  const s = structuredClone(input);
  const p = new Partition();
  p.now = s.now;
  p.agentSeq = s.agentSeq;
  p.convSeq = s.convSeq;
  p.config = s.config;
  p.recent.limit = s.recentLimit;
  for (const r of s.agents) {
    const a = new Agent(r.cfg, r.seq, r.idleSince);
    a.presence = r.presence;
    a.wrapUntil = r.wrapUntil;
    a.lastAssignedAt = r.lastAssignedAt;
    a.consecutiveMisses = r.consecutiveMisses;
    a.missedTotal = r.missedTotal;
    a.handled = r.handled;
    a.handleMsTotal = r.handleMsTotal;
    a.onlineMs = r.onlineMs;
    a.busyMs = r.busyMs;
    a.acctAt = r.acctAt;
    p.agents.set(a.id, a);
    p.countSkills(a, 1);
    if (a.wrapUntil !== 0) p.wraps.push(a);
  }
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
  }
  for (const r of s.customers) p.customers.set(r.id, r);
  for (const r of s.conversations) {
    const q = p.queues.get(r.queueId)!;
    const c = new Conv(
      r.id,
      r.seq,
      r.channel,
      r.customerId,
      r.valueTier ?? undefined,
      r.priority,
      r.requiredSkills,
      r.topic ?? undefined,
      r.requestedQueueId ?? undefined,
      q,
      r.createdAt,
    );
    c.status = r.status;
    c.enqueuedAt = r.enqueuedAt;
    c.step = r.step;
    c.excluded = r.excluded;
    c.qord = r.qord;
    c.answered = r.answered;
    c.agentId = r.agentId;
    c.participants = r.participants;
    c.offers = r.offers;
    c.offerExpiresAt = r.offerExpiresAt;
    c.reservedFor = r.reservedFor;
    c.reservedUntil = r.reservedUntil;
    c.noticeAt = r.noticeAt;
    c.lastPosition = r.lastPosition;
    c.lastEstimateMs = r.lastEstimateMs;
    c.assignedAt = r.assignedAt;
    c.outcome = r.outcome;
    c.explanation = r.explanation;
    c.pending = r.pending;
    c.newCustomer = r.newCustomer;
    p.convs.set(c.id, c);
    q.active++;
    // Loads and per-agent lists are derived from the conversations.
    for (const aid of c.offers) {
      const a = p.agents.get(aid)!;
      a.load[q.ch]!++;
      a.offers.push(c.id);
    }
    for (const aid of c.participants) {
      const a = p.agents.get(aid)!;
      a.load[q.ch]!++;
      a.convs.push(c.id);
    }
    if (c.reservedFor !== null) p.agents.get(c.reservedFor)!.reserved.push(c);
  }
  for (const a of p.agents.values()) a.reserved.sort((x, y) => x.seq - y.seq);
  const recs = new Map(s.queues.map((r) => [r.cfg.id, r]));
  for (const q of p.queues.values()) {
    p.buildLanes(q);
    const r = recs.get(q.id)!;
    q.lanes.forEach((lane, i) => {
      const lr = r.lanes[i];
      if (!lr) return;
      lane.turnCounter = lr.turnCounter;
      const turns = new Map(lr.turns);
      for (const m of lane.members) m.turn = turns.get(m.agent.id) ?? 0;
      lane.pool.rebuild();
    });
  }
  const noticed: Conv[] = [];
  for (const c of p.convs.values()) {
    p.setAdHoc(c);
    if (c.status === 'waiting' && c.reservedFor === null) p.insertWaiting(c, laneOf(c));
    if (c.status === 'waiting') noticed.push(c);
    p.reschedule(c);
  }
  // Re-checks fire by time, then seq, so rebuilding the FIFO in that order reproduces the original.
  noticed.sort((a, b) => a.noticeAt - b.noticeAt || a.seq - b.seq);
  for (const c of noticed) {
    p.noticeConvs.push(c);
    p.noticeTimes.push(c.noticeAt);
  }
  for (const r of s.queues) {
    const q = p.queues.get(r.cfg.id)!;
    q.levelArrivals = r.levelArrivals;
    q.levelRemovals = r.levelRemovals;
  }
  for (const v of s.recent) p.recent.set(v.id, v);
  p.recomputeSlaNext();
  const dedupe = new BoundedMap<Reply>(dedupeWindow);
  for (const [k, v] of s.dedupe) dedupe.set(k, v);
  return { p, dedupe };
}

/** Read models: statistics and views computed from incremental counters (no scans of conversations). */
import type { PageQuery, PageResult } from './api.js';
import type { Agent, Queue } from './model.js';
import { DEFAULT_AHT_MS, type Partition } from './partition.js';
import type { AgentStats, QueueStats } from './types.js';
import { F } from './window.js';

export function queueStats(p: Partition, q: Queue, at: number): QueueStats {
  const t = Math.max(at, p.now);
  const s = q.window.sumsAt(t);
  let oldest = Number.POSITIVE_INFINITY;
  for (const lane of q.lanes) {
    for (const h of lane.levels) {
      const c = h?.peek();
      if (c && c.enqueuedAt < oldest) oldest = c.enqueuedAt;
    }
  }
  // Held for an agent, or being offered: still waiting for someone to take it.
  for (const line of [q.held, q.offered]) {
    const c = line.peek();
    if (c && c.enqueuedAt < oldest) oldest = c.enqueuedAt;
  }
  const base = q.lanes[0]!;
  const answered = s[F.answered]!;
  const abandoned = s[F.abandoned]!;
  const openSince = p.openSince(q, t);
  const waitingPast = q.waitingPastThreshold(t, false, openSince);
  return {
    queueId: q.id,
    waiting: q.waiting + q.held.size + q.offered.size,
    longestWaitMs: oldest === Number.POSITIVE_INFINITY ? 0 : t - oldest,
    agentsOnline: base.online,
    agentsAvailable: base.pool.size,
    serviceLevel: p.serviceLevel(s, waitingPast),
    waitingPastThreshold: waitingPast,
    averageWaitMs: answered > 0 ? s[F.waitSumMs]! / answered : 0,
    // Both counted when the conversation is resolved (answered or abandoned), so 0–1: arrivals in the
    // window are another cohort (a rate over them exceeds 1 when earlier arrivals leave).
    abandonmentRate: answered + abandoned > 0 ? abandoned / (answered + abandoned) : 0,
    averageHandleMs: s[F.handled]! > 0 ? s[F.handleSumMs]! / s[F.handled]! : 0,
    inbound: q.inbound,
    assigned: q.assigned,
    abandoned: q.abandoned,
    transferred: q.transferred,
    serviceLevelState: q.slaState,
    overCapacity: q.overCapacity,
    open: openSince !== null,
    serviceLevelTarget: q.cfg.serviceLevel.target,
  };
}

export function agentStats(p: Partition, a: Agent, at: number): AgentStats {
  const t = Math.max(at, p.now);
  // As `Agent.accrue` would count the time since its last accrual.
  const dt = Math.max(0, t - a.acctAt);
  const busyNow = a.busy();
  const staffed = a.staffedMs + (busyNow || a.presence === 'online' ? dt : 0);
  const busy = a.busyMs + (busyNow ? dt : 0);
  return {
    agentId: a.id,
    presence: a.presence,
    busy: a.busy(),
    handled: a.handled,
    open: a.open,
    averageHandleMs: a.handled > 0 ? a.handleMsTotal / a.handled : 0,
    missedOffers: a.missedTotal,
    consecutiveMisses: a.consecutiveMisses,
    occupancy: staffed > 0 ? busy / staffed : 0,
    lastAssignedAt: a.lastAssignedAt > 0 ? a.lastAssignedAt : null,
  };
}

/** One page of ids: at most the query's `limit`, and whether more (that `keep` accepts) follow it. */
export interface IdPage {
  ids: string[];
  more: boolean;
}

/**
 * The page of `ids` (in code-unit order) that starts after `q.after` and holds at most `q.limit` of the
 * ids `keep` accepts (all of them without a limit). A binary search finds the start, so a page costs its
 * own length plus the ids `keep` refuses on the way, not the whole list: only this page is built and
 * crosses from the partition's worker to the API.
 */
export function idPage(ids: readonly string[], q: PageQuery, keep?: (id: string) => boolean): IdPage {
  let i = 0;
  const after = q.after;
  if (after !== undefined) {
    let hi = ids.length;
    while (i < hi) {
      const mid = (i + hi) >>> 1;
      if (ids[mid]! <= after) i = mid + 1;
      else hi = mid;
    }
  }
  const limit = q.limit ?? Number.POSITIVE_INFINITY;
  const out: string[] = [];
  for (; i < ids.length; i++) {
    const id = ids[i]!;
    if (keep !== undefined && !keep(id)) continue;
    if (out.length === limit) return { ids: out, more: true };
    out.push(id);
  }
  return { ids: out, more: false };
}

/** What a paged answer adds (`PageResult`): nothing unless the query gave a limit. */
export function pageResult(page: IdPage, q: PageQuery, total: () => number): PageResult {
  if (q.limit === undefined) return {};
  return page.more ? { next: page.ids[page.ids.length - 1]!, total: total() } : { total: total() };
}

export { DEFAULT_AHT_MS };

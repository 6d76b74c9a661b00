/** Read models: statistics and views computed from incremental counters (no scans of conversations). */
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

export { DEFAULT_AHT_MS };

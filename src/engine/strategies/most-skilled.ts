import { idleSince, type RoutingStrategy } from './strategy.js';

/**
 * `most_skilled`: highest summed proficiency on the queue's required skills, then least busy, then
 * longest idle. The score is computed when the agent joins the lane (config time), not per decision.
 */
export const mostSkilled: RoutingStrategy = {
  name: 'most_skilled',
  automatic: true,
  // Score ≤ 64 skills × 10; load < 1024 (capacity is at most 1000).
  key1: (m) => -m.score * 1024 + m.agent.loadOn(m.lane.ch),
  key2: idleSince,
  width: () => 1,
};

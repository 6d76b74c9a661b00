import { byLoadThenIdle, type RoutingStrategy } from './strategy.js';

/**
 * `most_skilled`: highest summed proficiency on the queue's required skills, then least busy, then
 * longest idle. The score is computed when the agent joins the lane (config time), not per decision.
 */
export const mostSkilled: RoutingStrategy = {
  name: 'most_skilled',
  automatic: true,
  compare: (a, b) => (a.score !== b.score ? b.score - a.score : byLoadThenIdle(a, b)),
  width: () => 1,
};

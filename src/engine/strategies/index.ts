/** Strategy registry: one file per strategy; add new ones here. */
import type { StrategyName } from '../types.js';
import { broadcast } from './broadcast.js';
import { leastBusy } from './least-busy.js';
import { longestIdle } from './longest-idle.js';
import { manual } from './manual.js';
import { mostSkilled } from './most-skilled.js';
import { roundRobin } from './round-robin.js';
import type { RoutingStrategy } from './strategy.js';

export type { RoutingStrategy } from './strategy.js';

export const STRATEGIES: Readonly<Record<StrategyName, RoutingStrategy>> = {
  round_robin: roundRobin,
  least_busy: leastBusy,
  longest_idle: longestIdle,
  most_skilled: mostSkilled,
  broadcast,
  manual,
};

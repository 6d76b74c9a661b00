import { idleSince, type RoutingStrategy, zero } from './strategy.js';

/**
 * `longest_idle`: the agent idle the longest. Idle-since is reset when the agent gets work, finishes
 * all work (end of wrap-up) or comes online.
 */
export const longestIdle: RoutingStrategy = {
  name: 'longest_idle',
  automatic: true,
  key1: idleSince,
  key2: zero,
  width: () => 1,
};

import { idleSince, load, type RoutingStrategy } from './strategy.js';

/** `least_busy`: fewest open conversations (offers included), ties to the longest idle. */
export const leastBusy: RoutingStrategy = {
  name: 'least_busy',
  automatic: true,
  key1: load,
  key2: idleSince,
  width: () => 1,
};

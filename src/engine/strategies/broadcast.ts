import { idleSince, load, type RoutingStrategy } from './strategy.js';

/**
 * `broadcast`: offer to up to `broadcastWidth` eligible agents at once (least busy first); the first to
 * accept wins and the other offers are rescinded. Always offers, never assigns directly.
 */
export const broadcast: RoutingStrategy = {
  name: 'broadcast',
  automatic: true,
  key1: load,
  key2: idleSince,
  width: (q) => Math.max(1, q.broadcastWidth),
};

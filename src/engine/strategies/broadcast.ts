import { idleSince, load, type RoutingStrategy, SEARCH_LIMIT } from './strategy.js';

/**
 * `broadcast`: offer to up to `broadcastWidth` eligible agents at once (least busy first); the first to
 * accept wins and the other offers are rescinded. Always offers, never assigns directly.
 * `broadcastWidth: 0` (the default) rings every matching available agent, as the SPEC's "offer to all
 * matching agents" says, up to the engine's search bound (`SEARCH_LIMIT`, 64): ringing more desks adds
 * nothing a contact center would notice, and the walk that finds them must stay bounded.
 */
export const broadcast: RoutingStrategy = {
  name: 'broadcast',
  automatic: true,
  key1: load,
  key2: idleSince,
  width: (q) => (q.broadcastWidth > 0 ? q.broadcastWidth : SEARCH_LIMIT),
};

import { type RoutingStrategy, zero } from './strategy.js';

/**
 * `round_robin`: equal share in turn. Each member remembers the lane's turn counter at its last pick;
 * the lowest turn goes next, so agents rotate in a fixed order and a busy agent keeps its place until it
 * frees up. With `onlineOnly`, an agent who was away or offline rejoins at the back of the rotation
 * instead of catching up (cost-centred teams). The counter and turns are logical state (snapshotted).
 * A conversation a customer rule gives the agent (dedicated or previous agent, at once or after the wait
 * budget, new customer to a newer agent) is a pick too: equal share counts every conversation the agent
 * got from the lane, and newer agents rotate among themselves.
 */
export const roundRobin: RoutingStrategy = {
  name: 'round_robin',
  automatic: true,
  key1: (m) => m.turn,
  key2: zero,
  width: () => 1,
  picked(m) {
    m.turn = ++m.lane.turnCounter;
  },
  returned(m, queue) {
    if (queue.onlineOnly) m.turn = ++m.lane.turnCounter;
  },
};

/**
 * A routing strategy is an order on a lane's available agents plus a few hooks. The engine keeps each
 * lane's pool of available agents in a heap ordered by `compare`, so picking is O(1) and keeping the
 * order is O(log n) per change. A new strategy is one file implementing this interface, registered in
 * `strategies/index.ts`.
 */
import type { Member } from '../model.js';
import type { QueueConfig, StrategyName } from '../types.js';

export interface RoutingStrategy {
  readonly name: StrategyName;
  /** false ⇒ the engine never picks an agent itself; conversations wait for a supervisor's `assign`. */
  readonly automatic: boolean;
  /**
   * Strict total order on members of one lane: negative ⇒ `a` is picked first. Must end on a unique
   * tie-breaker (the agent's sequence number) so decisions never depend on heap layout.
   */
  compare(a: Member, b: Member): number;
  /** How many agents receive an offer at once (1 except for broadcast). */
  width(queue: QueueConfig): number;
  /** Called when the member got work from this lane, before its pool position is refreshed. */
  picked?(m: Member): void;
  /** Called when the member's agent comes back `online` after being away or offline. */
  returned?(m: Member, queue: QueueConfig): void;
}

/** Fewest open conversations on the lane's channel, then longest idle, then first configured. */
export function byLoadThenIdle(a: Member, b: Member): number {
  const ch = a.lane.ch;
  const la = a.agent.load[ch]!;
  const lb = b.agent.load[ch]!;
  if (la !== lb) return la - lb;
  return byIdle(a, b);
}

/** Earliest idle-since first, then the agent configured first. */
export function byIdle(a: Member, b: Member): number {
  const d = a.agent.idleSince - b.agent.idleSince;
  if (d !== 0) return d;
  return a.agent.seq - b.agent.seq;
}

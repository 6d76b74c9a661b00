/**
 * A routing strategy is an order on a lane's available agents plus a few hooks. The engine keeps each
 * lane's pool of available agents in a heap ordered by (`key1`, `key2`, agent sequence number) ascending,
 * so picking is O(1) and keeping the order is O(log n) per change. Keys are numbers so the heap can keep
 * them in typed arrays; they are re-read whenever the agent's load, idle time, turn or skills change.
 * A new strategy is one file implementing this interface, registered in `strategies/index.ts`.
 */
import type { Conv, Lane, Member } from '../model.js';
import type { Explanation, QueueConfig, StrategyName } from '../types.js';

/**
 * Max heap entries examined by a filtered (lazy) search of a pool or a wait line, and the number of desks
 * a `broadcast` queue with `broadcastWidth: 0` rings.
 */
export const SEARCH_LIMIT = 64;

export interface RoutingStrategy {
  readonly name: StrategyName;
  /** false ⇒ the engine never picks an agent itself; conversations wait for a supervisor's `assign`. */
  readonly automatic: boolean;
  /** Primary sort key, lower is picked first. */
  key1(m: Member): number;
  /** Secondary key for ties on `key1` (the agent's sequence number breaks the remaining ties). */
  key2(m: Member): number;
  /** How many agents receive an offer at once (1 except for broadcast). */
  width(queue: QueueConfig): number;
  /** Called when the member got work from this lane, before its pool position is refreshed. */
  picked?(m: Member): void;
  /** Called when the member's agent comes back `online` after being away or offline. */
  returned?(m: Member, queue: QueueConfig): void;
  /**
   * Picks for a conversation with requirements beyond its lane's (`Conv.adHoc`, never null here) when the
   * strategy's order depends on them, which the pool's keys (fixed per lane) cannot know. Without it the
   * first `eligible` member in pool order is taken. Must stay a bounded search: at most `limit` pool
   * entries. `eligible` is the partition's filter (the ad-hoc skills and missed offers).
   */
  pickAdHoc?(lane: Lane, conv: Conv, eligible: (m: Member) => boolean, limit: number): Member | undefined;
  /** Adds what the strategy scored `m` on for `conv` to the explanation of its pick (`most_skilled`). */
  explainPick?(m: Member, conv: Conv, e: Explanation): void;
}

/** Load on the lane's channel: open conversations + pending offers + escalations. */
export function load(m: Member): number {
  return m.agent.loadOn(m.lane.ch);
}

/** When the agent last got work, finished all work or came online (earlier = idle longer). */
export function idleSince(m: Member): number {
  return m.agent.idleSince;
}

export function zero(): number {
  return 0;
}

/**
 * Conversations of a queue that wait outside its lines — held for a previous or dedicated agent
 * (`Queue.held`) or ringing at one or more desks (`Queue.offered`) — as far as the queue's statistics
 * need them: how many, how many waited past the service-level threshold, and the oldest. No line order is
 * needed (nobody takes them from here in order), and they leave in any order: offers go out by priority
 * and are accepted, rejected or time out whenever; so no FIFO that would fill with holes, no walk.
 *
 *   young: min-heap by (enqueuedAt, seq) of those that joined at or after the last cutoff (not yet past)
 *   past:  min-heap by (enqueuedAt, seq) of those that joined before it, and `pastCount` of them
 *          not already `answered`
 *
 * `countPast(cutoff, keep)` with `keep` moves the young ones the cutoff (now − threshold, never
 * decreasing between such calls; a threshold change rebuilds the set) has passed over to `past`: each once,
 * O(log n) each, so amortised O(log n) per conversation. Push and remove are O(log n); the oldest is the
 * top of `past`, else of `young`. The heaps hold exactly what is in the set, so memory follows the set's
 * size, not the traffic through it. Positions: `c.hpos` in `young`, `c.fpos` in `past` (the lane lines'
 * fields: a conversation in this set is in no lane line). Derived from the conversations, never
 * snapshotted; a restore pushes them again.
 */
import { IndexedHeap } from './heap.js';
import type { Conv } from './model.js';
import { AGE_ORDER, countBefore } from './wait-line.js';

export class WaitSet {
  private readonly young = new IndexedHeap<Conv>(
    AGE_ORDER,
    (c) => c.hpos,
    (c, i) => {
      c.hpos = i;
    },
  );
  private readonly past = new IndexedHeap<Conv>(
    AGE_ORDER,
    (c) => c.fpos,
    (c, i) => {
      c.fpos = i;
    },
  );
  /** Conversations in `past` not already `answered` (which does not change while one is in the set). */
  private pastCount = 0;
  /** The last cutoff `countPast` kept (everything in `past` joined before it, all in `young` at or after). */
  private cutoff = Number.NEGATIVE_INFINITY;

  get size(): number {
    return this.young.size + this.past.size;
  }

  push(c: Conv): void {
    // A set rebuilt from `all()` of the one it replaces (a threshold change) gets conversations whose
    // position fields still point into the old heaps: clear both (the lane lines read `fpos` too).
    c.hpos = -1;
    c.fpos = -1;
    if (c.enqueuedAt < this.cutoff) {
      // Joined long ago (a conversation keeps its age when offered again): past the cutoff already.
      this.past.push(c);
      if (!c.answered) this.pastCount++;
    } else {
      this.young.push(c);
    }
  }

  remove(c: Conv): void {
    if (this.past.remove(c)) {
      if (!c.answered) this.pastCount--;
    } else {
      this.young.remove(c);
    }
  }

  /** The conversation that has waited longest (smallest enqueuedAt, then seq). */
  peek(): Conv | undefined {
    return this.past.peek() ?? this.young.peek();
  }

  /**
   * How many joined before `cutoff` and are not already `answered` in the queue (see
   * `WaitLine.countPast`). With `keep` (the engine's now − threshold: never decreasing between such
   * calls) the passed ones move to `past`: amortised O(log n). Without (a query, maybe ahead of the
   * engine's time, changing nothing) the young ones passed are counted by a walk of what it passes.
   */
  countPast(cutoff: number, keep: boolean): number {
    if (!keep) {
      const items = this.young.items;
      return this.pastCount + (items.length > 0 ? countBefore(items, 0, cutoff) : 0);
    }
    const young = this.young;
    while (young.size > 0 && young.topK1() < cutoff) {
      const c = young.pop()!;
      this.past.push(c);
      if (!c.answered) this.pastCount++;
    }
    if (cutoff > this.cutoff) this.cutoff = cutoff;
    return this.pastCount;
  }

  /** Every conversation in the set (unordered). */
  all(): Conv[] {
    return [...this.past.items, ...this.young.items];
  }
}

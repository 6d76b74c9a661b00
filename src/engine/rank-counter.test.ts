import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RankCounter } from './rank-counter.js';

/** The same multiset kept as a plain sorted array: the counter must answer what this answers. */
function naiveBelow(keys: readonly number[], key: number): number {
  return keys.filter((k) => k < key).length;
}

describe('RankCounter (exact places in a waiting line)', () => {
  it('answers like a sorted list through adds, removals and queries, keys near and far apart', () => {
    // Keys mix a FIFO's pattern (rising at the back, leaving at the front) with far jumps (one customer
    // waiting while millions pass), negatives (front re-joins) and, through the base, values past 2^31 (a
    // long-lived partition's arrival numbers). One line's keys never lie further apart than its arrivals.
    const delta = fc.oneof(
      fc.integer({ min: -3000, max: 3000 }),
      fc.integer({ min: -(2 ** 22), max: 2 ** 22 }),
      fc.constantFrom(-1, 0, 1023, 1024, -1024, -1025),
    );
    const op = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), delta }),
      fc.record({ kind: fc.constant('removeAt' as const), index: fc.nat() }),
      fc.record({ kind: fc.constant('below' as const), delta }),
    );
    fc.assert(
      fc.property(
        fc.constantFrom(0, 2 ** 31 - 700, 2 ** 40),
        fc.array(op, { maxLength: 200 }),
        (base, ops) => {
          const rc = new RankCounter();
          const live: number[] = [];
          for (const o of ops) {
            if (o.kind === 'add') {
              rc.add(base + o.delta);
              live.push(base + o.delta);
            } else if (o.kind === 'removeAt') {
              if (live.length === 0) continue;
              const [k] = live.splice(o.index % live.length, 1);
              rc.remove(k!);
            } else {
              expect(rc.below(base + o.delta)).toBe(naiveBelow(live, base + o.delta));
            }
            expect(rc.size).toBe(live.length);
            if (live.length > 0) expect(rc.min()).toBe(Math.min(...live));
          }
          for (const k of live) expect(rc.below(k)).toBe(naiveBelow(live, k));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('gives a customer the same place whether people leave ahead of or behind them', () => {
    const rc = new RankCounter();
    for (let k = 0; k < 10; k++) rc.add(k);
    expect(rc.below(5)).toBe(5);
    rc.remove(9);
    rc.remove(8);
    expect(rc.below(5)).toBe(5);
    rc.remove(0);
    expect(rc.below(5)).toBe(4);
  });

  it('refuses to remove a key that is not live, naming it', () => {
    const rc = new RankCounter();
    rc.add(7);
    expect(() => rc.remove(8)).toThrow(/key 8 is not live/);
    rc.remove(7);
    expect(() => rc.remove(7)).toThrow(/key 7 is not live/);
  });

  it('keeps its tree small when one old key stays while millions of others pass', () => {
    const rc = new RankCounter();
    rc.add(0);
    for (let k = 1; k < 3_000_000; k++) {
      rc.add(k);
      if (k > 10) rc.remove(k - 10);
    }
    expect(rc.size).toBe(11);
    expect(rc.below(2_999_999)).toBe(10);
    expect(rc.min()).toBe(0);
    // 3 million keys apart span ~2 900 blocks: the tree covers a few thousand numbers, not millions.
    expect((rc as unknown as { tree: Int32Array }).tree.length).toBeLessThan(10_000);
  });
});

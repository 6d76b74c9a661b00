import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReplyMemo } from './memo.js';

describe('dedupe memory (ReplyMemo)', () => {
  it('remembers exactly the last `limit` command ids, oldest first, like a plain list would', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        // Few distinct characters: many hash collisions and long probe runs.
        fc.array(fc.stringMatching(/^[ab]{0,6}$/), { maxLength: 300 }),
        (limit, raw) => {
          const memo = new ReplyMemo<number>(limit);
          const ref: [string, number][] = [];
          raw.forEach((k, n) => {
            // Callers never add an id they still remember (a duplicate is answered, not added).
            if (ref.some(([x]) => x === k)) {
              expect(memo.get(k)).toBe(ref.find(([x]) => x === k)![1]);
              return;
            }
            expect(memo.get(k)).toBeUndefined();
            memo.set(k, n);
            ref.push([k, n]);
            if (ref.length > limit) ref.shift();
            for (const [x, v] of ref) expect(memo.get(x)).toBe(v);
            expect(memo.entries()).toEqual(ref);
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses a window that is not a positive integer', () => {
    expect(() => new ReplyMemo(0)).toThrow(/positive integer/);
    expect(() => new ReplyMemo(1.5)).toThrow(/positive integer/);
  });
});

import { describe, expect, it } from 'vitest';
import type { Conv } from './model.js';
import { WaitLine } from './wait-line.js';

function fake(seq: number, enqueuedAt: number): Conv {
  return {
    enqueuedAt,
    seq,
    answered: false,
    adHoc: null,
    excluded: null,
    hpos: -1,
    fpos: -1,
  } as unknown as Conv;
}

describe('WaitLine', () => {
  it('a front that stays while later ones leave from behind it does not grow the line (r5)', () => {
    const line = new WaitLine();
    const stuck = fake(0, 0); // nobody can take it yet
    line.push(stuck);
    const counted: Conv[] = [];
    for (let i = 1; i <= 50_000; i++) {
      const c = fake(i, i * 10);
      line.push(c);
      // Every tenth one stays a while (counted past the threshold), the others are taken at once.
      if (i % 10 === 0) counted.push(c);
      else line.remove(c);
      if (i % 1000 === 0) {
        // The past-threshold cursor survives compaction: brute force agrees.
        const cutoff = i * 10 - 2000;
        const brute = 1 + counted.filter((x) => x.enqueuedAt < cutoff).length;
        expect(line.countPast(cutoff, true)).toBe(brute);
        // Those waiting long enough leave; the count follows.
        while (counted.length > 0 && counted[0]!.enqueuedAt <= i * 10 - 5000) line.remove(counted.shift()!);
        expect(line.countPast(cutoff, true)).toBe(1 + counted.filter((x) => x.enqueuedAt < cutoff).length);
      }
    }
    expect(line.size).toBe(1 + counted.length);
    expect(line.peek()).toBe(stuck);
    expect(line.firstInOrder(3)).toEqual([stuck, ...counted.slice(0, 2)]);
    const slots = (line as unknown as { fifo: unknown[] }).fifo.length;
    expect(slots).toBeLessThan(4 * 1024);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DenseHeap } from './dense-heap.js';

interface Item {
  id: number;
  k1: number;
  k2: number;
}

const order = (x: Item, y: Item) => x.k1 - y.k1 || x.k2 - y.k2 || x.id - y.id;

describe('DenseHeap (agent pools)', () => {
  it('keeps strategy order through pushes, removals and key changes, and finds the best matches', () => {
    const cmd = fc.record({
      kind: fc.constantFrom('push', 'remove', 'update'),
      id: fc.integer({ min: 0, max: 40 }),
      // Few key values: ties on k1 and k2 are the norm (loads 0..3, equal idle times).
      k1: fc.integer({ min: 0, max: 3 }),
      k2: fc.integer({ min: 0, max: 3 }),
    });
    fc.assert(
      fc.property(fc.array(cmd, { maxLength: 300 }), (cmds) => {
        const items = new Map<number, Item>();
        const heap = new DenseHeap<Item>({ k1: (x) => x.k1, k2: (x) => x.k2, tie: (x) => x.id }, (x) => x.id);
        const inHeap = new Set<number>();
        for (const c of cmds) {
          const it = items.get(c.id) ?? { id: c.id, k1: c.k1, k2: c.k2 };
          items.set(c.id, it);
          if (c.kind === 'push' && !inHeap.has(c.id)) {
            it.k1 = c.k1;
            it.k2 = c.k2;
            heap.push(it);
            inHeap.add(c.id);
          } else if (c.kind === 'remove') {
            expect(heap.remove(it)).toBe(inHeap.delete(c.id));
          } else if (c.kind === 'update') {
            it.k1 = c.k1;
            it.k2 = c.k2;
            heap.update(it);
          }
          const sorted = [...inHeap].map((id) => items.get(id)!).sort(order);
          expect(heap.size).toBe(sorted.length);
          expect(heap.peek()).toBe(sorted[0]);
          for (const x of items.values()) expect(heap.has(x)).toBe(inHeap.has(x.id));
          const odd = (x: Item) => x.id % 2 === 1;
          expect(heap.findTop(odd, 3, 1000)).toEqual(sorted.filter(odd).slice(0, 3));
        }
        heap.rebuild();
        expect(heap.items.sort(order)).toEqual([...inHeap].map((id) => items.get(id)!).sort(order));
      }),
      { numRuns: 300 },
    );
  });
});

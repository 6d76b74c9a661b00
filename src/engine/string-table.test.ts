import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StringTable } from './string-table.js';

type Op = { kind: 'set' | 'get' | 'delete'; key: string; v: number };

const op = fc.record({
  kind: fc.constantFrom<Op['kind']>('set', 'set', 'get', 'delete'),
  // Few distinct short keys: long probe runs, frequent re-insertion after delete.
  key: fc.stringMatching(/^[abc]{0,5}$/),
  v: fc.integer(),
});

describe('StringTable (the big tables: conversations, customers)', () => {
  it('behaves as a Map: same answers, same insertion order, same oldest key, through compactions', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), fc.integer({ min: 0, max: 8 }), (ops, minDead) => {
        const t = new StringTable<number>(minDead);
        const m = new Map<string, number>();
        for (const o of ops) {
          if (o.kind === 'set') {
            t.set(o.key, o.v);
            m.set(o.key, o.v);
          } else if (o.kind === 'get') expect(t.get(o.key)).toBe(m.get(o.key));
          else expect(t.delete(o.key)).toBe(m.delete(o.key));
          expect(t.size).toBe(m.size);
          expect(t.oldest()).toBe(m.keys().next().value);
        }
        expect([...t.entries()]).toEqual([...m.entries()]);
        expect([...t.values()]).toEqual([...m.values()]);
        for (const k of m.keys()) expect(t.has(k)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps a million-entry churn exact (ids as the engine sees them)', () => {
    const t = new StringTable<number>();
    const m = new Map<string, number>();
    for (let i = 0; i < 200_000; i++) {
      t.set(`c${i}`, i);
      m.set(`c${i}`, i);
      if (i % 3 !== 0) {
        const k = `c${(i * 7919) % (i + 1)}`;
        expect(t.delete(k)).toBe(m.delete(k));
      }
    }
    expect(t.size).toBe(m.size);
    expect([...t.entries()]).toEqual([...m.entries()]);
  });
});

import { describe, expect, it } from 'vitest';
import { GOLDEN_PARTITION, generateDay } from '../../test/golden/generate.js';
import { createEngine, restoreEngine } from './index.js';

describe('hashSeed (the id tables are hashed with a per-host secret)', () => {
  it('changes no reply, event, snapshot or digest over a whole recorded day, through a restore', () => {
    const log = generateDay(createEngine(GOLDEN_PARTITION));
    const a = createEngine(GOLDEN_PARTITION);
    const b = createEngine(GOLDEN_PARTITION, { hashSeed: 0x5eed1234 });
    const half = log.length >> 1;
    for (const env of log.slice(0, half)) expect(b.apply(env)).toEqual(a.apply(env));
    const c = restoreEngine(JSON.parse(JSON.stringify(b.snapshot())), { hashSeed: -77 });
    for (const env of log.slice(half)) {
      const ra = a.apply(env);
      expect(b.apply(env)).toEqual(ra);
      expect(c.apply(env)).toEqual(ra);
    }
    expect(b.digest()).toBe(a.digest());
    expect(c.digest()).toBe(a.digest());
    expect(JSON.stringify(c.snapshot())).toBe(JSON.stringify(a.snapshot()));
  });

  it('refuses a seed that is not an integer', () => {
    expect(() => createEngine('t', { hashSeed: 0.5 })).toThrow(/hashSeed/);
  });
});

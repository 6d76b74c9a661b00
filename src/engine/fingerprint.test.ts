import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fingerprint } from './fingerprint.js';

describe('command fingerprints', () => {
  it('the same content gives the same fingerprint whatever the key order, undefined fields, or a JSON round trip', () => {
    const a = {
      type: 'upsert_agent',
      agent: { id: 'zed', name: 'Zed', tier: 1, skills: [{ skill: 'fr', level: 5 }] },
    };
    const b = {
      agent: { skills: [{ level: 5, skill: 'fr' }], tier: 1, name: 'Zed', id: 'zed', note: undefined },
      type: 'upsert_agent',
    };
    expect(fingerprint(b)).toBe(fingerprint(a));
    expect(fingerprint(JSON.parse(JSON.stringify(a)))).toBe(fingerprint(a));
    fc.assert(
      fc.property(fc.jsonValue(), (v) => fingerprint(JSON.parse(JSON.stringify(v))) === fingerprint(v)),
    );
  });

  it('different content gives a different fingerprint: values, array order, types, nesting', () => {
    const base = { type: 'enqueue', conversation: { id: 'c1', priority: 0, tags: ['a', 'b'], vip: false } };
    const variants = [
      { ...base, conversation: { ...base.conversation, priority: 1 } },
      { ...base, conversation: { ...base.conversation, tags: ['b', 'a'] } },
      { ...base, conversation: { ...base.conversation, vip: true } },
      { ...base, conversation: { ...base.conversation, priority: '0' } },
      { ...base, conversation: { ...base.conversation, id: 'c2' } },
      { ...base, conversation: { ...base.conversation, extra: null } },
      { ...base, type: 'cancel' },
    ];
    const seen = new Set([fingerprint(base), ...variants.map(fingerprint)]);
    expect(seen.size).toBe(variants.length + 1);
  });

  it('is never 0 (0 marks entries remembered without one)', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => fingerprint(v) !== 0));
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fingerprint, fingerprintAsListed, matchesFingerprint } from './fingerprint.js';

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

  it("an enqueue's required skills are a set: any order gives one fingerprint; levels still count", () => {
    const enq = (skills: [string, number][]) => ({
      type: 'enqueue',
      conversation: { id: 'c1', requiredSkills: skills.map(([skill, minLevel]) => ({ skill, minLevel })) },
    });
    const sorted = enq([
      ['billing', 3],
      ['lang:fr', 8],
      ['vip', 1],
    ]);
    for (const order of [
      enq([
        ['lang:fr', 8],
        ['billing', 3],
        ['vip', 1],
      ]),
      enq([
        ['vip', 1],
        ['lang:fr', 8],
        ['billing', 3],
      ]),
    ])
      expect(fingerprint(order)).toBe(fingerprint(sorted));
    expect(
      fingerprint(
        enq([
          ['lang:fr', 8],
          ['billing', 4],
          ['vip', 1],
        ]),
      ),
    ).not.toBe(fingerprint(sorted));
    // A sorted list hashes as before, so what earlier versions remembered for it still matches.
    expect(fingerprint(sorted)).toBe(fingerprintAsListed(sorted));
    // Remembered by an earlier version as listed (unsorted): its retry is still recognised.
    const listed = enq([
      ['vip', 1],
      ['billing', 3],
    ]);
    expect(fingerprintAsListed(listed)).not.toBe(fingerprint(listed));
    expect(matchesFingerprint(fingerprintAsListed(listed), listed)).toBe(true);
    expect(
      matchesFingerprint(
        fingerprint(listed),
        enq([
          ['billing', 3],
          ['vip', 1],
        ]),
      ),
    ).toBe(true);
    expect(
      matchesFingerprint(
        fingerprint(listed),
        enq([
          ['billing', 3],
          ['vip', 2],
        ]),
      ),
    ).toBe(false);
  });

  it('is never 0 (0 marks entries remembered without one)', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => fingerprint(v) !== 0));
  });
});

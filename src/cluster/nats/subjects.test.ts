import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { commandSubject, eventSubject, idToken, tokenToId } from './subjects.js';

describe('tenant ids as NATS subject tokens', () => {
  it('keeps plain ids readable and escapes what would split or wildcard a subject', () => {
    expect(idToken('acme')).toBe('acme');
    expect(idToken('acme-eu_2')).toBe('acme-eu_2');
    expect(idToken('acme.eu')).toBe('acme=2eeu');
    expect(idToken('a b>*')).toBe('a=20b=3e=2a');
    expect(idToken('café')).toBe('caf=c3=a9');
    expect(idToken('')).toBe('=');
    expect(idToken('_')).toBe('=5f');
    expect(commandSubject('acme.eu')).toBe('sb.cmd.acme=2eeu');
  });

  it('keeps a leading U+FEFF (a decoder would drop it as a byte order mark): found by the property below', () => {
    for (const id of ['\ufeff', '\ufeffacme', 'a\ufeff']) expect(tokenToId(idToken(id))).toBe(id);
    expect(idToken('\ufeff')).not.toBe(idToken(''));
  });

  it('is reversible and injective for any tenant id, and never yields a subject separator or wildcard', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
        const ta = idToken(a);
        expect(tokenToId(ta)).toBe(a);
        expect(ta).toMatch(/^[A-Za-z0-9_=-]+$/);
        if (a !== b) expect(idToken(b)).not.toBe(ta);
      }),
      { numRuns: Number(process.env.SB_PROPERTY_RUNS ?? 2000) },
    );
  });

  it("puts a tenant's event batches on one subject of their own", () => {
    expect(eventSubject('acme')).toBe('sb.evt.acme');
    expect(eventSubject('acme.eu')).toBe('sb.evt.acme=2eeu');
  });
});

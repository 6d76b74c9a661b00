import { describe, expect, it } from 'vitest';
import { TenantAuth } from './auth.js';

const code = (f: () => void): string | null => {
  try {
    f();
    return null;
  } catch (e) {
    return (e as { code: string }).code;
  }
};

describe('TenantAuth', () => {
  const auth = new TenantAuth({ tokens: { acme: ['old', 'new'], globex: 'glx' }, adminToken: 'root' });

  it('follows the table: admin everywhere, a tenant token on its tenant only, anything else refused', () => {
    expect(code(() => auth.check('root', 'acme'))).toBeNull();
    expect(code(() => auth.check('root', 'never-configured'))).toBeNull();
    expect(code(() => auth.check('old', 'acme'))).toBeNull();
    expect(code(() => auth.check('new', 'acme'))).toBeNull();
    expect(code(() => auth.check('glx', 'acme'))).toBe('SB_ERR_PERMISSION_DENIED');
    expect(code(() => auth.check('ol', 'acme'))).toBe('SB_ERR_UNAUTHENTICATED');
    expect(code(() => auth.check('rootx', 'acme'))).toBe('SB_ERR_UNAUTHENTICATED');
    expect(code(() => auth.check(undefined, 'acme'))).toBe('SB_ERR_UNAUTHENTICATED');
    expect(code(() => auth.check('', 'acme'))).toBe('SB_ERR_UNAUTHENTICATED');
    expect(code(() => auth.authenticate('glx'))).toBeNull();
    expect(code(() => auth.authenticate('root'))).toBeNull();
    expect(code(() => auth.authenticate('nope'))).toBe('SB_ERR_UNAUTHENTICATED');
  });

  it('without an admin token a tenant token still opens its own tenant only', () => {
    const a = new TenantAuth({ tokens: { t: 'tok' } });
    expect(code(() => a.check('tok', 't'))).toBeNull();
    expect(code(() => a.check('tok', 'u'))).toBe('SB_ERR_PERMISSION_DENIED');
  });

  it('one token for two tenants is a configuration error; no token at all turns auth off', () => {
    expect(() => new TenantAuth({ tokens: { a: 'same', b: 'same' } })).toThrow(/both tenant "a" and "b"/);
    const off = new TenantAuth({ tokens: {} });
    expect(off.enabled).toBe(false);
    expect(code(() => off.check(undefined, 'any'))).toBeNull();
  });

  it('tokens listed for the tenant "*" are admin tokens (two during a rotation), beside --admin-token', () => {
    const a = new TenantAuth({ tokens: { '*': ['adm-old', 'adm-new'], acme: 'a' }, adminToken: 'root' });
    for (const t of ['adm-old', 'adm-new', 'root']) {
      expect(code(() => a.check(t, 'acme'))).toBeNull();
      expect(code(() => a.check(t, 'globex'))).toBeNull();
      expect(a.principal(t)).toBe('admin');
    }
    expect(a.principal('a')).toBe('tenant');
    expect(code(() => a.check('a', 'globex'))).toBe('SB_ERR_PERMISSION_DENIED');
    expect(new TenantAuth({ tokens: { '*': 'x' } }).enabled).toBe(true);
    expect(() => new TenantAuth({ tokens: { '*': 'same', acme: 'same' } })).toThrow(
      /admin and for tenant "acme"/,
    );
  });
});

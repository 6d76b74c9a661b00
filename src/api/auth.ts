/**
 * Tenant authorisation. Each tenant has its own API token (two while one is being rotated: both work);
 * the admin token opens every tenant. With no token configured at all, auth is off (the node logs a
 * warning at start-up).
 *
 * | token given            | result              |
 * |------------------------|---------------------|
 * | none (auth on)         | UNAUTHENTICATED     |
 * | unknown token          | UNAUTHENTICATED     |
 * | admin token            | allowed             |
 * | this tenant's token    | allowed             |
 * | another tenant's token | PERMISSION_DENIED   |
 *
 * DeleteTenant takes the admin token only (a tenant's own token: PERMISSION_DENIED).
 */
import { hash } from 'node:crypto';
import { SwitchboardError } from '../errors/catalogue.js';

/**
 * Tokens are kept and looked up by their SHA-256, never compared as strings: a string comparison or a
 * hash-map probe on the token itself takes longer the more leading characters match, which a caller
 * timing many guesses could use to learn a token piece by piece. Timing a comparison of digests only
 * tells how much of a digest matched, which says nothing about the token. `crypto.hash` is the one-shot
 * form (~0.65 µs per call here against ~1.5 µs for `createHash`).
 */
function digest(token: string): string {
  return hash('sha256', token, 'base64');
}

export interface AuthConfig {
  /** tenant → its tokens (a single string or, during a rotation, the old and the new one). */
  tokens: Record<string, string | readonly string[]>;
  adminToken?: string;
}

/**
 * The tenant name under which a token list gives admin tokens (`*=token`): not a valid tenant id, so no
 * tenant can be called that.
 */
export const ADMIN_TENANT = '*';

/** What `lookup` returns for the admin token (not a string, so no tenant can be named like it). */
const ADMIN: unique symbol = Symbol('admin');

export class TenantAuth {
  /** SHA-256 of a token (base64) → tenant: one map lookup per call, whatever the number of tenants. */
  private readonly tenantByToken = new Map<string, string>();
  /** Admin tokens: `adminToken`, and those listed for the tenant `*` (rotated like any other token). */
  private readonly adminDigests = new Set<string>();
  /** False when no token is configured: every call is allowed. */
  readonly enabled: boolean;

  constructor(cfg: AuthConfig) {
    for (const [tenant, given] of Object.entries(cfg.tokens)) {
      for (const token of typeof given === 'string' ? [given] : given) {
        if (token.length === 0) continue;
        const key = digest(token);
        if (tenant === ADMIN_TENANT) {
          this.adminDigests.add(key);
          continue;
        }
        const other = this.tenantByToken.get(key);
        if (other !== undefined && other !== tenant) {
          throw new Error(`one API token is configured for both tenant "${other}" and "${tenant}"`);
        }
        this.tenantByToken.set(key, tenant);
      }
    }
    if (cfg.adminToken !== undefined && cfg.adminToken.length > 0)
      this.adminDigests.add(digest(cfg.adminToken));
    for (const d of this.adminDigests) {
      const tenant = this.tenantByToken.get(d);
      if (tenant !== undefined)
        throw new Error(`one API token is configured as admin and for tenant "${tenant}"`);
    }
    this.enabled = this.tenantByToken.size > 0 || this.adminDigests.size > 0;
  }

  /** The token's tenant, `admin` for the admin token, or undefined for an unknown token. */
  private lookup(token: string): string | typeof ADMIN | undefined {
    const d = digest(token);
    if (this.adminDigests.has(d)) return ADMIN;
    return this.tenantByToken.get(d);
  }

  /**
   * Throws UNAUTHENTICATED unless the token is known (or auth is off). For requests whose tenant cannot
   * be read (undecodable bytes, bad JSON): an anonymous caller learns nothing about the request format.
   */
  authenticate(token: string | undefined): void {
    if (!this.enabled) return;
    if (token === undefined || token.length === 0) {
      throw new SwitchboardError(
        'SB_ERR_UNAUTHENTICATED',
        'missing API token: send "authorization: Bearer <token>"',
      );
    }
    if (this.lookup(token) === undefined) {
      throw new SwitchboardError('SB_ERR_UNAUTHENTICATED', 'unknown API token');
    }
  }

  /** Who a (valid) token speaks for, for the audit log: `admin`, `tenant`, or `open` with auth off. */
  principal(token: string | undefined): 'admin' | 'tenant' | 'open' | 'unknown' {
    if (!this.enabled) return 'open';
    if (token === undefined || token === '') return 'unknown';
    const who = this.lookup(token);
    return who === ADMIN ? 'admin' : who === undefined ? 'unknown' : 'tenant';
  }

  /**
   * The token first, then the tenant: throws UNAUTHENTICATED for a missing or unknown token before
   * `tenantOf` validates the request's tenant (a plain function: no closure per call), so an unknown caller learns nothing about the
   * request format — over gRPC as over HTTP — then PERMISSION_DENIED unless the token may act on it.
   * One token lookup per call.
   */
  authorise(token: string | undefined, rawTenant: string, tenantOf: (raw: string) => string): string {
    if (!this.enabled) return tenantOf(rawTenant);
    const owner = this.ownerOf(token);
    const tenant = tenantOf(rawTenant);
    if (owner !== ADMIN && owner !== tenant) {
      throw new SwitchboardError(
        'SB_ERR_PERMISSION_DENIED',
        `the token does not grant access to tenant "${tenant}"`,
        'tenant',
      );
    }
    return tenant;
  }

  /**
   * Like `authorise`, for calls only an admin token may make (DeleteTenant): a tenant's own token gets
   * PERMISSION_DENIED too. With authentication off, every call is allowed.
   */
  authoriseAdmin(
    token: string | undefined,
    rawTenant: string,
    tenantOf: (raw: string) => string,
    what: string,
  ): string {
    if (!this.enabled) return tenantOf(rawTenant);
    const owner = this.ownerOf(token);
    const tenant = tenantOf(rawTenant);
    if (owner !== ADMIN) {
      throw new SwitchboardError('SB_ERR_PERMISSION_DENIED', `${what} needs an admin token`, 'tenant');
    }
    return tenant;
  }

  /** Whom the token speaks for (a tenant id or ADMIN); UNAUTHENTICATED when it is missing or unknown. */
  private ownerOf(token: string | undefined): string | typeof ADMIN {
    if (token === undefined || token.length === 0) {
      throw new SwitchboardError(
        'SB_ERR_UNAUTHENTICATED',
        'missing API token: send "authorization: Bearer <token>"',
      );
    }
    const owner = this.lookup(token);
    if (owner === undefined) throw new SwitchboardError('SB_ERR_UNAUTHENTICATED', 'unknown API token');
    return owner;
  }

  /** Throws UNAUTHENTICATED / PERMISSION_DENIED unless `token` may act on `tenant`. */
  check(token: string | undefined, tenant: string): void {
    if (!this.enabled) return;
    if (token === undefined || token.length === 0) {
      throw new SwitchboardError(
        'SB_ERR_UNAUTHENTICATED',
        'missing API token: send "authorization: Bearer <token>"',
      );
    }
    const owner = this.lookup(token);
    if (owner === ADMIN) return;
    if (owner === undefined) throw new SwitchboardError('SB_ERR_UNAUTHENTICATED', 'unknown API token');
    if (owner !== tenant) {
      throw new SwitchboardError(
        'SB_ERR_PERMISSION_DENIED',
        `the token does not grant access to tenant "${tenant}"`,
        'tenant',
      );
    }
  }
}

/** `Bearer abc` → `abc`; anything else → undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (header.length > 7 && header.slice(0, 7).toLowerCase() === 'bearer ') return header.slice(7).trim();
  return undefined;
}

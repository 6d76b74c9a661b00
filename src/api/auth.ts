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
 */
import { SwitchboardError } from '../errors/catalogue.js';

export interface AuthConfig {
  /** tenant → its tokens (a single string or, during a rotation, the old and the new one). */
  tokens: Record<string, string | readonly string[]>;
  adminToken?: string;
}

export class TenantAuth {
  /** token → tenant: one map lookup per call, whatever the number of tenants. */
  private readonly tenantByToken = new Map<string, string>();
  private readonly adminToken: string | undefined;
  /** False when no token is configured: every call is allowed. */
  readonly enabled: boolean;

  constructor(cfg: AuthConfig) {
    for (const [tenant, given] of Object.entries(cfg.tokens)) {
      for (const token of typeof given === 'string' ? [given] : given) {
        if (token.length === 0) continue;
        const other = this.tenantByToken.get(token);
        if (other !== undefined && other !== tenant) {
          throw new Error(`one API token is configured for both tenant "${other}" and "${tenant}"`);
        }
        this.tenantByToken.set(token, tenant);
      }
    }
    this.adminToken = cfg.adminToken !== undefined && cfg.adminToken.length > 0 ? cfg.adminToken : undefined;
    this.enabled = this.tenantByToken.size > 0 || this.adminToken !== undefined;
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
    if (token !== this.adminToken && !this.tenantByToken.has(token)) {
      throw new SwitchboardError('SB_ERR_UNAUTHENTICATED', 'unknown API token');
    }
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
    if (token === this.adminToken) return;
    const owner = this.tenantByToken.get(token);
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

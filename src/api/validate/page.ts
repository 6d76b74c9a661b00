/**
 * Paging of the list methods (Google AIP-158): `page_size` and `page_token` in, `next_page_token` out.
 *
 * A page token says where the previous page stopped — the last id it returned — and for which list,
 * tenant and filters, as base64url of a small JSON object:
 *
 * | key | meaning                                              | example                  |
 * |-----|------------------------------------------------------|--------------------------|
 * | `v` | token format (1)                                     | `1`                      |
 * | `k` | the list: `agents`, `agent_stats`, `queues`, `queue_stats` | `"agents"`         |
 * | `t` | tenant                                               | `"acme"`                 |
 * | `f` | the request's filters, in order (ListAgentStats: queue id, team) | `["", "night"]` |
 * | `a` | the last id of the previous page (ListWaiting: the place in line of its last conversation, `[priority, joined at ms, sequence]`) | `"agent-00499"`, `[5, 1767600000000, 42]` |
 *
 * The engine answers the ids after `a` (`PageQuery.after`), so pages stay consistent while the list
 * changes: an id present throughout a walk comes exactly once. Clients must treat the token as opaque.
 * ListWaiting's filter is the queue id; its cursor is a place in line rather than an id, so that the next
 * page starts after it even when that conversation has been served meanwhile (see `LinePlace`).
 * It is not signed: a forged one only moves the caller's own cursor within its own tenant's list,
 * which `page_token` could do anyway; a token of another list, tenant or filters is refused rather than
 * read as a cursor there (a client bug: AIP-158 asks for the same request with each token).
 */
import type { LinePlace, PageQuery } from '../../engine/api.js';
import { ID_RE, invalid, MAX_ID } from './common.js';

/** Page sizes of one list: `page_size` 0 (absent) means `fallback`; more than `max` is refused. */
export interface PageSizes {
  fallback: number;
  max: number;
}

/**
 * Agents: a tenant may have 100 000 (`--max-agents-per-tenant`), so an answer holds 500 unless the caller
 * asks for up to 1000 — about 250 KB of JSON for agent statistics.
 */
export const AGENT_PAGE: PageSizes = { fallback: 500, max: 1000 };
/**
 * Queues: 1000 both, so a tenant within the default `--max-queues-per-tenant` (1000) gets every queue in
 * one answer, as before paging.
 */
export const QUEUE_PAGE: PageSizes = { fallback: 1000, max: 1000 };

/** The largest page any list method answers. */
export const MAX_PAGE_SIZE = Math.max(AGENT_PAGE.max, QUEUE_PAGE.max);

/** Which list a token belongs to. */
export type ListKind = 'agents' | 'agent_stats' | 'queues' | 'queue_stats' | 'waiting';

/** Tokens are short (an id of at most 128 characters, a tenant, a team); anything longer is not ours. */
export const MAX_PAGE_TOKEN = 1024;

const TOKEN_RE = /^[A-Za-z0-9_-]+$/;

/** The request's page: `limit` from `page_size`, `after` from `page_token`. */
export function checkPage(
  req: { pageSize?: number; pageToken?: string },
  kind: ListKind,
  tenant: string,
  filters: readonly string[],
  sizes: PageSizes,
): Required<Pick<PageQuery, 'limit'>> & PageQuery {
  const size = req.pageSize ?? 0;
  if (typeof size !== 'number' || !Number.isInteger(size)) invalid('pageSize', 'must be an integer');
  if (size < 0 || size > sizes.max) {
    invalid('pageSize', `must be between 0 and ${sizes.max} (0 = ${sizes.fallback})`);
  }
  const limit = size === 0 ? sizes.fallback : size;
  const after = readPageToken(req.pageToken, kind, tenant, filters);
  return after === undefined ? { limit } : { limit, after };
}

/** The token for the page after the one that ended with `last`; '' when that page was the last. */
export function nextPageToken(
  last: string | undefined,
  kind: ListKind,
  tenant: string,
  filters: readonly string[],
): string {
  if (last === undefined) return '';
  return encode({ v: 1, k: kind, t: tenant, f: filters, a: last });
}

const NOT_OURS = "is not a page token of this method: pass the previous answer's nextPageToken unchanged";

/** The id a page token says to start after; undefined for none (the first page). */
export function readPageToken(
  token: unknown,
  kind: ListKind,
  tenant: string,
  filters: readonly string[],
): string | undefined {
  const a = readCursor(token, kind, tenant, filters);
  if (a === undefined) return undefined;
  if (typeof a !== 'string' || a.length === 0 || a.length > MAX_ID || !ID_RE.test(a)) {
    invalid('pageToken', NOT_OURS);
  }
  return a;
}

/** The token for the ListWaiting page after the place `next`; '' when the page was the last. */
export function nextWaitingPageToken(next: LinePlace | undefined, tenant: string, queueId: string): string {
  if (next === undefined) return '';
  return encode({ v: 1, k: 'waiting', t: tenant, f: [queueId], a: [next.priority, next.at, next.seq] });
}

/** The place in line a ListWaiting page token says to start after; undefined for none (the front). */
export function readWaitingPageToken(token: unknown, tenant: string, queueId: string): LinePlace | undefined {
  const a = readCursor(token, 'waiting', tenant, [queueId]);
  if (a === undefined) return undefined;
  const whole = (x: unknown, lo: number): x is number => Number.isSafeInteger(x) && (x as number) >= lo;
  if (
    !Array.isArray(a) ||
    a.length !== 3 ||
    !whole(a[0], 0) ||
    a[0] > 10 ||
    !whole(a[1], 0) ||
    !whole(a[2], 0)
  ) {
    invalid('pageToken', NOT_OURS);
  }
  return { priority: a[0], at: a[1], seq: a[2] };
}

function encode(t: { v: 1; k: ListKind; t: string; f: readonly string[]; a: unknown }): string {
  return Buffer.from(JSON.stringify(t), 'utf8').toString('base64url');
}

/** The cursor (`a`) of a token of list `kind` for `tenant` and `filters`, unchecked; undefined for none. */
function readCursor(token: unknown, kind: ListKind, tenant: string, filters: readonly string[]): unknown {
  if (token === undefined || token === '') return undefined;
  if (typeof token !== 'string' || token.length > MAX_PAGE_TOKEN || !TOKEN_RE.test(token)) {
    invalid('pageToken', NOT_OURS);
  }
  let t: unknown;
  try {
    t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    invalid('pageToken', NOT_OURS);
  }
  if (typeof t !== 'object' || t === null || Array.isArray(t)) invalid('pageToken', NOT_OURS);
  const { v, k, t: forTenant, f, a } = t as Record<string, unknown>;
  if (
    v !== 1 ||
    typeof k !== 'string' ||
    typeof forTenant !== 'string' ||
    !Array.isArray(f) ||
    a === undefined
  ) {
    invalid('pageToken', NOT_OURS);
  }
  if (k !== kind) invalid('pageToken', 'belongs to another list method; start this one without a token');
  if (forTenant !== tenant) invalid('pageToken', 'belongs to another tenant');
  if (f.length !== filters.length || f.some((x, i) => x !== filters[i])) {
    invalid(
      'pageToken',
      kind === 'waiting'
        ? 'was made for another queue; start again without a token'
        : 'was made for other filters (queueId, team); start again without a token when they change',
    );
  }
  return a;
}

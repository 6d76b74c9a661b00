/**
 * Names on NATS: stream, bucket and subject layout of cluster mode, and the escaping that turns any
 * tenant/queue/agent id into one subject token (and one KV key).
 *
 * Token escaping: `[A-Za-z0-9_-]` stay as they are; every other UTF-8 byte becomes `=XX` (two lowercase
 * hex digits), `=` included, so the mapping is injective and reversible. `=` is legal both in subject
 * tokens and in KV keys, while `.`, `*`, `>` and whitespace (which would split or wildcard a subject) never
 * survive. The empty string becomes `=` alone, and the literal id `_` becomes `=5f` so it cannot be
 * confused with a placeholder.
 *
 * | id            | token              |
 * |---------------|--------------------|
 * | `acme`        | `acme`             |
 * | `acme.eu`     | `acme=2eeu`        |
 * | `a b>*`       | `a=20b=3e=2a`      |
 * | `café`        | `caf=c3=a9`        |
 */

/** Commands stream (one message per group-committed batch). */
export const COMMANDS_STREAM = 'SB_COMMANDS';
/** Events stream, for gateways that consume durably (one message per log batch with events). */
export const EVENTS_STREAM = 'SB_EVENTS';
/** KV bucket: node leases and membership (key per node, renewed by revision CAS, TTL = lease TTL). */
export const NODES_BUCKET = 'SB_NODES';
/** KV bucket: partition owners (key per partition, written by revision CAS when it changes hands; no TTL). */
export const OWNERS_BUCKET = 'SB_OWNERS';

const SAFE = /^[A-Za-z0-9_-]+$/;
const encoder = new TextEncoder();
// ignoreBOM: a tenant id may begin with U+FEFF, which the default decoder would drop as a byte order mark.
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** Escapes an id into a single subject token / KV key (see the table above). */
export function idToken(id: string): string {
  if (id === '') return '=';
  if (id === '_') return '=5f';
  if (SAFE.test(id)) return id;
  let out = '';
  for (const ch of id) {
    if (/^[A-Za-z0-9_-]$/.test(ch)) {
      out += ch;
      continue;
    }
    for (const b of encoder.encode(ch)) out += `=${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** Inverse of {@link idToken}. */
export function tokenToId(token: string): string {
  if (token === '=') return '';
  if (!token.includes('=')) return token;
  const bytes: number[] = [];
  for (let i = 0; i < token.length; ) {
    if (token[i] === '=') {
      bytes.push(Number.parseInt(token.slice(i + 1, i + 3), 16));
      i += 3;
    } else {
      bytes.push(token.charCodeAt(i));
      i += 1;
    }
  }
  return decoder.decode(new Uint8Array(bytes));
}

/** Subject of a partition's command batches: `sb.cmd.<partition>` (a sharded log's prefix: `sb.cmd<k>`). */
export function commandSubject(partition: string, prefix = 'sb.cmd'): string {
  return `${prefix}.${idToken(partition)}`;
}

/** `sb.evt.<tenant>`: the tenant's event batches (one message per command-log batch, see `events.ts`). */
export function eventSubject(tenant: string): string {
  return `sb.evt.${idToken(tenant)}`;
}

/** Request/reply subject of a node (forwarded commands and queries). */
export function rpcSubject(nodeId: string): string {
  return `sb.rpc.${idToken(nodeId)}`;
}

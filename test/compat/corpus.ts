/**
 * The compatibility corpus: what one build wrote through its real storage adapters, kept as bytes, with
 * what any later build must read back from it. One directory per format generation
 * (`test/compat/<date>/`), never edited or deleted while an upgrade path needs it (see README.md here).
 *
 * ```
 * <corpus>/
 *   manifest.json          who wrote it, the partition, batches, the snapshot's seq and digest, the final digest
 *   answers.json           [query, answer] pairs a node on that state gives (at the day's last instant)
 *   embedded/log/…         the embedded data directory: the tenant's command log (trimmed: base + tail)
 *   embedded/snapshots/…   … and its snapshot file at the manifest's snapshot seq
 *   jetstream/commands.msgs  SB_COMMANDS as stored: the fence and the batches from the snapshot's on (trimmed)
 *   jetstream/snapshots.msgs SB_SNAPSHOTS: the chunks (Sb-Chunk headers) and the head of that snapshot
 *   jetstream/events.msgs    SB_EVENTS: the event messages of the batches after the snapshot
 *   cluster/rpc.msgs         forwarded calls between two nodes (sb.rpc.<node>) and their answers
 *   cluster/kv.msgs          KV_SB_NODES and KV_SB_OWNERS values as the nodes wrote them
 *   mongo/{chunked,inline}/  MongoDB's snapshots / snapshot_chunks documents (mongodump `.bson` form)
 *   expected.json          what the cluster payloads decode to (events, forwarded calls, KV values)
 * ```
 *
 * `.msgs` files hold NATS messages exactly as stored, one after another, in the NATS protocol's own
 * framing (`HMSG` without the sid; headers in their wire form):
 *
 * ```
 * MSG <subject> <stream seq> <header bytes> <total bytes>\r\n<headers><payload>\r\n
 * ```
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type MsgHdrs, MsgHdrsImpl } from '@nats-io/transport-node';
import type { Query } from '../../src/engine/api.js';
import type { CommandEnvelope } from '../../src/engine/types.js';

export const COMPAT_ROOT = fileURLToPath(new URL('.', import.meta.url));

export interface CorpusManifest {
  /** The directory's name: the date the format generation began. */
  corpus: string;
  writtenBy: { version: string; commit: string; date: string };
  partition: string;
  /** Commands in the day, and the batches (group commits) they were appended in. */
  commands: number;
  batches: number;
  /** The snapshot every store holds: taken after batch `seq` (embedded log seq), with its digest. */
  snapshot: { seq: number; digest: string; at: number; engineVersion: number };
  /** The engine digest after the whole day. */
  digest: string;
  /** The day's last command time: nodes reading the corpus run on a clock stopped there. */
  lastAt: number;
}

export interface StoredMessage {
  subject: string;
  seq: number;
  /** Raw NATS header block (`NATS/1.0\r\n…\r\n\r\n`), empty when the message had none. */
  headerBytes: Uint8Array;
  data: Uint8Array;
}

const CRLF = Buffer.from('\r\n');

/** Serialises messages in the `.msgs` framing. */
export function encodeMessages(msgs: readonly StoredMessage[]): Buffer {
  const parts: Buffer[] = [];
  for (const m of msgs) {
    const total = m.headerBytes.length + m.data.length;
    parts.push(Buffer.from(`MSG ${m.subject} ${m.seq} ${m.headerBytes.length} ${total}\r\n`));
    parts.push(Buffer.from(m.headerBytes), Buffer.from(m.data), CRLF);
  }
  return Buffer.concat(parts);
}

/** Parses a `.msgs` file. */
export function decodeMessages(buf: Buffer): StoredMessage[] {
  const out: StoredMessage[] = [];
  let off = 0;
  while (off < buf.length) {
    const eol = buf.indexOf(CRLF, off);
    if (eol < 0) throw new Error(`.msgs: no line end after byte ${off}`);
    const [op, subject, seq, hdr, total] = buf.subarray(off, eol).toString('latin1').split(' ');
    if (op !== 'MSG' || subject === undefined) throw new Error(`.msgs: bad frame at byte ${off}`);
    const h = Number(hdr);
    const t = Number(total);
    const body = eol + 2;
    out.push({
      subject,
      seq: Number(seq),
      headerBytes: buf.subarray(body, body + h),
      data: buf.subarray(body + h, body + t),
    });
    off = body + t + 2;
  }
  return out;
}

/** The headers of a stored message as the NATS client decodes them (undefined: none). */
export function headersOf(m: StoredMessage): MsgHdrs | undefined {
  return m.headerBytes.length === 0 ? undefined : MsgHdrsImpl.decode(m.headerBytes);
}

/** A header block in wire form (what the server stored). */
export function headerBytesOf(h: MsgHdrs | undefined): Uint8Array {
  if (!h) return new Uint8Array(0);
  return (h as MsgHdrsImpl).encode();
}

/**
 * The day cut into group commits: consecutive commands within one 10-second tick of each other, at most
 * 16 a batch (deterministic; a busy node's micro-batches are of that size, if closer in time).
 */
export function batchesOf(envs: readonly CommandEnvelope[]): CommandEnvelope[][] {
  const out: CommandEnvelope[][] = [];
  let cur: CommandEnvelope[] = [];
  for (const e of envs) {
    const first = cur[0];
    if (first && (cur.length >= 16 || e.at - first.at >= 10_000)) {
      out.push(cur);
      cur = [];
    }
    cur.push(e);
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** The questions whose answers the corpus pins down (ids from the golden day). */
export function corpusQueries(): Query[] {
  const queues = [
    'sales_chat',
    'support_chat',
    'billing_voice',
    'vip_chat',
    'tech_broadcast',
    'email',
    'supervisor_desk',
  ];
  const qs: Query[] = [
    { type: 'digest' },
    { type: 'routing_config' },
    { type: 'list_queues' },
    { type: 'list_agents', limit: 10 },
    { type: 'all_queue_stats' },
    { type: 'all_agent_stats' },
    { type: 'open_conversations' },
  ];
  for (const queueId of queues) {
    qs.push({ type: 'queue_stats', queueId }, { type: 'list_waiting', queueId, limit: 100 });
  }
  for (let i = 0; i < 24; i += 5) {
    const agentId = `agent-${String(i).padStart(2, '0')}`;
    qs.push(
      { type: 'agent', agentId },
      { type: 'agent_stats', agentId },
      { type: 'agent_conversations', agentId },
    );
  }
  for (let c = 0; c < 40; c += 8) qs.push({ type: 'customer', customerId: `customer-${c}` });
  for (let c = 0; c < 1000; c += 50)
    qs.push({ type: 'conversation', conversationId: `conv-${String(c).padStart(4, '0')}` });
  return qs;
}

/** Every corpus directory (`YYYY-MM-DD…` names), oldest first. */
export function corpusNames(all: readonly string[]): string[] {
  return all.filter((n) => /^\d{4}-\d{2}-\d{2}/.test(n)).sort();
}

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

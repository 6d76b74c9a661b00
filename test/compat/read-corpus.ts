/**
 * Reads a compatibility corpus's cluster payloads with this build's decoders — the same functions the
 * adapters read the servers' messages with — and sums up what they hold. The generator records these
 * summaries (`expected.json`); every later build must decode the bytes to the same ones.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BSON } from 'mongodb';
import { type ChunkDoc, type HeadDoc, snapshotOfDocs } from '../../src/cluster/mongo/snapshot-store.js';
import { batchOfMessage } from '../../src/cluster/nats/command-log.js';
import { decodeEventBatch, unpackEventBatch } from '../../src/cluster/nats/events.js';
import {
  checkForwardedCall,
  decodeForwarded,
  decodeForwardedReply,
  type RpcReply,
} from '../../src/cluster/nats/forwarding.js';
import { decodeNodeValue, decodeOwnerValue } from '../../src/cluster/nats/ownership.js';
import { chunkIndex, decodeSnapshotHead, snapshotOfChunks } from '../../src/cluster/nats/snapshot-store.js';
import type { LogBatch, StoredSnapshot } from '../../src/cluster/ports.js';
import type { PublishedEvent } from '../../src/host/router.js';
import { decodeMessages, headersOf, type StoredMessage } from './corpus.js';

export function messages(dir: string, file: string): StoredMessage[] {
  return decodeMessages(readFileSync(join(dir, file)));
}

/** The partition's batches in `SB_COMMANDS` (the fence subject's messages are no batches). */
export function commandBatches(msgs: readonly StoredMessage[]): LogBatch[] {
  const out: LogBatch[] = [];
  for (const m of msgs) {
    if (m.subject.startsWith('sb.cmd.fence.')) continue;
    const b = batchOfMessage(m.seq, m.data, headersOf(m));
    if (b) out.push(b);
  }
  return out;
}

/** The snapshot `SB_SNAPSHOTS` holds (its last head and that head's chunks). */
export function jetStreamSnapshot(msgs: readonly StoredMessage[], partition: string): StoredSnapshot {
  const heads = msgs.filter((m) => m.subject.endsWith('.h'));
  const last = heads[heads.length - 1];
  if (!last) throw new Error('no snapshot head');
  const head = decodeSnapshotHead(last.data);
  const parts: Uint8Array[] = new Array(head.chunks);
  for (const m of msgs) {
    if (!m.subject.endsWith(`.c.${head.seq}`)) continue;
    const i = chunkIndex(headersOf(m), head);
    if (i !== null) parts[i] = m.data;
  }
  return snapshotOfChunks(partition, head, parts);
}

/** The documents of a mongodump-style `.bson` file (BSON documents one after another). */
export function bsonDocuments<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  const buf = readFileSync(path);
  const out: T[] = [];
  for (let off = 0; off < buf.length; ) {
    const len = buf.readInt32LE(off);
    out.push(BSON.deserialize(buf.subarray(off, off + len)) as T);
    off += len;
  }
  return out;
}

/** The snapshot a MongoDB dump (`mongo/<layout>/snapshots.bson` + `snapshot_chunks.bson`) holds. */
export function mongoSnapshot(dir: string, partition: string): StoredSnapshot {
  const head = bsonDocuments<HeadDoc>(join(dir, 'snapshots.bson')).find((h) => h._id === partition);
  if (!head) throw new Error(`no head document for ${partition} in ${dir}`);
  const chunks = bsonDocuments<ChunkDoc>(join(dir, 'snapshot_chunks.bson'))
    .filter((c) => c.partition === partition && c.seq === head.seq && c.saveId === head.saveId)
    .sort((a, b) => a.i - b.i);
  return snapshotOfDocs(partition, head, chunks);
}

/** The events the `SB_EVENTS` messages hold, in order. */
export function storedEvents(msgs: readonly StoredMessage[]): PublishedEvent[] {
  const out: PublishedEvent[] = [];
  for (const m of msgs) {
    const b = decodeEventBatch(m.data);
    if (!b) throw new Error(`event message ${m.seq} does not decode`);
    out.push(...unpackEventBatch(b));
  }
  return out;
}

/** An event as `expected.json` lists it: `<log seq>:<index in batch> <at> <type>`. */
export function eventLine(seq: number, index: number, at: number, type: string): string {
  return `${seq}:${index} ${at} ${type}`;
}

export interface RpcSummary {
  /** Per request: the kind of each call it carries ('submit:<command type>', 'query:<type>', 'delete'). */
  requests: string[][];
  /** Per call: refused by the owner's checks (the refusal's field/message), or null. */
  refused: (string | null)[];
  /** Per reply: 'ok' or the error code, one per call. */
  replies: string[][];
}

export function rpcSummary(msgs: readonly StoredMessage[]): RpcSummary {
  const s: RpcSummary = { requests: [], refused: [], replies: [] };
  for (const m of msgs) {
    if (m.subject.startsWith('sb.rpc.')) {
      const d = decodeForwarded(m.data);
      if ('ok' in d) throw new Error(`forwarded request does not decode: ${d.ok ? '' : d.message}`);
      s.requests.push(
        d.calls.map((c) =>
          c.kind === 'submit'
            ? `submit:${c.env.cmd.type}`
            : c.kind === 'query'
              ? `query:${c.q.type}`
              : String(c.kind),
        ),
      );
      for (const c of d.calls) s.refused.push(checkForwardedCall(c)?.message ?? null);
    } else {
      const r = decodeForwardedReply(m.data);
      const list: RpcReply[] = 'batch' in r ? r.batch : [r];
      s.replies.push(list.map((x) => (x.ok ? 'ok' : x.code)));
    }
  }
  return s;
}

export interface KvSummary {
  nodes: { key: string; op: string; nodeId?: string; ttl?: number; leaving?: boolean }[];
  owners: { key: string; op: string; owner?: string }[];
}

export function kvSummary(msgs: readonly StoredMessage[]): KvSummary {
  const s: KvSummary = { nodes: [], owners: [] };
  for (const m of msgs) {
    const [, bucket, ...rest] = m.subject.split('.');
    const key = rest.join('.');
    const op = headersOf(m)?.get('KV-Operation') || 'PUT';
    if (bucket === 'SB_NODES') {
      const v = op === 'PUT' ? decodeNodeValue(m.data) : null;
      if (op === 'PUT' && !v) throw new Error(`node value of ${key} does not decode`);
      s.nodes.push({
        key,
        op,
        ...(v ? { nodeId: v.nodeId, ttl: v.ttl, leaving: v.leaving === true } : {}),
      });
    } else if (bucket === 'SB_OWNERS') {
      const v = op === 'PUT' ? decodeOwnerValue(m.data) : null;
      if (op === 'PUT' && !v) throw new Error(`owner value of ${key} does not decode`);
      s.owners.push({ key, op, ...(v ? { owner: v.owner } : {}) });
    }
  }
  return s;
}

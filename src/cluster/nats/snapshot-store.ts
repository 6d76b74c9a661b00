/**
 * `SnapshotStore` on JetStream, for clusters run without MongoDB (`NATS_URL` only): stream
 * `SB_SNAPSHOTS`, per partition a head subject `sb.snap.<p>.h` and the chunks of the snapshot taken at
 * seq S on `sb.snap.<p>.c.<S>` (each chunk below the server's `max_payload`).
 *
 * Save: chunks first (`Nats-Msg-Id` `<p>:<S>:<i>`, so a retried save stores each once), then the head
 * with `expect.lastSubjectSequence` = the head we read — a compare-and-set that only ever moves the head
 * to a newer S — then the previous snapshot's chunk subject is purged. A crash between steps leaves
 * either unreferenced chunks or an old chunk subject, never a head without its chunks.
 */
import {
  DeliverPolicy,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import { headers, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import {
  byteChunks,
  loadedSnapshot,
  piecesLength,
  type SnapshotStore,
  type StoredSnapshot,
  snapshotHeadFields,
  snapshotMeta,
  snapshotPieces,
} from '../ports.js';
import { ensureStream, type StreamLog } from './streams.js';
import { idToken } from './subjects.js';

export interface JetStreamSnapshotOptions {
  stream?: string;
  subjectPrefix?: string;
  storage?: 'file' | 'memory';
  replicas?: number;
  /** Chunk size cap (default: the server's max_payload less 64 KiB, at most 4 MiB). */
  chunkBytes?: number;
  /** Where a changed stream setting is logged (see `streams.ts`). */
  log?: StreamLog;
}

/** A snapshot's head message: where its chunks are and what they add up to. */
export interface Head {
  seq: number;
  takenAt: number;
  digest: string;
  /** `StoredSnapshot.incarnation` (absent in heads written before it). */
  incarnation?: number;
  /** `StoredSnapshot.lastBatchEvents` (absent: unknown). */
  lastBatchEvents?: number;
  bytes: number;
  chunks: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { ignoreBOM: true });

/** A head message's body (`sb.snap.<p>.h`). */
export function decodeSnapshotHead(data: Uint8Array): Head {
  return JSON.parse(dec.decode(data)) as Head;
}

/** A chunk message's index (header `Sb-Chunk`), or null when it has none that fits the head. */
export function chunkIndex(h: MsgHdrs | undefined, head: Head): number | null {
  const i = Number(h?.get('Sb-Chunk'));
  return Number.isInteger(i) && i >= 0 && i < head.chunks ? i : null;
}

/**
 * The snapshot a head and its chunks (in index order, every one present) hold: the one decoder of
 * `SB_SNAPSHOTS`, used by `load` and by the compatibility corpus (`test/compat`).
 */
export function snapshotOfChunks(
  partition: string,
  head: Head,
  parts: readonly Uint8Array[],
): StoredSnapshot {
  const got = parts.filter((p) => p !== undefined).length;
  if (got !== head.chunks) {
    throw new Error(`snapshot of ${partition} at seq ${head.seq}: ${got} of ${head.chunks} chunks found`);
  }
  const bytes = new Uint8Array(head.bytes);
  let off = 0;
  for (const p of parts) {
    if (off + p.length > head.bytes) {
      throw new Error(`snapshot of ${partition}: more than the ${head.bytes} bytes its head says`);
    }
    bytes.set(p, off);
    off += p.length;
  }
  if (off !== head.bytes) throw new Error(`snapshot of ${partition}: ${off} bytes, expected ${head.bytes}`);
  return loadedSnapshot(snapshotMeta(partition, head), dec.decode(bytes));
}

function apiCode(e: unknown): number | undefined {
  return e instanceof JetStreamApiError ? e.code : undefined;
}

/** JetStream-backed snapshots; open with {@link JetStreamSnapshotStore.open}. */
export class JetStreamSnapshotStore implements SnapshotStore {
  private readonly stream: string;
  private readonly prefix: string;

  private constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly chunkBytes: number,
    opts: JetStreamSnapshotOptions,
  ) {
    this.stream = opts.stream ?? 'SB_SNAPSHOTS';
    this.prefix = opts.subjectPrefix ?? 'sb.snap';
  }

  static async open(
    nc: NatsConnection,
    opts: JetStreamSnapshotOptions = {},
  ): Promise<JetStreamSnapshotStore> {
    const jsm = await jetstreamManager(nc);
    const name = opts.stream ?? 'SB_SNAPSHOTS';
    await ensureStream(
      jsm,
      {
        name,
        subjects: [`${opts.subjectPrefix ?? 'sb.snap'}.>`],
        retention: RetentionPolicy.Limits,
        storage: opts.storage === 'memory' ? StorageType.Memory : StorageType.File,
        num_replicas: opts.replicas ?? 1,
        duplicate_window: 120_000 * 1_000_000,
      },
      opts.log,
    );
    const maxPayload = nc.info?.max_payload ?? 1024 * 1024;
    const chunk = opts.chunkBytes ?? Math.min(4 * 1024 * 1024, maxPayload - 64 * 1024);
    return new JetStreamSnapshotStore(jetstream(nc), jsm, chunk, opts);
  }

  private headSubject(p: string): string {
    return `${this.prefix}.${idToken(p)}.h`;
  }

  private chunkSubject(p: string, seq: number): string {
    return `${this.prefix}.${idToken(p)}.c.${seq}`;
  }

  private async head(p: string): Promise<{ head: Head; streamSeq: number } | null> {
    try {
      const m = await this.jsm.streams.getMessage(this.stream, { last_by_subj: this.headSubject(p) });
      if (!m) return null;
      return { head: decodeSnapshotHead(m.data), streamSeq: m.seq };
    } catch (e) {
      if (apiCode(e) === 10037) return null;
      throw e;
    }
  }

  async save(s: StoredSnapshot): Promise<void> {
    let cur = await this.head(s.partition);
    if (cur && cur.head.seq >= s.seq) return;
    // Cut into messages from the worker's pieces of text as they are (never joined).
    const pieces = snapshotPieces(s);
    const bytes = piecesLength(pieces);
    const subj = this.chunkSubject(s.partition, s.seq);
    let chunks = 0;
    for (const data of byteChunks(pieces, this.chunkBytes, bytes)) {
      const h = headers();
      h.set('Sb-Chunk', String(chunks));
      await this.js.publish(subj, data, {
        msgID: `${idToken(s.partition)}:${s.seq}:${chunks}`,
        headers: h,
      });
      chunks++;
    }
    const head: Head = {
      ...snapshotHeadFields(s),
      bytes,
      chunks,
    };
    for (;;) {
      try {
        await this.js.publish(this.headSubject(s.partition), enc.encode(JSON.stringify(head)), {
          expect: { lastSubjectSequence: cur?.streamSeq ?? 0 },
        });
        break;
      } catch (e) {
        if (apiCode(e) !== 10071) throw e;
        cur = await this.head(s.partition);
        if (cur && cur.head.seq >= s.seq) {
          await this.jsm.streams.purge(this.stream, { filter: subj });
          return;
        }
      }
    }
    await this.jsm.streams.purge(this.stream, { filter: this.headSubject(s.partition), keep: 1 });
    if (cur)
      await this.jsm.streams.purge(this.stream, { filter: this.chunkSubject(s.partition, cur.head.seq) });
  }

  async storedSeq(partition: string): Promise<number> {
    return (await this.head(partition))?.head.seq ?? 0;
  }

  /** Purges the partition's head and every chunk subject (DeleteTenant). Idempotent. */
  async remove(partition: string): Promise<void> {
    await this.jsm.streams.purge(this.stream, { filter: this.headSubject(partition) });
    await this.jsm.streams.purge(this.stream, { filter: `${this.prefix}.${idToken(partition)}.c.>` });
  }

  async load(partition: string): Promise<StoredSnapshot | null> {
    const cur = await this.head(partition);
    if (!cur) return null;
    const { head } = cur;
    const parts: Uint8Array[] = new Array(head.chunks);
    let got = 0;
    const consumer = await this.js.consumers.get(this.stream, {
      filter_subjects: [this.chunkSubject(partition, head.seq)],
      deliver_policy: DeliverPolicy.All,
    });
    const msgs = await consumer.consume({ max_messages: 16 });
    try {
      for await (const m of msgs) {
        const i = chunkIndex(m.headers, head);
        if (i !== null && parts[i] === undefined) {
          parts[i] = m.data.slice();
          got++;
        }
        if (got === head.chunks || m.info.pending === 0) break;
      }
    } finally {
      await msgs.close().catch(() => {});
      await consumer.delete().catch(() => {});
    }
    if (got !== head.chunks) {
      throw new Error(`snapshot of ${partition} at seq ${head.seq}: ${got} of ${head.chunks} chunks found`);
    }
    return snapshotOfChunks(partition, head, parts);
  }

  async close(): Promise<void> {}
}

/**
 * `SnapshotStore` on MongoDB (official driver). One head document per partition in `snapshots`
 * (`_id` = partition, with `seq`, `digest`, `takenAt`); the serialized engine snapshot is inline when small
 * and otherwise split into ≤ 8 MB chunks in `snapshot_chunks`, keyed by (partition, seq, save id, i),
 * because a BSON document cannot exceed 16 MB. Each save writes its chunks under a fresh save id that
 * the head names, so a retried or racing save never overwrites or deletes the chunks a stored head
 * points to.
 *
 * Save order makes a crash at any point harmless:
 *  1. chunks of the new snapshot are inserted (invisible: no head points to them yet);
 *  2. the head is replaced in one `replaceOne` (filter `seq < new seq`, upsert) — the atomic switch;
 *  3. chunks of older snapshots are deleted.
 * A crash after 1 leaves orphan chunks that the next newer save removes; a crash after 2 leaves old
 * chunks, also removed by the next save. Every write uses `w: 'majority'`, reads use read concern
 * `majority`, so a snapshot acknowledged here survives a primary failover.
 *
 * "Only newer": the filter matches only an older head; when a newer (or equal) one is stored, the upsert
 * collides on `_id` (E11000) and the save is a no-op — its own chunks (by save id) are removed again.
 */
import { randomUUID } from 'node:crypto';
import { Binary, type Collection, type Db, MongoClient, MongoServerError } from 'mongodb';
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

export interface MongoSnapshotOptions {
  /** Database name (default `switchboard`). */
  db?: string;
  /** Collection prefix, so tests can run in parallel in one database (default none). */
  prefix?: string;
  /** Payloads up to this size stay inline in the head document (default 8 MB). */
  inlineLimitBytes?: number;
  /** Chunk size for larger payloads (default 8 MB; must stay well below 16 MB). */
  chunkBytes?: number;
}

/** A partition's head document in `snapshots`. */
export interface HeadDoc {
  _id: string;
  seq: number;
  takenAt: number;
  digest: string;
  /** `StoredSnapshot.incarnation` (absent in heads written before it). */
  incarnation?: number;
  /** `StoredSnapshot.lastBatchEvents` (absent: unknown). */
  lastBatchEvents?: number;
  bytes: number;
  /** Present when the payload is inline. */
  data?: Binary;
  /** Number of chunks when the payload is chunked. */
  chunks?: number;
  /** Save id of the chunks (absent in heads written before save ids: chunks keyed by seq alone). */
  saveId?: string;
}

/** One chunk of a large snapshot in `snapshot_chunks`. */
export interface ChunkDoc {
  _id: string;
  partition: string;
  seq: number;
  saveId?: string;
  i: number;
  data: Binary;
}

const MAJORITY = { writeConcern: { w: 'majority' as const } };
const MB = 1024 * 1024;

/**
 * The snapshot a head document and its chunks hold (the head's chunks: its seq and save id, in index
 * order). The one decoder of the MongoDB store: `load` and the compatibility corpus (`test/compat`).
 */
export function snapshotOfDocs(partition: string, head: HeadDoc, parts: readonly ChunkDoc[]): StoredSnapshot {
  let payload: Uint8Array;
  if (head.data) {
    payload = head.data.buffer;
  } else {
    if (parts.length !== head.chunks || parts.some((p, i) => p.i !== i)) {
      throw new Error(
        `snapshot of ${partition} at seq ${head.seq}: expected ${head.chunks} chunks, found ${parts.length}`,
      );
    }
    payload = Buffer.concat(parts.map((p) => p.data.buffer));
  }
  if (payload.length !== head.bytes) {
    throw new Error(
      `snapshot of ${partition} at seq ${head.seq}: ${payload.length} bytes, expected ${head.bytes}`,
    );
  }
  return loadedSnapshot(
    snapshotMeta(partition, head),
    Buffer.from(payload.buffer, payload.byteOffset, payload.length).toString('utf8'),
  );
}

/** MongoDB snapshot store. Construct with {@link MongoSnapshotStore.connect}. */
export class MongoSnapshotStore implements SnapshotStore {
  private readonly heads: Collection<HeadDoc>;
  private readonly chunks: Collection<ChunkDoc>;
  private readonly inlineLimit: number;
  private readonly chunkBytes: number;

  private constructor(
    private readonly client: MongoClient,
    db: Db,
    opts: MongoSnapshotOptions,
    private readonly ownsClient: boolean,
  ) {
    const prefix = opts.prefix ?? '';
    this.heads = db.collection<HeadDoc>(`${prefix}snapshots`);
    this.chunks = db.collection<ChunkDoc>(`${prefix}snapshot_chunks`);
    this.inlineLimit = opts.inlineLimitBytes ?? 8 * MB;
    this.chunkBytes = Math.min(opts.chunkBytes ?? 8 * MB, 12 * MB);
  }

  /** Connects (or reuses `client`) and creates the chunk index. */
  static async connect(
    urlOrClient: string | MongoClient,
    opts: MongoSnapshotOptions = {},
  ): Promise<MongoSnapshotStore> {
    const owns = typeof urlOrClient === 'string';
    const client =
      typeof urlOrClient === 'string'
        ? new MongoClient(urlOrClient, { serverSelectionTimeoutMS: 5000, readConcern: { level: 'majority' } })
        : urlOrClient;
    if (owns) await client.connect();
    const store = new MongoSnapshotStore(client, client.db(opts.db ?? 'switchboard'), opts, owns);
    await store.chunks.createIndex({ partition: 1, seq: 1, i: 1 });
    return store;
  }

  async save(s: StoredSnapshot): Promise<void> {
    // The text as the host got it from the worker, in pieces: cut into chunks as they are, so the
    // whole payload is never held at once (nor, inline, more than once).
    const pieces = snapshotPieces(s);
    const bytes = piecesLength(pieces);
    const head: Omit<HeadDoc, '_id'> = {
      ...snapshotHeadFields(s),
      bytes,
    };
    const saveId = randomUUID();
    let chunked = false;
    if (bytes <= this.inlineLimit) {
      const [payload] = byteChunks(pieces, Math.max(1, bytes), bytes);
      head.data = new Binary(payload);
    } else {
      chunked = true;
      head.chunks = Math.ceil(bytes / this.chunkBytes);
      head.saveId = saveId;
      // One at a time so no single request approaches the 48 MB message limit; upsert so the driver's
      // retryable write of a chunk that did land is harmless.
      let i = 0;
      for (const data of byteChunks(pieces, this.chunkBytes, bytes)) {
        const d: ChunkDoc = {
          _id: `${s.partition}:${s.seq}:${saveId}:${i}`,
          partition: s.partition,
          seq: s.seq,
          saveId,
          i,
          data: new Binary(data),
        };
        await this.chunks.replaceOne({ _id: d._id }, d, { upsert: true, ...MAJORITY });
        i++;
      }
    }
    for (;;) {
      try {
        await this.heads.replaceOne({ _id: s.partition, seq: { $lt: s.seq } }, head, {
          upsert: true,
          ...MAJORITY,
        });
        break;
      } catch (e) {
        if (!(e instanceof MongoServerError && e.code === 11000)) throw e;
        // The upsert collided: either a snapshot at least as new is stored (ours is redundant), or two
        // first saves raced to insert and an older one won — then replace it.
        const cur = await this.heads.findOne({ _id: s.partition }, { projection: { seq: 1 } });
        if (cur && cur.seq >= s.seq) {
          // Only this save's chunks: the stored head (possibly an earlier try of this very seq) keeps its own.
          if (chunked) await this.chunks.deleteMany({ partition: s.partition, saveId }, MAJORITY);
          return;
        }
      }
    }
    await this.chunks.deleteMany({ partition: s.partition, seq: { $lt: s.seq } }, MAJORITY);
  }

  /** Deletes the partition's head, then its chunks (DeleteTenant). Idempotent. */
  async remove(partition: string): Promise<void> {
    await this.heads.deleteOne({ _id: partition }, MAJORITY);
    await this.chunks.deleteMany({ partition }, MAJORITY);
  }

  async storedSeq(partition: string): Promise<number> {
    return (await this.heads.findOne({ _id: partition }, { projection: { seq: 1 } }))?.seq ?? 0;
  }

  async load(partition: string): Promise<StoredSnapshot | null> {
    const head = await this.heads.findOne({ _id: partition });
    if (!head) return null;
    const parts = head.data
      ? []
      : await this.chunks
          .find(
            head.saveId ? { partition, seq: head.seq, saveId: head.saveId } : { partition, seq: head.seq },
          )
          .sort({ i: 1 })
          .toArray();
    return snapshotOfDocs(partition, head, parts);
  }

  async close(): Promise<void> {
    if (this.ownsClient) await this.client.close();
  }
}

/**
 * Ports between the node and the outside world. Each has a production adapter (JetStream, NATS KV,
 * MongoDB) and an embedded one (local files / in-process), and one shared contract test suite runs
 * against every adapter.
 */
import { constants } from 'node:buffer';
import type { EngineSnapshot } from '../engine/api.js';
import type { CommandEnvelope } from '../engine/types.js';

/**
 * One durable append: a group-committed batch of commands for one partition.
 * `seq` is the log position of the batch: strictly increasing per partition, not necessarily contiguous
 * (JetStream stream sequences are shared by all subjects of a stream).
 */
export interface LogBatch {
  seq: number;
  commands: CommandEnvelope[];
  /**
   * Seq of the partition's batch before this one (0 = the partition's first batch ever), recorded by the
   * append that wrote it: the chain a loader checks. Loading from a snapshot at seq S (0 = none), the
   * first batch read after S must name S, else the log was trimmed past what this node restored and
   * the batches in between are gone (see `PartitionHost.load`). Absent on batches written before it was
   * recorded (those are not checked).
   */
  prev?: number;
  /**
   * `prev` is only a lower bound of the previous batch's seq: a JetStream append pipelined behind others
   * of its partition does not know their seqs yet. Then only a `prev` above S proves a gap.
   */
  prevAtLeast?: true;
}

export interface CommandLog {
  /**
   * Appends a batch after `expectedLastSeq` (0 = the partition's log is empty). Resolves with the new
   * batch's `seq` once durable in the configured mode. Rejects with code `SB_ERR_NOT_OWNER` when the
   * partition's last seq is not `expectedLastSeq` (a newer owner wrote: fencing).
   */
  append(partition: string, commands: CommandEnvelope[], expectedLastSeq: number): Promise<number>;
  /** Batches with seq > `afterSeq`, in order, up to the current end. */
  read(partition: string, afterSeq: number): AsyncIterable<LogBatch>;
  /** Seq of the partition's last batch, 0 if none. */
  lastSeq(partition: string): Promise<number>;
  /** Allows deleting batches with seq ≤ `uptoSeq` (covered by a snapshot that is durable). */
  trim(partition: string, uptoSeq: number): Promise<void>;
  /**
   * DeleteTenant, first step: records durably that the partition is being deleted (its tombstone), so
   * that a crash anywhere in the steps after it leaves a partition that no start-up and no other node
   * loads as anything: `tombstoned` says so until `remove` has finished. The host hosts nothing of it then.
   */
  tombstone?(partition: string): Promise<void>;
  /** Whether the partition's tombstone is stored (its deletion began and has not finished). */
  tombstoned?(partition: string): Promise<boolean>;
  /** DeleteTenant, last step: removes the partition's batches and fences, its tombstone last. Idempotent. */
  remove?(partition: string): Promise<void>;
  /**
   * Optional (embedded): the partition's log ends before a durable snapshot at `seq` (the file lost, cut,
   * or restored from an older copy; with `--fsync interval`, a power loss after the snapshot was saved):
   * restarts it after `seq`, so the next append is `seq + 1`. Every batch it held is ≤ its old last seq
   * < `seq`, so covered by the snapshot; only called by a load that restored that snapshot.
   */
  rebase?(partition: string, seq: number): Promise<void>;
  /** Partitions with a tombstone: start-up finishes their deletion (embedded). */
  tombstones?(): Promise<string[]>;
  /**
   * Optional: called by a new owner before it reads the partition. Fences off every earlier writer at
   * once (their later appends are rejected with `SB_ERR_NOT_OWNER`); from then on this log's appends
   * of the partition are fenced by that and may be pipelined (`pipelined`), `expectedLastSeq` only
   * naming the batch for dedupe.
   */
  fence?(partition: string): Promise<void>;
  /** True when appends of a fenced partition may be in flight together (acknowledged in order). */
  readonly pipelined?: boolean;
  close(): Promise<void>;
}

/**
 * Stored state that cannot be read back as written (a log record that fails its check with later
 * records after it, a snapshot file that fails its check): not a crash's torn tail, so nothing of it is
 * cut or skipped. The host refuses the partition (`partitionsRefused`) rather than serve a state missing
 * acknowledged commands; the message says what and where, for the operator.
 */
export class DamagedStorageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DamagedStorageError';
  }
}

export interface StoredSnapshot {
  partition: string;
  /** Seq of the last log batch folded into this snapshot. */
  seq: number;
  takenAt: number;
  digest: string;
  /**
   * The tenant's incarnation (the time of its log's first command; see `checkIncarnation` in
   * `host/event-history.ts`), carried from snapshot to snapshot since the log's first batch is trimmed.
   * Absent: unknown (a snapshot written before incarnations were recorded).
   */
  incarnation?: number;
  /**
   * How many events batch `seq` published (the index after its last), when the node knew it (its event
   * history held the batch): an embedded node refilling its history after a restart from the log tail
   * after this snapshot then also resumes a watch whose last event was the batch's last. Absent: unknown.
   */
  lastBatchEvents?: number;
  snapshot: EngineSnapshot;
  /**
   * `JSON.stringify(snapshot)`, when the producer already has it (the host gets it from the worker):
   * stores write it as is instead of stringifying on the main thread, and may leave `snapshot` unread.
   * Stores that keep the text give it back on load the same way (see {@link loadedSnapshot}).
   */
  snapshotJson?: string;
  /**
   * The same text as UTF-8 bytes in pieces, as the worker serialised and encoded it slice by slice
   * (`sliced-snapshot.ts`): their concatenation is `JSON.stringify(snapshot)` in UTF-8 (a piece may end
   * inside a character; only the whole is text). Stores write the pieces one after another
   * ({@link snapshotPieces}) and never join them: the host joined them into one string, a second copy
   * of a big tenant's text on the main thread's heap for every partition snapshotting at once. Takes
   * precedence over `snapshotJson`.
   */
  snapshotChunks?: readonly Uint8Array[];
}

/**
 * The longest snapshot text, in UTF-8 bytes, a node can load back: a store gives it back as one string
 * (V8's longest, 2²⁹ − 24 characters on 64-bit), which the worker parses. The host refuses to save a
 * longer one (`snapshotPieces`: the save fails and the log is not trimmed) instead of storing a snapshot no node can
 * read. ~100 MB at 1 000 000 waiting conversations (loadtest/README.md, `bench:bigpart`).
 */
export const MAX_SNAPSHOT_TEXT_BYTES = constants.MAX_STRING_LENGTH;

/**
 * A snapshot's UTF-8 JSON text as pieces to write in order (one when it came whole or as an object).
 * Every store takes its text from here, so a text longer than a node can load back
 * (`MAX_SNAPSHOT_TEXT_BYTES`) fails the save here: the host then keeps the log untrimmed.
 */
export function snapshotPieces(s: StoredSnapshot): readonly Uint8Array[] {
  const pieces =
    s.snapshotChunks !== undefined
      ? s.snapshotChunks
      : [Buffer.from(s.snapshotJson ?? JSON.stringify(s.snapshot), 'utf8')];
  const bytes = piecesLength(pieces);
  if (bytes > MAX_SNAPSHOT_TEXT_BYTES)
    throw new Error(
      `snapshot of ${s.partition} is ${bytes} bytes of text, more than a node can load back (${MAX_SNAPSHOT_TEXT_BYTES}): not saved, the log keeps everything since the last snapshot`,
    );
  return pieces;
}

/** Bytes in all the pieces. */
export function piecesLength(pieces: readonly Uint8Array[]): number {
  let n = 0;
  for (const p of pieces) n += p.length;
  return n;
}

/**
 * The concatenated pieces in chunks of exactly `size` bytes (the last one shorter; at least one chunk,
 * empty for no bytes): a store cuts its chunks (documents, messages) from these without ever holding
 * the whole text at once.
 */
export function* byteChunks(
  pieces: readonly Uint8Array[],
  size: number,
  total = piecesLength(pieces),
): Generator<Uint8Array, void, void> {
  let left = total;
  let chunk = Buffer.allocUnsafe(Math.min(size, left));
  let fill = 0;
  for (const bytes of pieces) {
    for (let off = 0; off < bytes.length; ) {
      const n = Math.min(chunk.length - fill, bytes.length - off);
      if (n === 0) throw new Error(`snapshot text is longer than ${total} bytes`);
      chunk.set(bytes.subarray(off, off + n), fill);
      fill += n;
      off += n;
      if (fill === chunk.length && left > fill) {
        yield chunk;
        left -= fill;
        chunk = Buffer.allocUnsafe(Math.min(size, left));
        fill = 0;
      }
    }
  }
  if (fill !== chunk.length)
    throw new Error(`snapshot text is ${total - left + fill} bytes, expected ${total}`);
  yield chunk;
}

/**
 * A loaded snapshot that keeps its JSON text and parses it only if `snapshot` is read. The host hands
 * the text to the worker, which parses it there: parsing on the main thread and cloning the object
 * graph across (~10 MB of JSON at 10 000 agents) held the new owner's event loop for hundreds of ms in
 * a takeover, every other partition of the node included.
 */
type SnapshotHeadFields = Pick<
  StoredSnapshot,
  'seq' | 'takenAt' | 'digest' | 'incarnation' | 'lastBatchEvents'
>;

/**
 * What a store's head record (JetStream head message, MongoDB head document) keeps of a snapshot, in
 * that order: the optional fields only where set, since heads written before them lack them.
 */
export function snapshotHeadFields(s: SnapshotHeadFields): SnapshotHeadFields {
  return {
    seq: s.seq,
    takenAt: s.takenAt,
    digest: s.digest,
    ...(s.incarnation ? { incarnation: s.incarnation } : {}),
    ...(s.lastBatchEvents !== undefined ? { lastBatchEvents: s.lastBatchEvents } : {}),
  };
}

/** The stored snapshot's fields from a store's head record (see {@link snapshotHeadFields}). */
export function snapshotMeta(
  partition: string,
  head: SnapshotHeadFields,
): SnapshotHeadFields & Pick<StoredSnapshot, 'partition'> {
  return { partition, ...snapshotHeadFields(head) };
}

export function loadedSnapshot(
  meta: Pick<StoredSnapshot, 'partition' | 'seq' | 'takenAt' | 'digest' | 'incarnation' | 'lastBatchEvents'>,
  json: string,
): StoredSnapshot {
  let parsed: EngineSnapshot | undefined;
  return {
    ...meta,
    snapshotJson: json,
    get snapshot(): EngineSnapshot {
      parsed ??= JSON.parse(json) as EngineSnapshot;
      return parsed;
    },
  };
}

export interface SnapshotStore {
  /** Replaces the partition's snapshot if `seq` is newer than the stored one. */
  save(s: StoredSnapshot): Promise<void>;
  load(partition: string): Promise<StoredSnapshot | null>;
  /** DeleteTenant: removes the partition's snapshot (idempotent); a later `save` starts afresh. */
  remove?(partition: string): Promise<void>;
  /**
   * The stored snapshot's seq (0 = none), without its payload: a loader asks after reading the log
   * whether a newer snapshot (and a trim below it) came in meanwhile.
   */
  storedSeq(partition: string): Promise<number>;
  close(): Promise<void>;
}

/**
 * Where a tenant's engine events are kept beyond the node, for gateways (cluster: stream `SB_EVENTS`).
 * Embedded mode keeps none: its events only reach live watchers.
 */
export interface EventStore {
  /**
   * DeleteTenant, after the tombstone and before the log goes (so whoever finishes an interrupted
   * deletion runs it again): drops this node's unstored events of the tenant, then removes every stored
   * one. Idempotent.
   */
  remove(tenant: string): Promise<void>;
}

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/**
 * Milliseconds that never step back or jump (NTP corrections, a VM resumed): for lease intervals. On the
 * wall clock a step back of one second would stretch a node's lease by a second in real time, past the
 * moment another node may take its partitions over.
 */
export const monotonicClock: Clock = { now: () => performance.timeOrigin + performance.now() };

export type OwnershipChange = { partition: string; owned: boolean };

/**
 * Who serves which partition. Embedded: this node owns everything. Cluster: NATS KV leases with
 * revision compare-and-set and TTL, spread by rendezvous hashing with bounded loads over live nodes.
 */
export interface Ownership {
  readonly nodeId: string;
  start(): Promise<void>;
  /** Tries to own the partition now (or confirms it already does). False when another node holds it. */
  acquire(partition: string): Promise<boolean>;
  owns(partition: string): boolean;
  /** Node id of the current owner, if known. */
  ownerOf(partition: string): string | null;
  /**
   * Cluster: gives the partition up now, for a tenant that turned out not to exist or was deleted: its
   * key goes and no node claims it until a call needs it. Embedded: absent (this node owns everything).
   */
  relinquish?(partition: string): Promise<void>;
  /** Called when a partition is lost (must stop serving it at once) or gained. */
  onChange(listener: (c: OwnershipChange) => void): () => void;
  /** Cluster: how often this node lost its lease so far, by reason (embedded: none). */
  readonly leaseLosses?: Readonly<Record<string, number>>;
  stop(): Promise<void>;
}

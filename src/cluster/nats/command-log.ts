/**
 * `CommandLog` on NATS JetStream: stream `SB_COMMANDS`, one subject per partition (`sb.cmd.<token>`, see
 * `subjects.ts`), one message per group-committed batch.
 *
 * `streams: K > 1` spreads the partitions over K streams by a stable hash: partitions of shard 0 stay on
 * `SB_COMMANDS` / `sb.cmd.<token>`, shard k ≥ 1 uses `SB_COMMANDS_<k>` / `sb.cmd<k>.<token>`. Why: with
 * `sync_interval: always` an R1 file stream fsyncs every message on its own and in order, so every busy
 * partition's appends queue behind each other's fsyncs; separate streams fsync in parallel (6 appends on
 * 6 subjects, all acked: p50 1.7 ms on one stream, 1.2 ms on six; 12 appends: 3.1 ms on one, 1.8 ms on
 * four — `loadtest/README.md`). A partition's batches, fence and sequence numbers all live in its shard's
 * stream, so fencing and replay are unchanged. K is fixed for the life of a cluster: stream 0 records it
 * in its metadata, and a node configured with another K refuses to start (its partitions would read and
 * fence a different stream than the other nodes').
 *
 * Semantics of `append(partition, commands, expectedLastSeq)`:
 *
 * | server state of `sb.cmd.p`          | append(p, cmds, expected)     | result                                  |
 * |-------------------------------------|-------------------------------|-----------------------------------------|
 * | last seq 41                         | expected 41                   | stored as 57 (stream seq), resolves 57  |
 * | last seq 57 (a newer owner wrote)   | expected 41                   | rejects `SB_ERR_NOT_OWNER` (fencing)    |
 * | 57 stored by *this* append, ack lost | same call retried (expected 41) | `Nats-Msg-Id` duplicate → resolves 57  |
 *
 * Fencing is `expect.lastSubjectSequence`; dedupe is `Nats-Msg-Id` = `<partition token>:<expected>:<first
 * command id>` (fenced appends add `:f<fence seq>`: one owner's retries still dedupe, and a tenant deleted
 * and created again within the dedupe window starts a new fence). The expected sequence is part of the id
 * on purpose: a later batch may start with a command whose id repeats an earlier one (a client retry
 * that the engine answers from memory), and with the id alone the server would swallow that whole later
 * batch as a "duplicate".
 *
 * The chain: each batch carries header `Sb-Prev` = the stream seq of the partition's batch before it (0
 * for its first), so a loader can tell that the log still holds everything after the snapshot it loaded
 * (`LogBatch.prev`). Unfenced, that is `expectedLastSeq`, which the server has just checked. Fenced, the
 * seq comes from the log itself: the subject's last seq looked up right after the fence was stored, then
 * each ack; an append sent while others of its partition are still unacknowledged (pipelined) cannot
 * know its predecessor's seq yet and carries `Sb-Prev-Min` = the last acked seq, a lower bound. Batches
 * written by versions before the chain carry neither and are not checked.
 *
 * Durability: the ack means "stored by the stream leader and, for R3, by a quorum". Whether it survives
 * power loss depends on the server's `jetstream.sync_interval` — see `deploy/nats/README.md`.
 */
import { randomUUID } from 'node:crypto';
import {
  DeliverPolicy,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type MsgRequest,
  RetentionPolicy,
  StorageType,
  type StoredMsg,
} from '@nats-io/jetstream';
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import type { CommandEnvelope } from '../../engine/types.js';
import { SwitchboardError } from '../../errors/catalogue.js';
import type { CommandLog, LogBatch } from '../ports.js';
import { AckedPublisher, JsPublishError } from './js-publisher.js';
import { isNotFound, lastMessageOn } from './last-message.js';
import { ensureStream, type StreamLog } from './streams.js';
import { COMMANDS_STREAM, commandSubject, idToken } from './subjects.js';

export interface JetStreamLogOptions {
  /** Stream name (tests use their own to run in parallel on one server). Default `SB_COMMANDS`. */
  stream?: string;
  /** Subject prefix, default `sb.cmd` (must match the stream's subjects). */
  subjectPrefix?: string;
  /** `file` (default, survives restarts) or `memory` (fast, lost when the server stops). */
  storage?: 'file' | 'memory';
  /** 1 for a single server; 3 (or 5) in production: a quorum must store a batch before it is acked. */
  replicas?: number;
  /** Publish ack timeout, ms (default 2000: an append caught in a NATS restart fails fast and is retried). */
  timeoutMs?: number;
  /** Dedupe window for `Nats-Msg-Id`, ms (default 2 min, the server's default). */
  duplicateWindowMs?: number;
  /**
   * Offer pipelined appends of fenced partitions to the host (default false). Safe either way; off
   * because with `sync_interval: always` every append is an fsync on the server, and on the 2-core VM
   * 4 appends in flight made enqueue p50 worse at 1 000/s (smaller batches, more fsyncs).
   */
  pipelined?: boolean;
  /**
   * Streams the partitions are spread over (default 1; `--nats-command-streams`). Fixed for the life of
   * a cluster: every node must use the same value (checked against stream 0's metadata).
   */
  streams?: number;
  /**
   * Where this node keeps snapshots (`--mongo-url` set or not). Fixed for the life of a cluster like
   * `streams`: stream 0's metadata records it and a node configured otherwise refuses to start (it would
   * find no snapshot of a partition whose log was trimmed below one). Absent: not checked, and the
   * recorded value is kept.
   */
  snapshotStore?: SnapshotBackend;
  /** Where a changed stream setting is logged (see `streams.ts`). */
  log?: StreamLog;
}

/** Where a cluster keeps its snapshots: MongoDB (`--mongo-url`) or JetStream (`SB_SNAPSHOTS`). */
export type SnapshotBackend = 'mongodb' | 'jetstream';

/** FNV-1a of the partition id: a shard that every node computes the same way, forever. */
function shardOf(partition: string, shards: number): number {
  if (shards <= 1) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < partition.length; i++) {
    h ^= partition.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % shards;
}

/** Stream and subject prefix of shard `k`: shard 0 keeps the single-stream names. */
function shardNames(k: number, stream: string, prefix: string): { stream: string; prefix: string } {
  return k === 0 ? { stream, prefix } : { stream: `${stream}_${k}`, prefix: `${prefix}${k}` };
}

const SHARDS_METADATA = 'switchboard_command_streams';
const STORE_METADATA = 'switchboard_snapshot_store';
/** Header of a batch: the exact seq of the partition's previous batch (see the chain above). */
const PREV_HEADER = 'Sb-Prev';
/** Header of a pipelined batch: a lower bound of its previous batch's seq. */
const PREV_MIN_HEADER = 'Sb-Prev-Min';
/**
 * Header of a partition's tombstone (DeleteTenant): a message on its batch subject, written fenced by
 * its owner after every batch, that is no batch; the purge that removes the batches removes it too.
 */
const TOMBSTONE_HEADER = 'Sb-Tombstone';

interface Place {
  stream: string;
  subject: string;
  fenceSubject: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** Batch wire format: the JSON array of envelopes (measured in `loadtest/bench-log-codec.ts`). */
export function encodeBatch(commands: CommandEnvelope[]): Uint8Array {
  return encoder.encode(JSON.stringify(commands));
}

export function decodeBatch(data: Uint8Array): CommandEnvelope[] {
  return JSON.parse(decoder.decode(data)) as CommandEnvelope[];
}

/**
 * The batch a stored `SB_COMMANDS` message holds (stream seq, body, headers), or null for a partition's
 * tombstone (no batch). The one decoder of the log's messages: replay and the compatibility corpus
 * (`test/compat`) both read through it.
 */
export function batchOfMessage(seq: number, data: Uint8Array, h: MsgHdrs | undefined): LogBatch | null {
  if (h?.get(TOMBSTONE_HEADER) === '1') return null;
  return withPrev({ seq, commands: decodeBatch(data) }, h);
}

/** Adds the chain header of a stored batch, if it has one (batches of earlier versions do not). */
function withPrev(b: LogBatch, h: MsgHdrs | undefined): LogBatch {
  if (!h) return b;
  const exact = h.get(PREV_HEADER);
  if (exact !== '') return { ...b, prev: Number(exact) };
  const atLeast = h.get(PREV_MIN_HEADER);
  if (atLeast !== '') return { ...b, prev: Number(atLeast), prevAtLeast: true };
  return b;
}

function isWrongLastSequence(e: unknown): boolean {
  if (e instanceof JsPublishError) return e.errCode === 10071 || e.errCode === 10164;
  if (e instanceof JetStreamApiError) return e.code === 10071 || e.code === 10164;
  return /wrong last sequence/i.test(String((e as Error)?.message ?? ''));
}

/**
 * Creates (or updates to) the command streams' configuration. Idempotent. Refuses a `streams` count or a
 * snapshot store other than the ones stream 0 was set up with (a stream set up before the store was
 * recorded takes this node's).
 */
export async function ensureCommandStream(
  jsm: JetStreamManager,
  opts: JetStreamLogOptions = {},
): Promise<void> {
  const shards = Math.max(1, opts.streams ?? 1);
  const base = opts.stream ?? COMMANDS_STREAM;
  const basePrefix = opts.subjectPrefix ?? 'sb.cmd';
  let store: string | undefined = opts.snapshotStore;
  try {
    const info = await jsm.streams.info(base);
    const recorded = Number(info.config.metadata?.[SHARDS_METADATA] ?? '1');
    if (recorded !== shards) {
      throw new SwitchboardError(
        'SB_ERR_INVALID_ARGUMENT',
        `--nats-command-streams ${shards}, but this cluster's log was set up with ${recorded} (stream ${base}): every node must use ${recorded}`,
      );
    }
    const recordedStore = info.config.metadata?.[STORE_METADATA];
    if (store !== undefined && recordedStore !== undefined && recordedStore !== store) {
      throw new SwitchboardError('SB_ERR_INVALID_ARGUMENT', storeMismatch(store, recordedStore, base));
    }
    store ??= recordedStore;
  } catch (e) {
    if (!(e instanceof JetStreamApiError) || e.code !== 10059) throw e;
  }
  for (let k = 0; k < shards; k++) {
    const { stream, prefix } = shardNames(k, base, basePrefix);
    const metadata: Record<string, string> =
      k > 0 ? {} : { [SHARDS_METADATA]: String(shards), ...(store ? { [STORE_METADATA]: store } : {}) };
    await ensureOneStream(jsm, stream, prefix, opts, metadata);
  }
}

/** Why a node whose snapshot store is not the cluster's refuses to start, and what to set instead. */
function storeMismatch(configured: string, recorded: string, stream: string): string {
  const where = (b: string) => (b === 'mongodb' ? 'MongoDB (--mongo-url)' : 'JetStream (no --mongo-url)');
  const fix =
    recorded === 'mongodb'
      ? "set --mongo-url (MONGO_URL) to the cluster's MongoDB on this node"
      : recorded === 'jetstream'
        ? 'remove --mongo-url (MONGO_URL) from this node'
        : `configure this node's snapshot store as ${recorded}`;
  return (
    `this node keeps snapshots in ${where(configured)}, but this cluster keeps them in ${where(recorded)} ` +
    `(recorded in stream ${stream}): it would not find the snapshots the command log was trimmed below. ` +
    `Every node must use the same snapshot store: ${fix} (deploy/RUNBOOK.md, "Snapshots, restore and disaster recovery")`
  );
}

async function ensureOneStream(
  jsm: JetStreamManager,
  name: string,
  prefix: string,
  opts: JetStreamLogOptions,
  metadata: Record<string, string>,
): Promise<void> {
  await ensureStream(
    jsm,
    {
      name,
      // `<prefix>.<partition>` holds the batches, `<prefix>.fence.<partition>` the owners' fences.
      subjects: [`${prefix}.*`, `${prefix}.fence.*`],
      retention: RetentionPolicy.Limits,
      storage: opts.storage === 'memory' ? StorageType.Memory : StorageType.File,
      num_replicas: opts.replicas ?? 1,
      duplicate_window: (opts.duplicateWindowMs ?? 120_000) * 1_000_000,
      // Purge is how `trim` works; deletes of single messages are never needed.
      deny_delete: true,
      allow_direct: true,
      metadata,
    },
    opts.log,
  );
}

/** The JetStream command log. Construct with {@link JetStreamCommandLog.open}. */
export class JetStreamCommandLog implements CommandLog {
  private readonly baseStream: string;
  private readonly basePrefix: string;
  private readonly shards: number;
  private readonly timeoutMs: number;
  /** Appends: acks on one inbox subscription, no per-append request machinery (see `js-publisher.ts`). */
  private readonly pub: AckedPublisher;
  /**
   * Per partition this log has fenced: the stream seq of its fence message, or null once it was fenced
   * out (then appends are refused here; falling back to subject-seq fencing could let a stale append in).
   */
  private readonly fences = new Map<string, number | null>();
  /**
   * Per fenced partition: the seq of its last batch as far as this log knows (looked up right after the
   * fence, then raised by each ack): the `Sb-Prev` of its next append.
   */
  private readonly tails = new Map<string, number>();
  /** Per partition: appends sent and not yet settled (more than 0: the next one's `Sb-Prev` is a bound). */
  private readonly unacked = new Map<string, number>();
  private readonly places = new Map<string, Place>();
  readonly pipelined: boolean;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    opts: JetStreamLogOptions,
    private readonly ownsConnection: boolean,
  ) {
    this.baseStream = opts.stream ?? COMMANDS_STREAM;
    this.basePrefix = opts.subjectPrefix ?? 'sb.cmd';
    this.shards = Math.max(1, opts.streams ?? 1);
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.pub = new AckedPublisher(nc, this.timeoutMs);
    this.pipelined = opts.pipelined === true;
  }

  /** Ensures the stream exists with the given settings, then returns the log. */
  static async open(
    nc: NatsConnection,
    opts: JetStreamLogOptions = {},
    ownsConnection = false,
  ): Promise<JetStreamCommandLog> {
    const jsm = await jetstreamManager(nc, { timeout: opts.timeoutMs ?? 5000 });
    await ensureCommandStream(jsm, opts);
    return new JetStreamCommandLog(
      nc,
      jetstream(nc, { timeout: opts.timeoutMs ?? 5000 }),
      jsm,
      opts,
      ownsConnection,
    );
  }

  /** Where a partition's batches and fence live, computed once per partition (appends ask every time). */
  private placeOf(partition: string): Place {
    let place = this.places.get(partition);
    if (!place) {
      const { stream, prefix } = shardNames(
        shardOf(partition, this.shards),
        this.baseStream,
        this.basePrefix,
      );
      place = {
        stream,
        subject: commandSubject(partition, prefix),
        // Four tokens, so never a partition's subject.
        fenceSubject: commandSubject(partition, `${prefix}.fence`),
      };
      this.places.set(partition, place);
    }
    return place;
  }

  /** The stream holding `partition`'s batches and fences. */
  streamOf(partition: string): string {
    return this.placeOf(partition).stream;
  }

  subject(partition: string): string {
    return this.placeOf(partition).subject;
  }

  /** `<prefix>.fence.<partition>`: one message per takeover. */
  fenceSubject(partition: string): string {
    return this.placeOf(partition).fenceSubject;
  }

  /**
   * Takes the partition's write fence: appends a fence message that expects the previous one as the
   * last on the fence subject (two new owners cannot both succeed), and from then on fences every append
   * of this log on "the last fence message is still mine" (`Nats-Expected-Last-Subject-Sequence` with
   * `Nats-Expected-Last-Subject-Sequence-Subject`, server ≥ 2.11). An earlier owner's appends are
   * rejected from the moment the fence is stored, whatever they expect; the new owner reads the log
   * after it, so it sees every append that landed before. Unlike the subject's own last sequence, the
   * fence does not move when this owner appends, so appends can be pipelined.
   */
  async fence(partition: string): Promise<void> {
    const subject = this.fenceSubject(partition);
    const previous = (await lastMessageOn(this.jsm, this.streamOf(partition), subject))?.seq ?? 0;
    try {
      const ack = await this.pub.publish({
        subject,
        data: encoder.encode(JSON.stringify({ at: Date.now() })),
        // Unique per attempt: two owners racing from the same previous fence must not dedupe into one.
        msgId: `fence:${idToken(partition)}:${previous}:${randomUUID()}`,
        expectedLastSubjectSeq: previous,
      });
      this.fences.set(partition, ack.seq);
    } catch (e) {
      this.fences.set(partition, null);
      if (isWrongLastSequence(e)) {
        throw new SwitchboardError('SB_ERR_NOT_OWNER', `partition ${partition}: fenced by another owner`);
      }
      throw new SwitchboardError(
        'SB_ERR_UNAVAILABLE',
        `fence of ${partition} failed: ${(e as Error).message}`,
      );
    }
    // Nobody else appends from here on: the subject's last batch now is the one the next append follows.
    this.tails.delete(partition);
    try {
      this.tails.set(partition, await this.lastSeq(partition));
    } catch (e) {
      throw new SwitchboardError(
        'SB_ERR_UNAVAILABLE',
        `fence of ${partition}: its last seq could not be read: ${(e as Error).message}`,
      );
    }
  }

  /** The chain header of the next append (see the file comment); none when fenced but the tail is unknown. */
  private prevHeader(
    partition: string,
    fenced: boolean,
    expectedLastSeq: number,
  ): [string, string][] | undefined {
    if (!fenced) return [[PREV_HEADER, String(expectedLastSeq)]];
    const tail = this.tails.get(partition);
    if (tail === undefined) return undefined;
    return [[(this.unacked.get(partition) ?? 0) > 0 ? PREV_MIN_HEADER : PREV_HEADER, String(tail)]];
  }

  async append(partition: string, commands: CommandEnvelope[], expectedLastSeq: number): Promise<number> {
    if (commands.length === 0) throw new SwitchboardError('SB_ERR_INTERNAL', 'empty batch');
    const first = commands[0] as CommandEnvelope;
    const fence = this.fences.get(partition);
    if (fence === null) {
      throw new SwitchboardError('SB_ERR_NOT_OWNER', `partition ${partition}: fenced by another owner`);
    }
    // Fenced: the fence's seq too, so a tenant deleted and created again (its log starts over at
    // expected 0) within the dedupe window is not taken for a retry of the old tenant's first batch.
    const msgID = `${idToken(partition)}:${expectedLastSeq}:${first.id}${fence === undefined ? '' : `:f${fence}`}`;
    const prev = this.prevHeader(partition, fence !== undefined, expectedLastSeq);
    this.unacked.set(partition, (this.unacked.get(partition) ?? 0) + 1);
    try {
      const ack = await this.pub.publish(
        fence === undefined
          ? {
              subject: this.subject(partition),
              data: encodeBatch(commands),
              msgId: msgID,
              expectedLastSubjectSeq: expectedLastSeq,
              ...(prev ? { headers: prev } : {}),
            }
          : {
              subject: this.subject(partition),
              data: encodeBatch(commands),
              msgId: msgID,
              expectedLastSubjectSeq: fence,
              expectedSubject: this.fenceSubject(partition),
              ...(prev ? { headers: prev } : {}),
            },
      );
      const tail = this.tails.get(partition);
      if (tail !== undefined && ack.seq > tail) this.tails.set(partition, ack.seq);
      return ack.seq;
    } catch (e) {
      if (isWrongLastSequence(e)) {
        // The server checks the expectation before the dedupe table, so a retry of a batch that did land
        // looks fenced: recognise our own batch by its message id right after `expectedLastSeq`.
        const stored =
          fence === undefined ? await this.nextAfter(partition, expectedLastSeq).catch(() => null) : null;
        if (stored && stored.header?.get('Nats-Msg-Id') === msgID) return stored.seq;
        if (fence !== undefined) this.fences.set(partition, null);
        throw new SwitchboardError(
          'SB_ERR_NOT_OWNER',
          `partition ${partition}: log moved past ${expectedLastSeq} (another owner appended)`,
          undefined,
          { cause: e },
        );
      }
      if (/max_payload|maximum payload/i.test(String((e as Error)?.message))) {
        throw new SwitchboardError(
          'SB_ERR_PAYLOAD_TOO_LARGE',
          `batch of ${commands.length} commands exceeds max_payload`,
        );
      }
      throw new SwitchboardError(
        'SB_ERR_UNAVAILABLE',
        `append to ${partition} failed: ${(e as Error).message}`,
        undefined,
        {
          cause: e,
        },
      );
    } finally {
      const n = (this.unacked.get(partition) ?? 1) - 1;
      if (n > 0) this.unacked.set(partition, n);
      else this.unacked.delete(partition);
    }
  }

  private async nextAfter(partition: string, seq: number): Promise<StoredMsg | null> {
    try {
      // `next_by_subj` is part of the server's STREAM.MSG.GET API; the client's type only lists seq/last.
      const req = { seq: seq + 1, next_by_subj: this.subject(partition) } as unknown as MsgRequest;
      return await this.jsm.streams.getMessage(this.streamOf(partition), req);
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  }

  async lastSeq(partition: string): Promise<number> {
    return (await lastMessageOn(this.jsm, this.streamOf(partition), this.subject(partition)))?.seq ?? 0;
  }

  /**
   * DeleteTenant's first step: a tombstone message on the partition's batch subject, fenced like an
   * append (only the owner that fenced the partition last can write it), after every batch of it.
   */
  async tombstone(partition: string): Promise<void> {
    const fence = this.fences.get(partition);
    if (fence === null || fence === undefined) {
      throw new SwitchboardError('SB_ERR_NOT_OWNER', `partition ${partition}: not fenced by this node`);
    }
    try {
      await this.pub.publish({
        subject: this.subject(partition),
        data: encodeBatch([]),
        msgId: `tomb:${idToken(partition)}:${fence}`,
        expectedLastSubjectSeq: fence,
        expectedSubject: this.fenceSubject(partition),
        headers: [[TOMBSTONE_HEADER, '1']],
      });
    } catch (e) {
      if (isWrongLastSequence(e)) {
        this.fences.set(partition, null);
        throw new SwitchboardError('SB_ERR_NOT_OWNER', `partition ${partition}: fenced by another owner`);
      }
      throw new SwitchboardError(
        'SB_ERR_UNAVAILABLE',
        `tombstone of ${partition} failed: ${(e as Error).message}`,
      );
    }
  }

  /** Whether the partition's last message is its tombstone (a deletion began and has not finished). */
  async tombstoned(partition: string): Promise<boolean> {
    const last = await lastMessageOn(this.jsm, this.streamOf(partition), this.subject(partition));
    return last?.header?.get(TOMBSTONE_HEADER) === '1';
  }

  /**
   * DeleteTenant's last step: purges the partition's fence subject, then its batch subject (every batch
   * and the tombstone with them, in one purge), and forgets what this log knew of it. A crash between the
   * two purges leaves the tombstone: whoever loads or deletes the partition next finishes. An owner
   * still writing with the purged fence is refused (its fence is no longer the last message).
   */
  async remove(partition: string): Promise<void> {
    const stream = this.streamOf(partition);
    await this.jsm.streams.purge(stream, { filter: this.fenceSubject(partition) });
    await this.jsm.streams.purge(stream, { filter: this.subject(partition) });
    this.fences.delete(partition);
    this.tails.delete(partition);
  }

  async *read(partition: string, afterSeq: number): AsyncIterable<LogBatch> {
    const target = await this.lastSeq(partition);
    if (target <= afterSeq) return;
    // An ordered consumer streams the partition's batches in order (flow-controlled, recreated on gaps),
    // far cheaper than one request per batch when replaying thousands.
    const consumer = await this.orderedConsumer(partition, afterSeq + 1);
    const msgs = await consumer.consume({ max_messages: 512 });
    try {
      for await (const m of msgs) {
        // A tombstone is no batch (its partition's deletion finishes before anything reads it as one).
        const batch = batchOfMessage(m.seq, m.data, m.headers);
        if (batch) yield batch;
        if (m.seq >= target) break;
      }
    } finally {
      await msgs.close().catch(() => {});
      await consumer.delete().catch(() => {});
    }
  }

  /**
   * Creating a consumer right after a server loss can time out while the stream's new leader settles:
   * retry for up to ~10 s, since a partition that cannot be read cannot be recovered at all.
   */
  private async orderedConsumer(partition: string, startSeq: number) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.js.consumers.get(this.streamOf(partition), {
          filter_subjects: [this.subject(partition)],
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: startSeq,
        });
      } catch (e) {
        if (attempt >= 4) throw e;
        await new Promise((r) => setTimeout(r, 250 * (attempt + 1)));
      }
    }
  }

  async trim(partition: string, uptoSeq: number): Promise<void> {
    // Purge strictly below `uptoSeq`: the batch at `uptoSeq` (the snapshot's own) stays, so the subject
    // is never empty and `expect.lastSubjectSequence` keeps fencing after a trim.
    if (uptoSeq <= 1) return;
    await this.jsm.streams.purge(this.streamOf(partition), { filter: this.subject(partition), seq: uptoSeq });
  }

  async close(): Promise<void> {
    this.pub.close();
    if (this.ownsConnection) await this.nc.drain();
  }
}

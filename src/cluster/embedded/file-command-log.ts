/**
 * Embedded `CommandLog`: one append-only file per partition under `<dataDir>/log/`.
 *
 * Each group-committed batch is one CRC-framed record (see `record-file.ts`). Seqs are contiguous per
 * partition (1, 2, 3 …). Durability modes:
 *
 * | fsync      | an append resolves after            | survives                       |
 * |------------|-------------------------------------|--------------------------------|
 * | `always`   | O_DSYNC write of the batch          | process crash, kernel crash    |
 * | `interval` | write (page cache); fsync every N ms| process crash (`kill -9`) only |
 *
 * `always` opens the file O_DSYNC, which gives exactly write + fdatasync's guarantee in one thread-pool
 * job instead of two. Two things keep that write short (measured with `loadtest/bench-log-write.ts`):
 *
 * - **Preallocation.** The file is extended ahead of the data with written zeros (as much as it holds,
 *   64 KiB – 1 MiB at a time; not `fallocate`, whose
 *   unwritten extents still need a metadata commit on first write), so an append overwrites allocated
 *   blocks and its O_DSYNC write skips the journal commit a size change costs (~190 → ~125 µs on this
 *   ext4 disk). The data ends at the first zero length (`scanRecords`); a clean `close` cuts the zeros off.
 * - **Pipelining.** Appends are positional writes at offsets reserved in call order, so several can be in
 *   flight at once (the host decides how many); each still resolves only after every earlier one, so
 *   "acknowledged" always means "this and everything before it is on disk". If a crash lands a later
 *   record but not an earlier one, the scan stops at the earlier one's zeros and cuts the rest (none of
 *   it was acknowledged). A failed write fails every append after it and the file is re-opened (re-scanned)
 *   before the next use.
 *
 * Fencing: an append names the seq it expects to follow; a mismatch means someone else wrote and rejects
 * with `SB_ERR_NOT_OWNER` without writing. Trim rewrites the file (temp + fsync + rename) keeping the
 * batches after the trim point (copied as bytes, not re-parsed) and a base record so `lastSeq` survives
 * even a trim of everything.
 */

import { constants as fsConstants, write, writeSync } from 'node:fs';
import { access, type FileHandle, mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { CommandEnvelope } from '../../engine/types.js';
import { SwitchboardError } from '../../errors/catalogue.js';
import { type CommandLog, DamagedStorageError, type LogBatch } from '../ports.js';
import type { WriteGate } from './data-dir-lock.js';
import {
  encodeRecord,
  laterBatchSeq,
  partitionFileName,
  partitionFromFileName,
  scanRecords,
} from './record-file.js';

export type FsyncPolicy = 'always' | 'interval';

export interface FileCommandLogOptions {
  dir: string;
  fsync?: FsyncPolicy;
  /** With `fsync: 'interval'`: how often dirty files are flushed (ms). */
  fsyncIntervalMs?: number;
  /**
   * `thread-pool` (default): appends are libuv thread-pool jobs. `main-thread`: one synchronous write per
   * group commit (with `always`, an O_DSYNC write, ~0.2 ms on this disk), which saves the hop to and from
   * a pool thread — the larger cost on a busy machine — but holds the event loop for the write, so it
   * suits nodes with few busy tenants. `auto`: synchronous while the log is quiet (no pool write in
   * flight and none synchronous yet this event-loop turn), the thread pool otherwise, so a lone group
   * commit skips the hop and a burst across tenants still writes in parallel. The durability guarantee
   * is the same either way.
   */
  writes?: 'thread-pool' | 'main-thread' | 'auto';
  /**
   * Most bytes of zeros written ahead of the data at a time (default 1 MiB; 0 = no preallocation). A
   * file gets as much as it already holds (at least 64 KiB), so thousands of quiet tenants do not
   * each reserve a megabyte.
   */
  preallocateBytes?: number;
  /** Called when a torn tail is found and cut off while opening a partition's file. */
  onTornTail?: (info: { partition: string; reason: string; keptBytes: number; droppedBytes: number }) => void;
  /**
   * Called when a write to a partition's file fails: a record (`write`: its append and every later one
   * fail), an `--fsync interval` flush (`fdatasync`), or the zeros written ahead (`preallocate`: not
   * fatal, appends grow the file themselves). `rewrite`: the file is rewritten before its next use (see
   * `LogWriteError`).
   */
  onWriteError?: (info: LogWriteError) => void;
  /** The writes and flushes of partition files (tests inject failures here); default: node:fs. */
  io?: Partial<LogIo>;
  /**
   * The data directory's lock (`acquireDataDirLock`): asked before every write (a record, the zeros
   * ahead, a trim, a rebase, a rewrite, a torn tail's cut, a tombstone, a removal) and before an append
   * is acknowledged, so nothing is written or acknowledged once the lock is lost to another node.
   */
  gate?: WriteGate;
}

/**
 * A failed write or flush of a partition's file. Unless the disk was full (`ENOSPC`, `EDQUOT`: nothing
 * was written past the bytes the call reported, and those the scan cuts), the file's pages in the
 * page cache can no longer be trusted to be on disk: after a failed writeback Linux marks them clean and
 * reports the error once, so a retried fsync succeeds and a re-read shows data the disk may not have
 * (Postgres' "fsyncgate"). Appending on would acknowledge batches after a hole a crash reveals, and
 * the scan would cut them. So the file is rewritten before its next use: what it holds is read back,
 * written to a new file, fdatasync'ed and renamed over it (`rewrite: true`).
 */
export interface LogWriteError {
  partition: string;
  op: 'write' | 'fdatasync' | 'preallocate';
  code: string;
  message: string;
  rewrite: boolean;
}

/** The file operations a `FileCommandLog` writes with (`FileCommandLogOptions.io`). */
export interface LogIo {
  /** A positional write on the thread pool (`fs.write`). */
  write(
    fd: number,
    buf: Buffer,
    offset: number,
    length: number,
    position: number,
    done: (e: NodeJS.ErrnoException | null, written: number) => void,
  ): void;
  /** A positional write on the calling thread (`fs.writeSync`). */
  writeSync(fd: number, buf: Buffer, offset: number, length: number, position: number): number;
  /** fdatasync of an open file (`--fsync interval` flushes). */
  fdatasync(fh: FileHandle): Promise<void>;
}

const fsIo: LogIo = {
  write: (fd, buf, offset, length, position, done) => write(fd, buf, offset, length, position, done),
  writeSync: (fd, buf, offset, length, position) => writeSync(fd, buf, offset, length, position),
  fdatasync: (fh) => fh.datasync(),
};

/** A full disk: the write did not happen (past what it reported), nothing cached is in doubt. */
function diskFull(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

type Record_ = { seq: number; commands: CommandEnvelope[] } | { base: number; lastSeq: number };

interface PartitionFile {
  partition: string;
  fh: FileHandle;
  path: string;
  /** Seq of the last append issued (written or still in flight). */
  lastSeq: number;
  /** Serialises the issue of appends and the steps of trims (each waits for the previous one). */
  chain: Promise<unknown>;
  /**
   * Settles when every write issued so far has; rejects if any of them failed. Each append resolves
   * through it, so acknowledgements come strictly in seq order.
   */
  written: Promise<void>;
  /** A write failed: nothing more is written to this handle; the file is re-opened before the next use. */
  broken: Error | null;
  dirty: boolean;
  /** End of the data in bytes (every write is a whole record placed by this object). */
  size: number;
  /** Length of the file on disk: `size` plus the zeros preallocated after it. */
  allocated: number;
  /** The zero-extension in progress, if any. */
  extending: Promise<void> | null;
  /**
   * Where each batch record in the file ends, oldest first: a trim copies the bytes after the trim point
   * instead of parsing and re-serialising every kept batch on the main thread.
   */
  ends: { seq: number; end: number }[];
  /** Bumped by every trim (a trim planned against an older file gives up). */
  trims: number;
}

const EXT = '.log';
/** A partition being deleted (DeleteTenant): `<name>.deleted`, written before its files are removed. */
const TOMB = '.deleted';
/**
 * Appends of one partition in flight at once, at most (`--appends-in-flight` allows up to 16): the
 * batches a crash can land after a torn one. A valid batch further on proves damage, not a torn tail.
 */
const TORN_WINDOW = 16;
/** Zeros kept ahead of a small file (a quiet tenant's). */
const MIN_PREALLOC = 64 * 1024;

/** Append-only, CRC-framed, fsync-configurable command log in local files. */
export class FileCommandLog implements CommandLog {
  private readonly dir: string;
  private readonly fsync: FsyncPolicy;
  private readonly writes: 'thread-pool' | 'main-thread' | 'auto';
  /** Record writes running on the thread pool, log-wide (`auto`). */
  private poolWrites = 0;
  /** A synchronous write happened in this event-loop turn (`auto`; cleared by the next check phase). */
  private syncThisTurn = false;
  private readonly prealloc: number;
  private readonly files = new Map<string, Promise<PartitionFile>>();
  /** The open file of each partition whose open finished (absent while it (re)opens). */
  private readonly opened = new Map<string, PartitionFile>();
  /** Operations of each partition queued on its chain and not yet issued (the fast path waits for 0). */
  private readonly queued = new Map<string, number>();
  private readonly timer: NodeJS.Timeout | null = null;
  private zeros: Buffer | null = null;
  private closed = false;
  private readonly io: LogIo;
  /** Partitions whose file must be rewritten before its next use (a failed write or flush: `LogWriteError`). */
  private readonly untrusted = new Set<string>();
  private readonly gate: WriteGate | null;

  constructor(private readonly opts: FileCommandLogOptions) {
    this.dir = opts.dir;
    this.fsync = opts.fsync ?? 'always';
    this.writes = opts.writes ?? 'thread-pool';
    this.prealloc = Math.max(0, Math.floor(opts.preallocateBytes ?? 1 << 20));
    this.io = { ...fsIo, ...opts.io };
    this.gate = opts.gate ?? null;
    if (this.fsync === 'interval') {
      this.timer = setInterval(() => void this.flushDirty(), opts.fsyncIntervalMs ?? 100);
      this.timer.unref();
    }
  }

  /**
   * Partitions that have a log file and no tombstone (used at start-up to recover every known tenant; a
   * tombstoned one is being deleted: see `tombstones`).
   */
  async partitions(): Promise<string[]> {
    await mkdir(this.dir, { recursive: true });
    const names = await readdir(this.dir);
    const dead = new Set(names.filter((n) => n.endsWith(TOMB)).map((n) => n.slice(0, -TOMB.length)));
    return names
      .filter((n) => n.endsWith(EXT) && !dead.has(n.slice(0, -EXT.length)))
      .map((n) => partitionFromFileName(n.slice(0, -EXT.length)));
  }

  /**
   * DeleteTenant's first step: an empty `<partition>.deleted` file beside the log, durable (file and
   * directory synced) before it resolves. From then on the partition is not listed by `partitions`.
   */
  async tombstone(partition: string): Promise<void> {
    await this.admitted();
    await mkdir(this.dir, { recursive: true });
    const fh = await open(this.tombPath(partition), 'w');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await this.syncDir();
  }

  async tombstoned(partition: string): Promise<boolean> {
    return access(this.tombPath(partition)).then(
      () => true,
      () => false,
    );
  }

  /** Partitions whose deletion began (a tombstone) and has not finished. */
  async tombstones(): Promise<string[]> {
    await mkdir(this.dir, { recursive: true });
    const names = await readdir(this.dir);
    return names.filter((n) => n.endsWith(TOMB)).map((n) => partitionFromFileName(n.slice(0, -TOMB.length)));
  }

  /**
   * Deletes the partition's log file (after every write in flight settled; its handle closed), then its
   * tombstone, each unlink made durable: a crash in between leaves the tombstone, and the next start
   * finishes. Idempotent.
   */
  async remove(partition: string): Promise<void> {
    await this.admitted();
    const p = this.files.get(partition);
    this.files.delete(partition);
    this.opened.delete(partition);
    const f = await p?.catch(() => null);
    if (f) {
      await f.chain.catch(() => undefined);
      await f.written.catch(() => undefined);
      if (f.extending) await f.extending.catch(() => undefined);
      await f.fh.close().catch(() => undefined);
    }
    const path = join(this.dir, partitionFileName(partition) + EXT);
    await this.admitted();
    await unlink(`${path}.trim`).catch(() => undefined);
    await unlinkIfThere(path);
    await this.syncDir();
    await unlinkIfThere(this.tombPath(partition));
    await this.syncDir();
  }

  private tombPath(partition: string): string {
    return join(this.dir, partitionFileName(partition) + TOMB);
  }

  /**
   * Reserves the next seq and the bytes after the data in call order, starts the write, and resolves once
   * it and every earlier append are durable. Does not wait for earlier writes before starting its own.
   */
  append(partition: string, commands: CommandEnvelope[], expectedLastSeq: number): Promise<number> {
    // The usual case (file open, nothing queued before it): placed and started now, without a trip
    // through the partition's chain — fewer promises per group commit on the event loop.
    const ready = this.idleFile(partition);
    if (ready && ready.lastSeq === expectedLastSeq && (this.gate === null || this.gate.open())) {
      const seq = ready.lastSeq + 1;
      const rec = encodeRecord({ seq, commands });
      if (ready.size + rec.length <= ready.allocated || !ready.extending) {
        const at = this.place(ready, seq, rec.length);
        const done = this.chainWrite(ready, this.writeAt(ready, rec, at));
        this.extendIfLow(ready);
        return done.then(() => this.acked(seq));
      }
    }
    return this.serial(partition, async (f) => {
      if (f.broken) throw new SwitchboardError('SB_ERR_UNAVAILABLE', `log of ${partition} failed a write`);
      if (f.lastSeq !== expectedLastSeq) {
        throw new SwitchboardError(
          'SB_ERR_NOT_OWNER',
          `log of ${partition} is at seq ${f.lastSeq}, not ${expectedLastSeq}: another writer appended`,
        );
      }
      const seq = f.lastSeq + 1;
      const rec = encodeRecord({ seq, commands });
      // Past the zeros: wait for the extension under way (it writes there), else grow the file.
      if (f.size + rec.length > f.allocated && f.extending) await f.extending;
      // Nothing is placed or written until the lock is confirmed (the first append after a stop waits
      // here for the check; every one after the lock was lost is refused).
      await this.admitted();
      if (f.broken) throw new SwitchboardError('SB_ERR_UNAVAILABLE', `log of ${partition} failed a write`);
      const at = this.place(f, seq, rec.length);
      const done = this.chainWrite(f, this.writeAt(f, rec, at));
      this.extendIfLow(f);
      // Wrapped: the chain must not wait for the write, only for its issue.
      return { durable: done.then(() => this.acked(seq)) };
    }).then((r) => r.durable);
  }

  /**
   * Null when the data directory's lock lets writes go ahead now (the usual case: no promise); else
   * its check, which rejects `SB_ERR_UNAVAILABLE` once the lock is lost (`WriteGate`).
   */
  private admit(): Promise<void> | null {
    return this.gate === null || this.gate.open() ? null : this.gate.confirm();
  }

  private async admitted(): Promise<void> {
    const wait = this.admit();
    if (wait) await wait;
  }

  /**
   * An append's answer once its write is durable: not while the lock is unconfirmed or lost. A write
   * handed to the thread pool before a stop may land after the lock was taken over, where the new
   * holder, having read the file already, does not see it: acknowledged, it would be lost.
   */
  private acked(seq: number): number | Promise<number> {
    const wait = this.admit();
    return wait ? wait.then(() => seq) : seq;
  }

  /** The partition's open, healthy file when no operation waits on its chain (else null). */
  private idleFile(partition: string): PartitionFile | null {
    if (this.closed || this.queued.has(partition)) return null;
    const f = this.opened.get(partition);
    return f && !f.broken ? f : null;
  }

  /** Reserves the next `length` bytes after the data for batch `seq`; returns their offset. */
  private place(f: PartitionFile, seq: number, length: number): number {
    const at = f.size;
    f.size += length;
    f.allocated = Math.max(f.allocated, f.size);
    f.ends.push({ seq, end: f.size });
    f.lastSeq = seq;
    if (this.fsync !== 'always') f.dirty = true;
    return at;
  }

  /**
   * Chains a write behind every earlier one: the result settles only once all of them have (so a file is
   * never closed or re-read under a write still running) and rejects if any of them failed.
   */
  private chainWrite(f: PartitionFile, mine: Promise<void>): Promise<void> {
    const done = f.written.then(
      () => mine,
      (e: unknown) => {
        const fail = () => {
          throw e;
        };
        return mine.then(fail, fail);
      },
    );
    f.written = done;
    done.catch(() => undefined);
    return done;
  }

  /** Starts one positional write; a failure breaks the file so nothing is written after a gap. */
  private writeAt(f: PartitionFile, rec: Buffer, at: number): Promise<void> {
    if (this.writeNow()) {
      try {
        writeAllSync(this.io, f.fh.fd, rec, at);
        return Promise.resolve();
      } catch (e) {
        return Promise.reject(e).catch((err: unknown) => {
          this.breakFile(f, err as Error, 'write');
          throw err;
        });
      }
    }
    this.poolWrites++;
    // Callback API on the raw fd (like the synchronous path): one promise per record instead of the
    // FileHandle's async write, its result object and a finally/catch pair — this runs once per group
    // commit on the event loop. Closing still waits for it: close follows `written`, which follows this.
    return new Promise<void>((resolve, reject) => {
      writeFully(this.io, f.fh.fd, rec, at, 0, (e) => {
        this.poolWrites--;
        if (e === null) return resolve();
        this.breakFile(f, e, 'write');
        reject(e);
      });
    });
  }

  /** Whether this record write runs synchronously on the calling thread. */
  private writeNow(): boolean {
    if (this.writes === 'main-thread') return true;
    if (this.writes === 'thread-pool' || this.poolWrites > 0 || this.syncThisTurn) return false;
    this.syncThisTurn = true;
    setImmediate(() => {
      this.syncThisTurn = false;
    });
    return true;
  }

  /**
   * After a failed write the in-memory position is no longer what is on disk: forget the file, so the
   * next use re-opens it once every write in flight has settled (the scan then cuts any gap), rewritten
   * first unless the disk was merely full (`LogWriteError`).
   */
  private breakFile(f: PartitionFile, e: Error, op: 'write' | 'fdatasync'): void {
    const rewrite = op === 'fdatasync' || !diskFull(e);
    if (rewrite) this.untrusted.add(f.partition);
    this.reportWriteError(f.partition, op, e, rewrite);
    if (f.broken) return;
    f.broken = e;
    const name = f.partition;
    if (this.opened.get(name) === f) this.opened.delete(name);
    const p = this.files.get(name);
    void p?.then((g) => {
      if (g !== f || this.files.get(name) !== p) return;
      const reopened = f.written
        .catch(() => undefined)
        .then(() => f.extending)
        .then(() => f.fh.close().catch(() => undefined))
        .then(() => this.openFile(name, true));
      this.files.set(name, reopened);
      this.track(name, reopened);
    });
  }

  private reportWriteError(partition: string, op: LogWriteError['op'], e: Error, rewrite: boolean): void {
    this.opts.onWriteError?.({
      partition,
      op,
      code: (e as NodeJS.ErrnoException).code ?? 'UNKNOWN',
      message: e.message,
      rewrite,
    });
  }

  /** How many zeros to keep ahead of a file holding `size` bytes of data. */
  private chunkFor(size: number): number {
    return Math.min(this.prealloc, Math.max(MIN_PREALLOC, size));
  }

  /** Keeps zeros ahead of the data: when less than half a chunk is left, writes the next one. */
  private extendIfLow(f: PartitionFile): void {
    if (this.prealloc === 0 || f.extending || f.broken || (this.gate !== null && !this.gate.open())) return;
    const chunk = this.chunkFor(f.size);
    if (f.allocated - f.size >= chunk / 2) return;
    this.zeros ??= Buffer.alloc(this.prealloc);
    const zeros = this.zeros.subarray(0, chunk);
    const from = f.allocated;
    const fh = f.fh;
    f.extending = (async () => {
      try {
        await new Promise<void>((resolve, reject) =>
          writeFully(this.io, fh.fd, zeros, from, 0, (e) => (e ? reject(e) : resolve())),
        );
        // Under `always` the handle is O_DSYNC, so the new length is already durable; otherwise the
        // periodic fdatasync covers it like any other write.
        if (f.fh === fh) f.allocated = Math.max(f.allocated, from + zeros.length);
      } catch (e) {
        // Not fatal: appends then grow the file themselves (slower, same guarantee). Told all the same:
        // on a full disk this is the first sign, before appends fail.
        this.reportWriteError(f.partition, 'preallocate', e as Error, false);
      } finally {
        f.extending = null;
      }
    })();
  }

  async *read(partition: string, afterSeq: number): AsyncIterable<LogBatch> {
    const f = await this.settledFile(partition);
    const { records } = scanRecords<Record_>(await readFile(f.path));
    for (const r of records) {
      // Seqs are contiguous per partition (each append is the last seq + 1), so a batch's predecessor is
      // its seq − 1: a trim past a loader's snapshot shows as a first batch that does not follow it.
      if ('seq' in r && r.seq > afterSeq) yield { seq: r.seq, commands: r.commands, prev: r.seq - 1 };
    }
  }

  async lastSeq(partition: string): Promise<number> {
    const f = await this.settledFile(partition);
    return f.lastSeq;
  }

  /**
   * The partition's file once appends/trims already started have finished (re-opened if a write
   * failed), so a reader sees everything acknowledged before it asked and nothing that was not written.
   */
  private async settledFile(partition: string): Promise<PartitionFile> {
    for (;;) {
      const f = await this.file(partition);
      await f.chain.catch(() => undefined);
      await f.written.catch(() => undefined);
      if (!f.broken) return f;
      // Let the re-open scheduled by `breakFile` replace it.
      await new Promise((r) => setImmediate(r));
    }
  }

  /**
   * Keeps the batches after `uptoSeq`. The bulk copy and its fsync run beside the appends (they only
   * add bytes past the point copied); only the catch-up of what was appended meanwhile, the rename and
   * the directory fsync hold the partition's appends, so a trim is not a pause in everyone's replies.
   */
  async trim(partition: string, uptoSeq: number): Promise<void> {
    const plan = await this.serial(partition, async (f) => {
      // Copy only bytes already on disk: wait for the writes in flight (new ones queue behind us).
      await f.written;
      const cut = f.ends.findIndex((e) => e.seq === uptoSeq);
      if (cut < 0) return null;
      return {
        f,
        from: (f.ends[cut] as { end: number }).end,
        mark: f.size,
        lastSeq: f.lastSeq,
        trims: f.trims,
      };
    });
    // The trim point is not a batch boundary this object wrote or indexed: rewrite from a full scan.
    if (!plan) return this.serial(partition, (f) => this.rewrite(f, uptoSeq));
    const { f, from, mark } = plan;
    const base = encodeRecord({ base: uptoSeq, lastSeq: plan.lastSeq });
    const tmp = `${f.path}.trim`;
    await this.admitted();
    const out = await open(tmp, 'w');
    let done = false;
    try {
      await writeAll(this.io, out, base, 0);
      const bulk = await readRange(f.path, from, mark - from);
      await writeAll(this.io, out, bulk, base.length);
      const dataEnd = base.length + bulk.length;
      // The new file starts preallocated too (the catch-up below overwrites the start of the zeros).
      const chunk = this.prealloc > 0 ? this.chunkFor(dataEnd) : 0;
      if (chunk > 0) {
        this.zeros ??= Buffer.alloc(this.prealloc);
        await writeAll(this.io, out, this.zeros.subarray(0, chunk), dataEnd);
      }
      await out.datasync();
      await this.serial(partition, async (g) => {
        if (g !== f || g.trims !== plan.trims || g.broken) return;
        await f.written;
        const tail = await readRange(f.path, mark, f.size - mark);
        if (tail.length > 0) {
          await writeAll(this.io, out, tail, dataEnd);
          await out.datasync();
        }
        await out.close();
        done = true;
        await this.admitted();
        const length = Math.max(dataEnd + chunk, dataEnd + tail.length);
        await this.swap(f, tmp, (e) => e.seq > uptoSeq, base.length - from, length);
      });
    } finally {
      if (!done) await discard(out, tmp);
    }
  }

  /** Replaces the partition's file by `tmp` (already durable, `length` bytes) and reopens it for appends. */
  private async swap(
    f: PartitionFile,
    tmp: string,
    keep: (e: { seq: number; end: number }) => boolean,
    shift: number,
    length: number,
  ): Promise<void> {
    if (f.extending) await f.extending;
    await rename(tmp, f.path);
    await this.syncDir();
    await this.reopen(f);
    f.ends = f.ends.filter(keep).map((e) => ({ seq: e.seq, end: e.end + shift }));
    f.size += shift;
    f.allocated = length;
    f.trims++;
    f.dirty = false;
  }

  /** See `CommandLog.rebase`: the file becomes one base record at `seq` (written aside, then renamed). */
  async rebase(partition: string, seq: number): Promise<void> {
    await this.serial(partition, async (f) => {
      if (f.broken) throw new SwitchboardError('SB_ERR_UNAVAILABLE', `log of ${partition} failed a write`);
      await f.written;
      if (f.lastSeq >= seq) return;
      if (f.extending) await f.extending;
      const base = encodeRecord({ base: seq, lastSeq: seq });
      const tmp = `${f.path}.trim`;
      await this.admitted();
      const out = await open(tmp, 'w');
      try {
        await writeAll(this.io, out, base, 0);
        await out.datasync();
      } catch (e) {
        await discard(out, tmp);
        throw e;
      }
      await out.close();
      await this.admitted();
      await this.swap(f, tmp, () => false, 0, base.length);
      f.size = base.length;
      f.lastSeq = seq;
    });
  }

  private async rewrite(f: PartitionFile, uptoSeq: number): Promise<void> {
    if (f.broken) return;
    await f.written;
    if (f.extending) await f.extending;
    const { records } = scanRecords<Record_>(await readFile(f.path));
    const tmp = `${f.path}.trim`;
    await this.admitted();
    const out = await open(tmp, 'w');
    const ends: { seq: number; end: number }[] = [];
    let size = 0;
    try {
      const base = encodeRecord({ base: uptoSeq, lastSeq: f.lastSeq });
      await writeAll(this.io, out, base, 0);
      size = base.length;
      for (const r of records) {
        if (!('seq' in r) || r.seq <= uptoSeq) continue;
        const b = encodeRecord(r);
        await writeAll(this.io, out, b, size);
        size += b.length;
        ends.push({ seq: r.seq, end: size });
      }
      await out.datasync();
    } catch (e) {
      await discard(out, tmp);
      throw e;
    }
    await out.close();
    await this.admitted();
    await rename(tmp, f.path);
    await this.syncDir();
    await this.reopen(f);
    f.ends = ends;
    f.size = size;
    f.allocated = size;
    f.trims++;
    f.dirty = false;
  }

  /**
   * Points `f` at its path's new file (renamed over the old one), then closes the old handle. In that
   * order: `flushDirty` runs beside trims and flushes whatever `f.fh` is, so it must never find a closed
   * handle there. It did (the old one closed before the rename, the new one opened after the directory
   * fsync): its EBADF broke the file, the next append failed ('log of … failed a write'), the file was
   * rewritten and a write failure reported, for nothing. A flush of the old handle is harmless (what it
   * held was copied and synced); closing it waits for one under way.
   */
  private async reopen(f: PartitionFile): Promise<void> {
    const old = f.fh;
    f.fh = await open(f.path, this.writeFlags());
    await old.close();
  }

  /** Waits for writes in flight, cuts the preallocated zeros off (a cleanly closed file is just its records). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    // A lock lost to another node: its files are the other node's now, not to be cut or flushed.
    const writable = await this.admitted().then(
      () => true,
      () => false,
    );
    for (const p of this.files.values()) {
      const f = await p.catch(() => null);
      if (!f) continue;
      await f.chain.catch(() => undefined);
      await f.written.catch(() => undefined);
      if (f.extending) await f.extending;
      if (!writable) {
        await f.fh.close().catch(() => undefined);
        continue;
      }
      if (!f.broken && f.allocated > f.size) {
        await f.fh.truncate(f.size).catch(() => undefined);
        f.dirty = true;
      }
      if (f.dirty)
        await this.io.fdatasync(f.fh).catch((e: unknown) => {
          // Nothing more can be done here: the next start reads what the disk (or its cache) holds.
          this.reportWriteError(f.partition, 'fdatasync', e as Error, false);
        });
      await f.fh.close().catch(() => undefined);
    }
    this.files.clear();
    this.opened.clear();
  }

  /**
   * Flushes files written under `fsync: 'interval'`. A failed flush is not retried (a retry "succeeds":
   * the error is reported once and the pages are marked clean, on disk or not): the file is rewritten
   * before its next use, its appends failing meanwhile (`LogWriteError`).
   */
  async flushDirty(): Promise<void> {
    for (const p of this.files.values()) {
      const f = await p.catch(() => null);
      if (!f?.dirty || f.broken) continue;
      f.dirty = false;
      await this.io.fdatasync(f.fh).catch((e: unknown) => this.breakFile(f, e as Error, 'fdatasync'));
    }
  }

  private serial<T>(partition: string, op: (f: PartitionFile) => Promise<T>): Promise<T> {
    if (this.closed)
      return Promise.reject(new SwitchboardError('SB_ERR_UNAVAILABLE', 'command log is closed'));
    this.queued.set(partition, (this.queued.get(partition) ?? 0) + 1);
    const run = this.file(partition).then((f) => {
      const r = f.chain.then(
        () => op(f),
        () => op(f),
      );
      f.chain = r.catch(() => undefined);
      return r;
    });
    const issued = () => {
      const n = (this.queued.get(partition) ?? 1) - 1;
      if (n > 0) this.queued.set(partition, n);
      else this.queued.delete(partition);
    };
    run.then(issued, issued);
    return run;
  }

  private file(partition: string): Promise<PartitionFile> {
    let p = this.files.get(partition);
    if (!p) {
      p = this.openFile(partition);
      this.files.set(partition, p);
      this.track(partition, p);
    }
    return p;
  }

  /** Keeps `opened` in step with `files` once an open settles (a failed open is forgotten). */
  private track(partition: string, p: Promise<PartitionFile>): void {
    p.then(
      (f) => {
        if (this.files.get(partition) === p && !this.closed) this.opened.set(partition, f);
      },
      () => {
        if (this.files.get(partition) === p) this.files.delete(partition);
      },
    );
  }

  /** `afterWriteError`: re-opened after a failed write (already reported: a torn tail is its own). */
  private async openFile(partition: string, afterWriteError = false): Promise<PartitionFile> {
    await mkdir(this.dir, { recursive: true });
    const path = join(this.dir, partitionFileName(partition) + EXT);
    // A trim interrupted before its rename leaves a temp file: the original is still complete. (Not
    // once the lock is lost: it may be the new holder's trim under way.)
    if (this.admit() === null) await unlink(`${path}.trim`).catch(() => undefined);
    let buf: Buffer;
    let created = false;
    try {
      buf = await readFile(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      buf = Buffer.alloc(0);
      created = true;
    }
    const scan = scanRecords<Record_>(buf);
    let lastSeq = 0;
    for (const r of scan.records) lastSeq = 'seq' in r ? r.seq : Math.max(lastSeq, r.lastSeq);
    // Only zeros after the data (a preallocated tail, e.g. after a crash) are kept as preallocation;
    // anything else after it is cut, so a later write can never line up with stale bytes.
    let allocated = buf.length;
    if (scan.torn !== null) {
      // A crash tears the tail only: the record cut short and, at most, appends that were in flight
      // beside it (never acknowledged). Under `always`, a valid batch further on than that was written
      // after the damaged record was durable and acknowledged: the damage is in the middle (a bad
      // sector, a bit flip, a stray write), and cutting there would drop acknowledged batches. Nothing
      // is cut then; the partition is refused until an operator looks (RUNBOOK). Under `interval` the
      // page cache reaches the disk in any order, so a power loss can leave such a hole: cut, as before.
      const later = this.fsync === 'always' ? laterBatchSeq(buf, scan.validLength) : null;
      if (later !== null && later > lastSeq + TORN_WINDOW) {
        throw new DamagedStorageError(
          `command log ${path} is damaged at byte ${scan.validLength} (${scan.torn}) after batch ${lastSeq}, and batches up to ${later} follow the damage: not a torn tail, so nothing was cut`,
        );
      }
    }
    if (this.untrusted.has(partition)) {
      // A write or flush of this file failed (`LogWriteError`): what the page cache shows is written
      // again, to a new file, and made durable before anything is appended after it (a torn tail is
      // left out). On failure the open fails, and the next use tries again.
      const tmp = `${path}.trim`;
      await this.admitted();
      const out = await open(tmp, 'w');
      try {
        await writeAll(this.io, out, buf.subarray(0, scan.validLength), 0);
        await out.datasync();
      } catch (e) {
        await discard(out, tmp);
        throw e;
      }
      await out.close();
      await this.admitted();
      await rename(tmp, path);
      await this.syncDir();
      this.untrusted.delete(partition);
      allocated = scan.validLength;
    } else if (scan.torn !== null) {
      // Not a tail the new holder is writing right now, once the lock is lost.
      await this.admitted();
      const fix = await open(path, 'r+');
      try {
        await fix.truncate(scan.validLength);
        await fix.datasync();
      } finally {
        await fix.close();
      }
      allocated = scan.validLength;
    }
    if (scan.torn !== null && !afterWriteError) {
      this.opts.onTornTail?.({
        partition,
        reason: scan.torn,
        keptBytes: scan.validLength,
        droppedBytes: buf.length - scan.validLength,
      });
    }
    const ends: { seq: number; end: number }[] = [];
    let end = 0;
    for (const r of scan.records) {
      end += 8 + buf.readUInt32LE(end);
      if ('seq' in r) ends.push({ seq: r.seq, end });
    }
    const fh = await open(path, this.writeFlags());
    if (created) await this.syncDir();
    return {
      partition,
      fh,
      path,
      lastSeq,
      chain: Promise.resolve(),
      written: Promise.resolve(),
      broken: null,
      dirty: false,
      size: scan.validLength,
      allocated,
      extending: null,
      ends,
      trims: 0,
    };
  }

  /** Positional writes (no O_APPEND: records go at reserved offsets); with `always`, O_DSYNC. */
  private writeFlags(): number {
    const c = fsConstants;
    return c.O_WRONLY | c.O_CREAT | (this.fsync === 'always' ? c.O_DSYNC : 0);
  }

  /** Makes a created or renamed file's directory entry durable. */
  private async syncDir(): Promise<void> {
    const d = await open(this.dir, 'r');
    try {
      await d.sync();
    } catch {
      // Some file systems refuse fsync on directories; the data itself was already synced.
    } finally {
      await d.close();
    }
  }
}

/** Unlinks a file; one that is not there is fine (a removal repeated after a crash). */
async function unlinkIfThere(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/** Reads `length` bytes of a file from `position`. */
async function readRange(path: string, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  if (length === 0) return buf;
  const fh = await open(path, 'r');
  try {
    let off = 0;
    while (off < length) {
      const { bytesRead } = await fh.read(buf, off, length - off, position + off);
      if (bytesRead === 0) throw new Error(`log file ${path} is shorter than expected`);
      off += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return buf;
}

/** Writes the whole buffer at `position` (a regular file takes it in one call; the loop covers a short write). */
function writeAll(io: LogIo, fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  return new Promise((resolve, reject) =>
    writeFully(io, fh.fd, buf, position, 0, (e) => (e ? reject(e) : resolve())),
  );
}

/**
 * A temp file that failed half-way is removed: on a full disk it holds the very space the log needs
 * (a trim's copy of a tenant's log, a rewrite's), until the next open of the partition would remove it.
 */
async function discard(out: FileHandle, tmp: string): Promise<void> {
  await out.close().catch(() => undefined);
  await unlink(tmp).catch(() => undefined);
}

/** Writes `buf[from..]` at `position + from` on the thread pool, looping over short writes. */
function writeFully(
  io: LogIo,
  fd: number,
  buf: Buffer,
  position: number,
  from: number,
  done: (e: NodeJS.ErrnoException | null) => void,
): void {
  io.write(fd, buf, from, buf.length - from, position + from, (e, n) => {
    if (e) done(e);
    else if (from + n < buf.length) writeFully(io, fd, buf, position, from + n, done);
    else done(null);
  });
}

function writeAllSync(io: LogIo, fd: number, buf: Buffer, position: number): void {
  let off = 0;
  while (off < buf.length) off += io.writeSync(fd, buf, off, buf.length - off, position + off);
}

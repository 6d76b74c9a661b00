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
 * The host keeps one append in flight per partition and folds everything that arrives meanwhile into the
 * next append, so one synchronous write covers a whole batch of conversations. `always` opens the file
 * O_DSYNC, which gives exactly write + fdatasync's guarantee (data and the size change on disk before the
 * write returns) in one thread-pool job instead of two (`npm run loadtest:grpc` measured the difference).
 *
 * Fencing: an append names the seq it expects to follow; a mismatch means someone else wrote and rejects
 * with `SB_ERR_NOT_OWNER` without writing. Trim rewrites the file (temp + fsync + rename) keeping the
 * batches after the trim point (copied as bytes, not re-parsed) and a base record so `lastSeq` survives
 * even a trim of everything.
 */

import { constants as fsConstants, writeSync } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { CommandEnvelope } from '../../engine/types.js';
import { SwitchboardError } from '../../errors/catalogue.js';
import type { CommandLog, LogBatch } from '../ports.js';
import { encodeRecord, partitionFileName, partitionFromFileName, scanRecords } from './record-file.js';

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
   * suits nodes with few busy tenants. The durability guarantee is the same either way.
   */
  writes?: 'thread-pool' | 'main-thread';
  /** Called when a torn tail is found and cut off while opening a partition's file. */
  onTornTail?: (info: { partition: string; reason: string; keptBytes: number; droppedBytes: number }) => void;
}

type Record_ = { seq: number; commands: CommandEnvelope[] } | { base: number; lastSeq: number };

interface PartitionFile {
  fh: FileHandle;
  path: string;
  lastSeq: number;
  /** Serialises appends and trims of this partition (each waits for the previous one). */
  chain: Promise<unknown>;
  dirty: boolean;
  /** File length in bytes (every write is a whole record appended by this object). */
  size: number;
  /**
   * Where each batch record in the file ends, oldest first: a trim copies the bytes after the trim point
   * instead of parsing and re-serialising every kept batch on the main thread.
   */
  ends: { seq: number; end: number }[];
  /** Bumped by every trim (a trim planned against an older file gives up). */
  trims: number;
}

const EXT = '.log';

/** Append-only, CRC-framed, fsync-configurable command log in local files. */
export class FileCommandLog implements CommandLog {
  private readonly dir: string;
  private readonly fsync: FsyncPolicy;
  private readonly syncWrites: boolean;
  private readonly files = new Map<string, Promise<PartitionFile>>();
  private readonly timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly opts: FileCommandLogOptions) {
    this.dir = opts.dir;
    this.fsync = opts.fsync ?? 'always';
    this.syncWrites = opts.writes === 'main-thread';
    if (this.fsync === 'interval') {
      this.timer = setInterval(() => void this.flushDirty(), opts.fsyncIntervalMs ?? 100);
      this.timer.unref();
    }
  }

  /** Partitions that have a log file (used at start-up to recover every known tenant). */
  async partitions(): Promise<string[]> {
    await mkdir(this.dir, { recursive: true });
    const names = await readdir(this.dir);
    return names.filter((n) => n.endsWith(EXT)).map((n) => partitionFromFileName(n.slice(0, -EXT.length)));
  }

  append(partition: string, commands: CommandEnvelope[], expectedLastSeq: number): Promise<number> {
    return this.serial(partition, async (f) => {
      if (f.lastSeq !== expectedLastSeq) {
        throw new SwitchboardError(
          'SB_ERR_NOT_OWNER',
          `log of ${partition} is at seq ${f.lastSeq}, not ${expectedLastSeq}: another writer appended`,
        );
      }
      const seq = f.lastSeq + 1;
      const rec = encodeRecord({ seq, commands });
      // With `always` the file is opened O_DSYNC: one write call is the write and its fdatasync, one
      // thread-pool round trip instead of two.
      if (this.syncWrites) writeAllSync(f.fh.fd, rec);
      else await f.fh.write(rec);
      if (this.fsync !== 'always') f.dirty = true;
      f.size += rec.length;
      f.ends.push({ seq, end: f.size });
      f.lastSeq = seq;
      return seq;
    });
  }

  async *read(partition: string, afterSeq: number): AsyncIterable<LogBatch> {
    const f = await this.file(partition);
    // Wait for appends/trims already started so the reader sees everything acknowledged before it asked.
    await f.chain.catch(() => undefined);
    const { records } = scanRecords<Record_>(await readFile(f.path));
    for (const r of records) {
      if ('seq' in r && r.seq > afterSeq) yield { seq: r.seq, commands: r.commands };
    }
  }

  async lastSeq(partition: string): Promise<number> {
    const f = await this.file(partition);
    await f.chain.catch(() => undefined);
    return f.lastSeq;
  }

  /**
   * Keeps the batches after `uptoSeq`. The bulk copy and its fsync run beside the appends (they only
   * add bytes past the point copied); only the catch-up of what was appended meanwhile, the rename and
   * the directory fsync hold the partition's appends, so a trim is not a pause in everyone's replies.
   */
  async trim(partition: string, uptoSeq: number): Promise<void> {
    const plan = await this.serial(partition, async (f) => {
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
    const out = await open(tmp, 'w');
    let done = false;
    try {
      await out.write(base);
      await out.write(await readRange(f.path, from, mark - from));
      await out.datasync();
      await this.serial(partition, async (g) => {
        if (g !== f || g.trims !== plan.trims) return;
        const tail = await readRange(f.path, mark, f.size - mark);
        if (tail.length > 0) {
          await out.write(tail);
          await out.datasync();
        }
        await out.close();
        done = true;
        await this.swap(f, tmp, (e) => e.seq > uptoSeq, base.length - from);
      });
    } finally {
      if (!done) await out.close().catch(() => undefined);
    }
  }

  /** Replaces the partition's file by `tmp` (already durable) and reopens it for appends. */
  private async swap(
    f: PartitionFile,
    tmp: string,
    keep: (e: { seq: number; end: number }) => boolean,
    shift: number,
  ): Promise<void> {
    await f.fh.close();
    await rename(tmp, f.path);
    await this.syncDir();
    f.fh = await open(f.path, this.appendFlags());
    f.ends = f.ends.filter(keep).map((e) => ({ seq: e.seq, end: e.end + shift }));
    f.size += shift;
    f.trims++;
    f.dirty = false;
  }

  private async rewrite(f: PartitionFile, uptoSeq: number): Promise<void> {
    const { records } = scanRecords<Record_>(await readFile(f.path));
    const tmp = `${f.path}.trim`;
    const out = await open(tmp, 'w');
    const ends: { seq: number; end: number }[] = [];
    let size = 0;
    try {
      const base = encodeRecord({ base: uptoSeq, lastSeq: f.lastSeq });
      await out.write(base);
      size = base.length;
      for (const r of records) {
        if (!('seq' in r) || r.seq <= uptoSeq) continue;
        const b = encodeRecord(r);
        await out.write(b);
        size += b.length;
        ends.push({ seq: r.seq, end: size });
      }
      await out.datasync();
    } finally {
      await out.close();
    }
    await f.fh.close();
    await rename(tmp, f.path);
    await this.syncDir();
    f.fh = await open(f.path, this.appendFlags());
    f.ends = ends;
    f.size = size;
    f.trims++;
    f.dirty = false;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    for (const p of this.files.values()) {
      const f = await p.catch(() => null);
      if (!f) continue;
      await f.chain.catch(() => undefined);
      if (f.dirty) await f.fh.datasync().catch(() => undefined);
      await f.fh.close().catch(() => undefined);
    }
    this.files.clear();
  }

  /** Flushes files written under `fsync: 'interval'`. */
  async flushDirty(): Promise<void> {
    for (const p of this.files.values()) {
      const f = await p.catch(() => null);
      if (!f?.dirty) continue;
      f.dirty = false;
      await f.fh.datasync().catch(() => {
        f.dirty = true;
      });
    }
  }

  private serial<T>(partition: string, op: (f: PartitionFile) => Promise<T>): Promise<T> {
    if (this.closed)
      return Promise.reject(new SwitchboardError('SB_ERR_UNAVAILABLE', 'command log is closed'));
    return this.file(partition).then((f) => {
      const run = f.chain.then(
        () => op(f),
        () => op(f),
      );
      f.chain = run.catch(() => undefined);
      return run;
    });
  }

  private file(partition: string): Promise<PartitionFile> {
    let p = this.files.get(partition);
    if (!p) {
      p = this.openFile(partition);
      this.files.set(partition, p);
      p.catch(() => this.files.delete(partition));
    }
    return p;
  }

  private async openFile(partition: string): Promise<PartitionFile> {
    await mkdir(this.dir, { recursive: true });
    const path = join(this.dir, partitionFileName(partition) + EXT);
    // A trim interrupted before its rename leaves a temp file: the original is still complete.
    await unlink(`${path}.trim`).catch(() => undefined);
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
    if (scan.torn !== null) {
      const fix = await open(path, 'r+');
      try {
        await fix.truncate(scan.validLength);
        await fix.datasync();
      } finally {
        await fix.close();
      }
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
    const fh = await open(path, this.appendFlags());
    if (created) await this.syncDir();
    return {
      fh,
      path,
      lastSeq,
      chain: Promise.resolve(),
      dirty: false,
      size: scan.validLength,
      ends,
      trims: 0,
    };
  }

  /** Append-only; with `always`, O_DSYNC so each write returns only once its data is on disk. */
  private appendFlags(): number {
    const c = fsConstants;
    return c.O_WRONLY | c.O_APPEND | c.O_CREAT | (this.fsync === 'always' ? c.O_DSYNC : 0);
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

/** Writes the whole buffer (a regular file takes it in one call; the loop covers a short write). */
function writeAllSync(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

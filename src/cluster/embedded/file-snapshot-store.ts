/**
 * Embedded `SnapshotStore`: one file per partition under `<dataDir>/snapshots/`, written atomically
 * (temp file + fdatasync + rename + directory fsync), so a crash leaves either the old snapshot or the new
 * one, never a mix. The file is a single CRC-framed record, so a damaged file is detected on load.
 *
 * A load gives the state back as its JSON text (`loadedSnapshot`): the host hands the text to the
 * partition's worker, which parses it there. Parsed here, a partition of 1 000 000 waiting conversations
 * (~100 MB of text) held the node's event loop for 1.7 s, every other partition's calls with it, and
 * the object graph was then cloned to the worker.
 */
import { type FileHandle, mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import {
  DamagedStorageError,
  loadedSnapshot,
  MAX_SNAPSHOT_TEXT_BYTES,
  type SnapshotStore,
  type StoredSnapshot,
  snapshotPieces,
} from '../ports.js';
import type { WriteGate } from './data-dir-lock.js';
import { encodeRecord, partitionFileName, partitionFromFileName } from './record-file.js';

/** Atomic file-per-partition snapshots; only a newer seq replaces a stored one. */
export class FileSnapshotStore implements SnapshotStore {
  /** Seq of the stored snapshot per partition (avoids re-reading a file to compare seqs). */
  private readonly seqs = new Map<string, number>();
  /** Serialises saves of one partition. */
  private readonly chains = new Map<string, Promise<unknown>>();

  /**
   * `gate`: the data directory's lock (`acquireDataDirLock`), asked before a save writes its temp file
   * and again before it renames it in, and before a removal: nothing is written once it is lost.
   */
  constructor(
    private readonly dir: string,
    private readonly opts: { gate?: WriteGate } = {},
  ) {}

  private async admitted(): Promise<void> {
    const gate = this.opts.gate;
    if (gate && !gate.open()) await gate.confirm();
  }

  save(s: StoredSnapshot): Promise<void> {
    const prev = this.chains.get(s.partition) ?? Promise.resolve();
    const run = prev.then(() => this.write(s));
    this.chains.set(
      s.partition,
      run.catch(() => undefined),
    );
    return run;
  }

  async load(partition: string): Promise<StoredSnapshot | null> {
    await this.chains.get(partition);
    return this.read(partition);
  }

  /** Partitions with a snapshot file. */
  async partitions(): Promise<string[]> {
    const names = await readdir(this.dir).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return [] as string[];
      throw e;
    });
    return names.filter((n) => n.endsWith(SNAP)).map((n) => partitionFromFileName(n.slice(0, -SNAP.length)));
  }

  /** One process writes a data directory (its lock), so what it last wrote or read is what is stored. */
  async storedSeq(partition: string): Promise<number> {
    await this.chains.get(partition);
    const known = this.seqs.get(partition);
    if (known !== undefined) return known;
    return (await this.read(partition))?.seq ?? 0;
  }

  private async read(partition: string): Promise<StoredSnapshot | null> {
    let buf: Buffer;
    try {
      buf = await readFile(this.path(partition));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    const s = decodeSnapshotFile(buf);
    if (typeof s === 'string')
      throw new DamagedStorageError(
        `snapshot file ${this.path(partition)} of ${partition} is damaged (${s})`,
      );
    this.seqs.set(partition, s.seq);
    return s;
  }

  /** Deletes the partition's snapshot (after any save of it in progress), durably. Idempotent. */
  async remove(partition: string): Promise<void> {
    await this.chains.get(partition)?.catch(() => undefined);
    this.chains.delete(partition);
    await this.admitted();
    const path = this.path(partition);
    for (const f of [`${path}.tmp`, path]) {
      try {
        await unlink(f);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    this.seqs.delete(partition);
    await mkdir(this.dir, { recursive: true });
    await this.syncDir();
  }

  async close(): Promise<void> {
    await Promise.all(this.chains.values());
  }

  private async syncDir(): Promise<void> {
    const d = await open(this.dir, 'r');
    try {
      await d.sync();
    } catch {
      // Directory fsync is unsupported on some file systems.
    } finally {
      await d.close();
    }
  }

  private path(partition: string): string {
    return join(this.dir, `${partitionFileName(partition)}${SNAP}`);
  }

  private async write(s: StoredSnapshot): Promise<void> {
    let stored = this.seqs.get(s.partition);
    if (stored === undefined) stored = (await this.read(s.partition).catch(() => null))?.seq ?? -1;
    if (s.seq <= stored) return;
    await mkdir(this.dir, { recursive: true });
    const path = this.path(s.partition);
    const tmp = `${path}.tmp`;
    await this.admitted();
    const fh = await open(tmp, 'w');
    try {
      await writeSnapshot(fh, s);
      await fh.datasync();
    } catch (e) {
      // A half-written temp file on a full disk holds the space the next save (and the log) needs.
      await fh.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
    await fh.close();
    // The new holder's snapshot is not replaced once the lock is lost (the temp file is left: the next
    // start of whichever node holds the lock overwrites it).
    await this.admitted();
    await rename(tmp, path);
    const d = await open(this.dir, 'r');
    try {
      await d.sync();
    } catch {
      // Directory fsync is unsupported on some file systems; the file content is already durable.
    } finally {
      await d.close();
    }
    this.seqs.set(s.partition, s.seq);
  }
}

/**
 * Writes the record `{partition, seq, takenAt, digest, incarnation?, lastBatchEvents?, snapshot}` (one `record-file.ts` frame). With the
 * state's text given (`snapshotChunks` or `snapshotJson`) it is spliced in as is, the same bytes
 * `JSON.stringify` would produce, so the main thread never walks the state; and written a piece at a
 * time after the frame's header, the CRC and length computed along the way and the header written
 * last: neither the text nor the record is ever held whole.
 */
async function writeSnapshot(fh: FileHandle, s: StoredSnapshot): Promise<void> {
  if (s.snapshotChunks === undefined && s.snapshotJson === undefined) {
    const { partition, seq, takenAt, digest, incarnation, lastBatchEvents, snapshot } = s;
    await fh.write(
      encodeRecord({
        partition,
        seq,
        takenAt,
        digest,
        ...(incarnation ? { incarnation } : {}),
        ...(lastBatchEvents !== undefined ? { lastBatchEvents } : {}),
        snapshot,
      }),
    );
    return;
  }
  const head = JSON.stringify({
    partition: s.partition,
    seq: s.seq,
    takenAt: s.takenAt,
    digest: s.digest,
    ...(s.incarnation ? { incarnation: s.incarnation } : {}),
    ...(s.lastBatchEvents !== undefined ? { lastBatchEvents: s.lastBatchEvents } : {}),
  });
  const texts = [Buffer.from(`${head.slice(0, -1)},"snapshot":`), ...snapshotPieces(s), Buffer.from('}')];
  let crc = 0;
  let pos = HEADER;
  // Small pieces are gathered into writes of about WRITE_BYTES (a small snapshot is one write).
  let batch: Uint8Array[] = [];
  let batched = 0;
  const flush = async () => {
    const bytes = batch.length === 1 ? (batch[0] as Uint8Array) : Buffer.concat(batch, batched);
    batch = [];
    batched = 0;
    for (let off = 0; off < bytes.length; ) {
      const { bytesWritten } = await fh.write(bytes, off, bytes.length - off, pos);
      off += bytesWritten;
      pos += bytesWritten;
    }
  };
  for (const bytes of texts) {
    // Skipped when empty: zlib's crc32 of no bytes (a null data pointer, as an empty TextEncoder
    // result from the worker has) returns 0, not the running CRC it was given.
    if (bytes.length === 0) continue;
    crc = crc32(bytes, crc);
    batch.push(bytes);
    batched += bytes.length;
    if (batched >= WRITE_BYTES) await flush();
  }
  if (batched > 0) await flush();
  const header = Buffer.allocUnsafe(HEADER);
  header.writeUInt32LE(pos - HEADER, 0);
  header.writeUInt32LE(crc >>> 0, 4);
  await fh.write(header, 0, HEADER, 0);
}

/** What follows the record's other fields: the state's JSON text, then the record's closing brace. */
const SNAPSHOT_KEY = Buffer.from(',"snapshot":');
/** The record's other fields, as `writeSnapshot` (and `encodeRecord` before it) put them. */
const HEAD_KEYS = 'partition,seq,takenAt,digest';

/**
 * The record of a snapshot file (the frame of `record-file.ts`), or why it is damaged. The state's text
 * is cut out of the record as it is, not parsed (see the file's header); a record laid out otherwise
 * than `writeSnapshot` writes it is parsed whole, as before. The length bound is the longest text a
 * string can hold: a save of a bigger state is refused (`MAX_SNAPSHOT_TEXT_BYTES`), and the bound of the
 * log's records (256 MiB) turned a snapshot of 256 MiB to 512 MiB, saved and followed by a trim of the
 * log, into a "damaged" file and a partition refused.
 */
export function decodeSnapshotFile(buf: Buffer): StoredSnapshot | string {
  if (buf.length < HEADER) return buf.length === 0 ? 'empty' : 'short header';
  const len = buf.readUInt32LE(0);
  if (len === 0) return 'empty';
  if (len > MAX_SNAPSHOT_TEXT_BYTES + 4096) return 'implausible length';
  if (buf.length - HEADER < len) return 'short body';
  const body = buf.subarray(HEADER, HEADER + len);
  if (crc32(body) >>> 0 !== buf.readUInt32LE(4)) return 'crc mismatch';
  for (let i = HEADER + len; i < buf.length; i++) if (buf[i] !== 0) return 'data after the record';
  const at = body.indexOf(SNAPSHOT_KEY);
  // `,"snapshot":` cannot occur inside a JSON string (a quote in one is escaped), so the first one
  // ends the head; its fields are checked, and anything else is parsed whole.
  if (at > 0 && body[body.length - 1] === 0x7d) {
    let head: Record<string, unknown> | null = null;
    try {
      head = JSON.parse(`${body.subarray(0, at).toString('utf8')}}`) as Record<string, unknown>;
    } catch {
      head = null;
    }
    if (
      head !== null &&
      Object.keys(head).join(',') === HEAD_KEYS &&
      typeof head.partition === 'string' &&
      typeof head.seq === 'number' &&
      typeof head.takenAt === 'number' &&
      typeof head.digest === 'string'
    ) {
      const text = body.subarray(at + SNAPSHOT_KEY.length, body.length - 1).toString('utf8');
      const { partition, seq, takenAt, digest } = head;
      return loadedSnapshot({ partition, seq, takenAt, digest }, text);
    }
  }
  try {
    return JSON.parse(body.toString('utf8')) as StoredSnapshot;
  } catch {
    return 'unparseable body';
  }
}

const SNAP = '.snap';
/** The frame header of `record-file.ts`: u32 length, u32 CRC-32 of the body. */
const HEADER = 8;
/** Bytes gathered per write of a snapshot's text. */
const WRITE_BYTES = 1024 * 1024;

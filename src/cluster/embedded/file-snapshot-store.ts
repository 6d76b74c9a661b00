/**
 * Embedded `SnapshotStore`: one file per partition under `<dataDir>/snapshots/`, written atomically
 * (temp file + fdatasync + rename + directory fsync), so a crash leaves either the old snapshot or the new
 * one, never a mix. The file is a single CRC-framed record, so a damaged file is detected on load.
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { SnapshotStore, StoredSnapshot } from '../ports.js';
import { encodeJsonRecord, encodeRecord, partitionFileName, scanRecords } from './record-file.js';

/** Atomic file-per-partition snapshots; only a newer seq replaces a stored one. */
export class FileSnapshotStore implements SnapshotStore {
  /** Seq of the stored snapshot per partition (avoids re-reading a file to compare seqs). */
  private readonly seqs = new Map<string, number>();
  /** Serialises saves of one partition. */
  private readonly chains = new Map<string, Promise<unknown>>();

  constructor(private readonly dir: string) {}

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
    const { records, torn } = scanRecords<StoredSnapshot>(buf);
    const s = records[0];
    if (torn !== null || !s) throw new Error(`snapshot of ${partition} is damaged (${torn ?? 'empty'})`);
    this.seqs.set(partition, s.seq);
    return s;
  }

  async close(): Promise<void> {
    await Promise.all(this.chains.values());
  }

  private path(partition: string): string {
    return join(this.dir, `${partitionFileName(partition)}.snap`);
  }

  private async write(s: StoredSnapshot): Promise<void> {
    let stored = this.seqs.get(s.partition);
    if (stored === undefined) stored = (await this.read(s.partition).catch(() => null))?.seq ?? -1;
    if (s.seq <= stored) return;
    await mkdir(this.dir, { recursive: true });
    const path = this.path(s.partition);
    const tmp = `${path}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      await fh.write(encodeSnapshot(s));
      await fh.datasync();
    } finally {
      await fh.close();
    }
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
 * The stored record is `{partition, seq, takenAt, digest, snapshot}` as JSON; with `snapshotJson` given,
 * the state text is spliced in as is (same bytes `JSON.stringify` would produce), so the main thread
 * never walks the state.
 */
function encodeSnapshot(s: StoredSnapshot): Buffer {
  if (s.snapshotJson === undefined) {
    const { partition, seq, takenAt, digest, snapshot } = s;
    return encodeRecord({ partition, seq, takenAt, digest, snapshot });
  }
  const head = JSON.stringify({ partition: s.partition, seq: s.seq, takenAt: s.takenAt, digest: s.digest });
  return encodeJsonRecord(`${head.slice(0, -1)},"snapshot":${s.snapshotJson}}`);
}

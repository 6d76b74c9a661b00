/**
 * Embedded mode against the storage failures a production node meets: damaged records and snapshots, a
 * log behind its snapshot, failed writes and fsyncs (`fsyncgate`), a full disk. Faults come from crafted
 * files and from the log's `io` seam; no test mounts a file system.
 */
import { spawn } from 'node:child_process';
import { write, writeSync } from 'node:fs';
import {
  type FileHandle,
  link,
  mkdir,
  open,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  acquireDataDirLock,
  FileCommandLog,
  FileSnapshotStore,
  type LogIo,
  type LogWriteError,
} from '../../src/cluster/embedded/index.js';
import { encodeRecord } from '../../src/cluster/embedded/record-file.js';
import { DamagedStorageError, type SnapshotStore } from '../../src/cluster/ports.js';
import { queueConfig } from '../../src/engine/fixtures.js';
import { collect, enqueueEnvelope, storedSnapshot } from '../support/contracts.js';
import { startInProcessNode } from '../support/in-process-node.js';
import { NODE_MAIN } from '../support/node-process.js';
import { hostsOfThisFile, retryWhileUnavailable, tempDataDir } from './harness.js';

const start = hostsOfThisFile();

const rec = (seq: number, id: string) => encodeRecord({ seq, commands: [enqueueEnvelope(id)] });

/** Flips one bit in the body of batch `seq` of a file made of `records` (in order). */
function damaged(records: Buffer[], index: number): Buffer {
  const file = Buffer.concat(records);
  let at = 0;
  for (let i = 0; i < index; i++) at += (records[i] as Buffer).length;
  const i = at + 8 + 20;
  file[i] = (file[i] as number) ^ 0x01;
  return file;
}

describe('a damaged record in the middle of the log', () => {
  it('(fsync always) is refused, not cut as a torn tail: the file is left as it was and the error says where', async () => {
    const dir = await tempDataDir();
    const records = Array.from({ length: 40 }, (_, i) => rec(i + 1, `c${i + 1}`));
    const file = damaged(records, 3);
    await writeFile(join(dir, 'acme.log'), file);
    const torn: string[] = [];
    const log = new FileCommandLog({ dir, onTornTail: (i) => torn.push(i.reason) });
    const err = await log.lastSeq('acme').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DamagedStorageError);
    const at = records.slice(0, 3).reduce((n, r) => n + r.length, 0);
    expect((err as Error).message).toMatch(
      new RegExp(`damaged at byte ${at} \\(crc mismatch\\) after batch 3, and batches up to 40 follow`),
    );
    await expect(log.append('acme', [enqueueEnvelope('c41')], 40)).rejects.toBeInstanceOf(
      DamagedStorageError,
    );
    expect(torn).toEqual([]);
    expect((await readFile(join(dir, 'acme.log'))).equals(file)).toBe(true);
    await log.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a damaged record followed only by the appends in flight beside it is still a torn tail (cut)', async () => {
    const dir = await tempDataDir();
    const records = Array.from({ length: 8 }, (_, i) => rec(i + 1, `c${i + 1}`));
    await writeFile(join(dir, 'acme.log'), damaged(records, 3));
    const torn: string[] = [];
    const log = new FileCommandLog({ dir, onTornTail: (i) => torn.push(i.reason) });
    expect(await log.lastSeq('acme')).toBe(3);
    expect(torn).toEqual(['crc mismatch']);
    await log.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('the host refuses the tenant (gauge, one log line), serves the others, and answers UNAVAILABLE without the path', async () => {
    const dir = await tempDataDir();
    const first = await start({ dir, fsync: 'always' });
    for (let i = 1; i <= 30; i++)
      await first.send('acme', { type: 'upsert_queue', queue: queueConfig(`q${i}`) });
    await first.send('globex', { type: 'upsert_queue', queue: queueConfig('g1') });
    await first.crash();
    const path = join(dir, 'log', 'acme.log');
    const buf = await readFile(path);
    buf[200] = (buf[200] as number) ^ 0x01;
    await writeFile(path, buf);
    const lines: { msg: string; reason?: string }[] = [];
    const logger = {
      error: (o: { reason?: string }, msg: string) => lines.push({ msg, ...o }),
      warn: () => undefined,
      info: () => undefined,
    } as never;
    const h = await start({ dir, fsync: 'always', logger });
    const refusedCall = await h
      .send('acme', { type: 'upsert_queue', queue: queueConfig('q31') })
      .catch((e: unknown) => e);
    expect(refusedCall).toMatchObject({ code: 'SB_ERR_UNAVAILABLE' });
    expect((refusedCall as Error).message).toMatch(/stored state on this node .* is damaged/);
    expect((refusedCall as Error).message).not.toContain(dir);
    expect(await h.registry.getSingleMetricAsString('switchboard_partitions_refused')).toMatch(/ 1\n?$/);
    expect(lines.filter((l) => l.reason === 'storage_damaged')).toHaveLength(1);
    expect((await readFile(path)).equals(buf)).toBe(true);
    await h.send('globex', { type: 'upsert_queue', queue: queueConfig('g2') });
  });

  it('a damaged snapshot file refuses its tenant the same way', async () => {
    const dir = await tempDataDir();
    const first = await start({ dir, fsync: 'always' });
    await first.send('acme', { type: 'upsert_queue', queue: queueConfig('q1') });
    await first.stop();
    const path = join(dir, 'snapshots', 'acme.snap');
    const buf = await readFile(path);
    await writeFile(path, buf.subarray(0, buf.length - 3));
    const h = await start({ dir, fsync: 'always' });
    await expect(h.send('acme', { type: 'upsert_queue', queue: queueConfig('q2') })).rejects.toMatchObject({
      code: 'SB_ERR_UNAVAILABLE',
      message: expect.stringMatching(/is damaged/),
    });
    expect(await h.registry.getSingleMetricAsString('switchboard_partitions_refused')).toMatch(/ 1\n?$/);
    expect((await stat(path)).size).toBe(buf.length - 3);
  });
});

describe('a log that ends before its snapshot', () => {
  const queues = async (h: Awaited<ReturnType<typeof start>>, tenant: string) => {
    const r = await retryWhileUnavailable(() => h.host.query(tenant, { type: 'list_queues' }));
    return r.type === 'list_queues' ? r.queues.map((q) => q.id).sort() : [];
  };
  const rebased = async (h: Awaited<ReturnType<typeof start>>) =>
    (await h.registry.getSingleMetric('switchboard_log_rebased_total')?.get())?.values[0]?.value;

  it('a missing log file beside a snapshot: the tenant is recovered at start-up and the log goes on after the snapshot', async () => {
    const dir = await tempDataDir();
    const first = await start({ dir, fsync: 'always' });
    await first.send('acme', { type: 'upsert_queue', queue: queueConfig('q1') });
    await first.send('acme', { type: 'upsert_queue', queue: queueConfig('q2') });
    await first.stop();
    await rm(join(dir, 'log', 'acme.log'));
    const h = await start({ dir, fsync: 'always' });
    expect(h.host.partitionsOwned).toBe(1);
    expect(await queues(h, 'acme')).toEqual(['q1', 'q2']);
    // Counted, not only logged: an operator's alert (SwitchboardLogRebased) reads it.
    expect(await rebased(h)).toBe(1);
    // Before: every append named the snapshot's seq 2 against a log at 0, refused as another writer's.
    await h.send('acme', { type: 'upsert_queue', queue: queueConfig('q3') });
    await h.crash();
    const again = await start({ dir, fsync: 'always' });
    expect(await queues(again, 'acme')).toEqual(['q1', 'q2', 'q3']);
    expect(await rebased(again)).toBe(0);
  });

  it('a log cut short below its snapshot (an older copy, or a power loss under --fsync interval) goes on after the snapshot', async () => {
    const dir = await tempDataDir();
    const first = await start({ dir, fsync: 'always' });
    for (const q of ['q1', 'q2', 'q3'])
      await first.send('acme', { type: 'upsert_queue', queue: queueConfig(q) });
    await first.crash();
    const older = await readFile(join(dir, 'log', 'acme.log'));
    const second = await start({ dir, fsync: 'always' });
    for (const q of ['q4', 'q5']) await second.send('acme', { type: 'upsert_queue', queue: queueConfig(q) });
    await second.stop();
    await writeFile(join(dir, 'log', 'acme.log'), older);
    const h = await start({ dir, fsync: 'always' });
    expect(await queues(h, 'acme')).toEqual(['q1', 'q2', 'q3', 'q4', 'q5']);
    expect(await rebased(h)).toBe(1);
    await h.send('acme', { type: 'upsert_queue', queue: queueConfig('q6') });
    await h.crash();
    const again = await start({ dir, fsync: 'always' });
    expect(await queues(again, 'acme')).toEqual(['q1', 'q2', 'q3', 'q4', 'q5', 'q6']);
  });
});

/** An I/O error as the kernel reports it. */
function eio(syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`EIO: i/o error, ${syscall}`), { code: 'EIO', errno: -5, syscall });
}

/** Overwrites bytes of the file behind `path` (another name of the same inode) with zeros. */
async function zero(path: string, at: number, length: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.write(Buffer.alloc(length), 0, length, at);
  } finally {
    await fh.close();
  }
}

const ids = async (log: FileCommandLog) =>
  (await collect(log.read('acme', 0))).map((b) => {
    const c = b.commands[0]?.cmd;
    return c?.type === 'enqueue' ? c.conversation.id : c?.type;
  });

describe('a failed write or flush (fsyncgate): the file is not trusted again before it is rewritten', () => {
  it('(fsync always) a record write that fails with EIO after reaching the page cache: the next acknowledged batch survives the disk never having it', async () => {
    const dir = await tempDataDir();
    let fail = false;
    let lost: { at: number; length: number } | null = null;
    const io: Partial<LogIo> = {
      write(fd, buf, offset, length, position, done) {
        if (!fail) return write(fd, buf, offset, length, position, done);
        // O_DSYNC: the bytes were copied to the page cache, then their writeback failed.
        fail = false;
        writeSync(fd, buf, offset, length, position);
        lost = { at: position, length };
        done(eio('write'), 0);
      },
    };
    const errors: LogWriteError[] = [];
    const log = new FileCommandLog({ dir, io, preallocateBytes: 0, onWriteError: (e) => errors.push(e) });
    await log.append('acme', [enqueueEnvelope('c1')], 0);
    await log.append('acme', [enqueueEnvelope('c2')], 1);
    const path = join(dir, 'acme.log');
    // Another name for the inode written so far: what "the disk" holds of it is edited through it below.
    await link(path, join(dir, 'before-the-failure'));
    fail = true;
    await expect(log.append('acme', [enqueueEnvelope('c3')], 2)).rejects.toThrow(/EIO/);
    expect(errors).toMatchObject([{ partition: 'acme', op: 'write', code: 'EIO', rewrite: true }]);
    // The page cache shows c3 (never acknowledged: its caller was told to retry, idempotently).
    const last = await log.lastSeq('acme');
    expect(await log.append('acme', [enqueueEnvelope('c4')], last)).toBe(last + 1);
    // c4 is acknowledged. The disk never got c3's bytes; a crash now (no close) shows what it has.
    const gone = lost as unknown as { at: number; length: number };
    await zero(join(dir, 'before-the-failure'), gone.at, gone.length);
    await rm(join(dir, 'before-the-failure'));
    const again = new FileCommandLog({ dir });
    expect(await ids(again)).toContain('c4');
    expect(await ids(again)).toEqual(expect.arrayContaining(['c1', 'c2']));
    await again.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('(fsync interval) a failed flush is not retried into a false success: the file is rewritten before the next append, so nothing acknowledged depends on the failed pages', async () => {
    const dir = await tempDataDir();
    let fail = false;
    const io: Partial<LogIo> = {
      async fdatasync(fh) {
        if (fail) {
          fail = false;
          throw eio('fdatasync');
        }
        await fh.datasync();
      },
    };
    const errors: LogWriteError[] = [];
    const log = new FileCommandLog({
      dir,
      io,
      fsync: 'interval',
      fsyncIntervalMs: 60_000,
      onWriteError: (e) => errors.push(e),
    });
    await log.append('acme', [enqueueEnvelope('c1')], 0);
    await log.append('acme', [enqueueEnvelope('c2')], 1);
    const path = join(dir, 'acme.log');
    await link(path, join(dir, 'before-the-failure'));
    fail = true;
    await log.flushDirty();
    expect(errors).toMatchObject([{ partition: 'acme', op: 'fdatasync', code: 'EIO', rewrite: true }]);
    // Before: the error was swallowed and the next flush "succeeded". Now the next append waits for the
    // rewrite (c1 and c2 written again, from the page cache, and fdatasync'ed) and lands after it.
    expect(await log.append('acme', [enqueueEnvelope('c3')], 2)).toBe(3);
    await log.flushDirty();
    // The pages whose flush failed never reached the disk.
    await zero(join(dir, 'before-the-failure'), 0, (await stat(join(dir, 'before-the-failure'))).size);
    await rm(join(dir, 'before-the-failure'));
    const again = new FileCommandLog({ dir });
    expect(await ids(again)).toEqual(['c1', 'c2', 'c3']);
    await again.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a full disk (ENOSPC) fails the append without a rewrite (nothing cached is in doubt); the log goes on once space is freed', async () => {
    const dir = await tempDataDir();
    let full = false;
    const io: Partial<LogIo> = {
      write(fd, buf, offset, length, position, done) {
        if (!full) return write(fd, buf, offset, length, position, done);
        const e = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        // A short write first, as a file system filling up gives: the scan cuts the partial record.
        const half = Math.floor(length / 2);
        writeSync(fd, buf, offset, half, position);
        done(e, 0);
      },
    };
    const errors: LogWriteError[] = [];
    const log = new FileCommandLog({ dir, io, onWriteError: (e) => errors.push(e) });
    await log.append('acme', [enqueueEnvelope('c1')], 0);
    const ino = (await stat(join(dir, 'acme.log'))).ino;
    full = true;
    await expect(log.append('acme', [enqueueEnvelope('c2')], 1)).rejects.toMatchObject({ code: 'ENOSPC' });
    await expect(log.append('acme', [enqueueEnvelope('c2')], 1)).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(errors.filter((e) => e.op === 'write').map((e) => [e.code, e.rewrite])).toEqual([
      ['ENOSPC', false],
      ['ENOSPC', false],
    ]);
    full = false;
    expect(await log.lastSeq('acme')).toBe(1);
    expect(await log.append('acme', [enqueueEnvelope('c2')], 1)).toBe(2);
    expect((await stat(join(dir, 'acme.log'))).ino).toBe(ino);
    await log.close();
    const again = new FileCommandLog({ dir });
    expect(await ids(again)).toEqual(['c1', 'c2']);
    await again.close();
    await rm(dir, { recursive: true, force: true });
  });
});

describe('a full disk under load: the lines it logs', () => {
  const WRITE_FAILED =
    'command log write failed: the disk is full; its appends fail until space is freed (nothing acknowledged is lost)';
  const APPEND_FAILED = 'command log append failed: reloading the partition';
  const PARTITION_FAILED = 'partition failed: reloading from snapshot + log';
  const RECOVERED = 'partition recovered';

  it('each failed call logged four lines; now the first of each kind is logged, then one line a window with how many more (repeated), and a kind quiet for a window is logged in full again', async () => {
    let full = false;
    const io: Partial<LogIo> = {
      write(fd, buf, offset, length, position, done) {
        if (!full) return write(fd, buf, offset, length, position, done);
        done(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }), 0);
      },
    };
    const windowMs = 500;
    const n = await startInProcessNode(
      { natsUrl: '', nodeId: 'full-disk', fsync: 'always', logPreallocateKib: 0 },
      { logIo: io, logSummaryMs: windowMs },
    );
    try {
      const queue = (id: string) =>
        n.http(
          'PUT',
          `/v1/tenants/acme/queues/${id}`,
          {
            id,
            name: id,
            channel: 'CHANNEL_CHAT',
            strategy: 'STRATEGY_LONGEST_IDLE',
            serviceLevel: { target: 0.8, thresholdSeconds: 20, windowSeconds: 3600 },
          },
          5000,
        );
      expect((await queue('q0')).status).toBe(200);
      const from = n.lines.length;
      full = true;
      const calls = 30;
      for (let i = 1; i <= calls; i++) expect((await queue(`q${i}`)).status).toBe(503);
      // The last call's reload, then the windows that say how many were held back, then one quiet one.
      await new Promise((r) => setTimeout(r, 4 * windowMs));
      const after = n.lines.slice(from);
      const of = (msg: string) => after.filter((l) => l.msg === msg);
      for (const msg of [WRITE_FAILED, APPEND_FAILED, PARTITION_FAILED, RECOVERED]) {
        const lines = of(msg);
        // The first one as it came, in full; every other one counted in a later line.
        expect(lines[0], msg).not.toHaveProperty('repeated');
        expect(
          lines.slice(1).every((l) => typeof l.repeated === 'number'),
          msg,
        ).toBe(true);
        expect(
          lines.reduce((sum, l) => sum + Number(l.repeated ?? 1), 0),
          msg,
        ).toBe(calls);
        expect(lines.length, msg).toBeLessThan(calls / 3);
      }
      expect(of(APPEND_FAILED)[1]).toMatchObject({ tenants: 1, windowSeconds: windowMs / 1000 });
      // The kinds ended after a quiet window: the next failure is logged in full again.
      const mark = n.lines.length;
      expect((await queue('q99')).status).toBe(503);
      await new Promise((r) => setTimeout(r, 100));
      const again = n.lines.slice(mark).filter((l) => l.msg === WRITE_FAILED || l.msg === APPEND_FAILED);
      expect(again).toHaveLength(2);
      for (const l of again) expect(l).not.toHaveProperty('repeated');
      full = false;
      expect((await retryUntilOk(() => queue('q100'))).status).toBe(200);
    } finally {
      await n.stop();
    }
  }, 60_000);
});

describe('a full disk failing every snapshot', () => {
  it('logs the first snapshot failure in full and then counts them (repeated), as many as the metric', async () => {
    const windowMs = 400;
    const enospc = () =>
      Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
    const n = await startInProcessNode(
      { natsUrl: '', nodeId: 'full-snapshots', snapshotEvery: 1 },
      {
        logSummaryMs: windowMs,
        wrapSnapshots: (store) => Object.assign(Object.create(store) as SnapshotStore, { save: enospc }),
      },
    );
    try {
      for (let i = 1; i <= 20; i++) {
        const r = await n.http(
          'PUT',
          `/v1/tenants/t${i % 4}/queues/q${i}`,
          {
            id: `q${i}`,
            name: `q${i}`,
            channel: 'CHANNEL_CHAT',
            strategy: 'STRATEGY_LONGEST_IDLE',
            serviceLevel: { target: 0.8, thresholdSeconds: 20, windowSeconds: 3600 },
          },
          5000,
        );
        expect(r.status).toBe(200);
      }
      await new Promise((r) => setTimeout(r, 3 * windowMs));
      const failures = await n.metric('switchboard_snapshot_failures_total');
      expect(failures).toBeGreaterThanOrEqual(4);
      const lines = n.lines.filter((l) => l.msg === 'snapshot failed');
      expect(lines[0]).not.toHaveProperty('repeated');
      expect(lines.slice(1).every((l) => typeof l.repeated === 'number')).toBe(true);
      expect(lines.reduce((sum, l) => sum + Number(l.repeated ?? 1), 0)).toBe(failures);
      expect(lines.length).toBeLessThan(failures);
    } finally {
      await n.stop();
    }
  }, 60_000);
});

describe('a snapshot or a trim that fails half-way (a full disk)', () => {
  it('a snapshot save that fails after writing part of its temp file removes it, and the stored snapshot stays', async () => {
    const dir = await tempDataDir();
    const store = new FileSnapshotStore(dir);
    await store.save(storedSnapshot('acme', 3));
    const { snapshot: _, ...head } = storedSnapshot('acme', 9);
    // 2 MiB of text reach the temp file (written a MiB at a time), then the save fails.
    const failing = { ...head, snapshotChunks: [Buffer.alloc(2 << 20, 0x20), 42 as unknown as Uint8Array] };
    await expect(store.save(failing as never)).rejects.toThrow();
    expect(await readdir(dir)).toEqual(['acme.snap']);
    expect((await new FileSnapshotStore(dir).load('acme'))?.seq).toBe(3);
    await rm(dir, { recursive: true, force: true });
  });

  it('a trim whose copy fails (ENOSPC) removes its temp file; the log is whole and goes on', async () => {
    const dir = await tempDataDir();
    let full = false;
    const io: Partial<LogIo> = {
      write(fd, buf, offset, length, position, done) {
        if (!full) return write(fd, buf, offset, length, position, done);
        done(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }), 0);
      },
    };
    const log = new FileCommandLog({ dir, io });
    let seq = 0;
    for (let i = 1; i <= 5; i++) seq = await log.append('acme', [enqueueEnvelope(`c${i}`)], seq);
    full = true;
    await expect(log.trim('acme', 3)).rejects.toMatchObject({ code: 'ENOSPC' });
    await expect(log.trim('acme', 2)).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(await readdir(dir)).toEqual(['acme.log']);
    full = false;
    expect(await log.append('acme', [enqueueEnvelope('c6')], 5)).toBe(6);
    expect(await ids(log)).toEqual(['c1', 'c2', 'c3', 'c4', 'c5', 'c6']);
    await log.close();
    await rm(dir, { recursive: true, force: true });
  });
});

describe('two nodes on one data directory', () => {
  /** A LOCK written by a node in another PID namespace (another container on the same volume). */
  const foreign = (dir: string) =>
    writeFile(
      join(dir, 'LOCK'),
      JSON.stringify({ pid: process.pid, host: hostname(), pidns: 'pid:[4026530000]', nonce: 'theirs' }),
    );

  it("a lock held from another PID namespace (both containers PID 1, each seeing the other's pid as dead or its own) is not taken over while its holder renews it", async () => {
    const dir = await tempDataDir();
    await foreign(dir);
    const renew = setInterval(() => {
      const now = new Date();
      utimes(join(dir, 'LOCK'), now, now).catch(() => undefined);
    }, 40);
    try {
      await expect(acquireDataDirLock(dir, { staleMs: 600, renewMs: 100 })).rejects.toThrow(
        /in use by process \d+ on .*pid:\[4026530000\].*being renewed/,
      );
      expect(JSON.parse(await readFile(join(dir, 'LOCK'), 'utf8')).nonce).toBe('theirs');
    } finally {
      clearInterval(renew);
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('such a lock is taken over once it has gone unrenewed for staleMs (its node crashed)', async () => {
    const dir = await tempDataDir();
    await foreign(dir);
    const old = new Date(Date.now() - 60_000);
    await utimes(join(dir, 'LOCK'), old, old);
    const release = await acquireDataDirLock(dir, { staleMs: 10_000 });
    expect(JSON.parse(await readFile(join(dir, 'LOCK'), 'utf8'))).toMatchObject({ pid: process.pid });
    await release();
    expect(await readdir(dir)).toEqual([]);
    await rm(dir, { recursive: true, force: true });
  });

  it('a stale lock that cannot be removed (a read-only file system) fails the start naming the file and the cause', async () => {
    // As root no permission stops an unlink: a directory in LOCK's place fails it the same way (EISDIR
    // here, EROFS on a read-only mount: tried by hand with the built node on a remounted tmpfs).
    const dir = await tempDataDir();
    await mkdir(join(dir, 'LOCK', 'x'), { recursive: true });
    await expect(acquireDataDirLock(dir)).rejects.toThrow(
      new RegExp(`could not remove the stale lock ${join(dir, 'LOCK')} .*: E`),
    );
    await rm(dir, { recursive: true, force: true });
  });

  it('the holder renews its lock, so a node elsewhere can tell it is alive', async () => {
    const dir = await tempDataDir();
    const release = await acquireDataDirLock(dir, { renewMs: 50 });
    const first = (await stat(join(dir, 'LOCK'))).mtimeMs;
    await new Promise((r) => setTimeout(r, 300));
    expect((await stat(join(dir, 'LOCK'))).mtimeMs).toBeGreaterThan(first);
    await release();
    await rm(dir, { recursive: true, force: true });
  });
});

/** Calls `fn` until it answers 200 (a partition reloading after a failed append answers 503 meanwhile). */
async function retryUntilOk(fn: () => Promise<{ status: number }>): Promise<{ status: number }> {
  for (let i = 0; ; i++) {
    const r = await fn();
    if (r.status === 200 || i >= 50) return r;
    await new Promise((res) => setTimeout(res, 20));
  }
}

/** A pid that was alive a moment ago and is not now (a node that was `kill -9`ed). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.once('exit', r));
  return child.pid as number;
}

/** A lock left by a node of this host and PID namespace that died (its pid is not alive). */
async function deadNodesLock(dir: string, nonce: string, pid: number): Promise<void> {
  const pidns = await readlink('/proc/self/ns/pid').catch(() => '');
  await writeFile(join(dir, 'LOCK'), JSON.stringify({ pid, host: hostname(), pidns, nonce }));
}

describe('two nodes starting on one data directory at the same instant', () => {
  it('exactly one of two acquisitions racing for a free directory gets the lock (in one process: the pid alone cannot tell them apart)', async () => {
    for (let i = 0; i < 100; i++) {
      const dir = await tempDataDir();
      const r = await Promise.allSettled([acquireDataDirLock(dir), acquireDataDirLock(dir)]);
      const won = r.filter((x) => x.status === 'fulfilled');
      expect(won).toHaveLength(1);
      const lost = r.find((x) => x.status === 'rejected') as PromiseRejectedResult;
      expect(String(lost.reason)).toMatch(/in use by process/);
      await (won[0] as PromiseFulfilledResult<() => Promise<void>>).value();
      expect(await readdir(dir)).toEqual([]);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('exactly one of three acquisitions that all find the same stale lock (its node died) takes it over', async () => {
    const pid = await deadPid();
    for (let i = 0; i < 60; i++) {
      const dir = await tempDataDir();
      await deadNodesLock(dir, `dead-${i}`, pid);
      const r = await Promise.allSettled([1, 2, 3].map(() => acquireDataDirLock(dir)));
      const won = r.filter((x) => x.status === 'fulfilled');
      expect(won).toHaveLength(1);
      for (const x of r) if (x.status === 'rejected') expect(String(x.reason)).toMatch(/in use by process/);
      expect(JSON.parse(await readFile(join(dir, 'LOCK'), 'utf8'))).toMatchObject({ pid: process.pid });
      await (won[0] as PromiseFulfilledResult<() => Promise<void>>).value();
      expect(await readdir(dir)).toEqual([]);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('on a file system without hard links (link fails EPERM) it falls back to O_EXCL: still exactly one holder, free or stale', async () => {
    const noLinks = {
      link: async () => Promise.reject(Object.assign(new Error('EPERM'), { code: 'EPERM' })),
    };
    const pid = await deadPid();
    for (let i = 0; i < 60; i++) {
      const dir = await tempDataDir();
      if (i % 2 === 1) await deadNodesLock(dir, `dead-${i}`, pid);
      const r = await Promise.allSettled([1, 2, 3].map(() => acquireDataDirLock(dir, noLinks)));
      const won = r.filter((x) => x.status === 'fulfilled');
      expect(won).toHaveLength(1);
      for (const x of r) if (x.status === 'rejected') expect(String(x.reason)).toMatch(/in use by process/);
      await (won[0] as PromiseFulfilledResult<() => Promise<void>>).value();
      expect(await readdir(dir)).toEqual([]);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a takeover claim left by a node that died during its takeover does not block the next one', async () => {
    const dir = await tempDataDir();
    const pid = await deadPid();
    await deadNodesLock(dir, 'dead-holder', pid);
    const pidns = await readlink('/proc/self/ns/pid').catch(() => '');
    const claim = { pid, host: hostname(), pidns, nonce: 'dead-claimant' };
    await writeFile(join(dir, 'LOCK.takeover.dead-holder.0'), JSON.stringify(claim));
    const release = await acquireDataDirLock(dir);
    expect(JSON.parse(await readFile(join(dir, 'LOCK'), 'utf8'))).toMatchObject({ pid: process.pid });
    await release();
    expect(await readdir(dir)).toEqual([]);
    await rm(dir, { recursive: true, force: true });
  });

  it("real processes racing round after round (free directory, then a dead node's lock): no two ever hold it at once", async () => {
    const dir = await tempDataDir();
    const dead = await deadPid();
    const script = join(dir, '..', `lock-racer-${process.pid}-${Date.now()}.mjs`);
    const lockModule = join(NODE_MAIN, '..', '..', 'cluster', 'embedded', 'data-dir-lock.js');
    // Each round starts at the same wall-clock instant in every process. Its holder records when it got
    // the lock and, before letting go, when it lets go; even rounds' holders then leave a dead node's
    // lock behind (written aside and renamed in, whole), so odd rounds race to take over a stale lock.
    await writeFile(
      script,
      `import { renameSync, readlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
const { acquireDataDirLock } = await import(${JSON.stringify(pathToFileURL(lockModule).href)});
const [dir, t0, rounds, period, dead] = process.argv.slice(2).map((a, i) => (i === 0 ? a : Number(a)));
const until = (t) => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));
for (let r = 0; r < rounds; r++) {
  await until(t0 + r * period);
  try {
    const release = await acquireDataDirLock(dir, { renewMs: 60000 });
    const from = Date.now();
    await until(t0 + r * period + period * 0.6);
    const to = Date.now();
    await release();
    if (r % 2 === 0) {
      const pidns = readlinkSync('/proc/self/ns/pid');
      writeFileSync(dir + '/stale.tmp', JSON.stringify({ pid: dead, host: hostname(), pidns, nonce: 'dead-' + r }));
      renameSync(dir + '/stale.tmp', dir + '/LOCK');
    }
    console.log(JSON.stringify({ r, pid: process.pid, from, to }));
  } catch (e) {
    console.log(JSON.stringify({ r, pid: process.pid, lost: String(e.message) }));
  }
}
`,
    );
    const rounds = 30;
    const period = 200;
    const t0 = Date.now() + 2500;
    const outputs = await Promise.all(
      [1, 2, 3, 4].map(
        () =>
          new Promise<string>((resolve, reject) => {
            const child = spawn(
              process.execPath,
              [script, dir, String(t0), String(rounds), String(period), String(dead)],
              {
                stdio: ['ignore', 'pipe', 'inherit'],
              },
            );
            let out = '';
            child.stdout.on('data', (b: Buffer) => {
              out += b.toString();
            });
            child.once('error', reject);
            child.once('exit', (code) =>
              code === 0 ? resolve(out) : reject(new Error(`racer exited ${code}`)),
            );
          }),
      ),
    );
    await rm(script, { force: true });
    type Line = { r: number; pid: number; from?: number; to?: number; lost?: string };
    const lines = outputs.flatMap((o) =>
      o
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Line),
    );
    expect(lines).toHaveLength(4 * rounds);
    for (const l of lines) if (l.lost !== undefined) expect(l.lost).toMatch(/in use by process/);
    const held = lines
      .filter((l) => l.from !== undefined)
      .sort((a, b) => (a.from as number) - (b.from as number));
    // Every round had a holder (late starters may win a round again after its holder let go).
    expect(new Set(held.map((l) => l.r)).size).toBe(rounds);
    for (let i = 1; i < held.length; i++) {
      const [a, b] = [held[i - 1] as Line, held[i] as Line];
      expect(
        b.from,
        `round ${a.r} (pid ${a.pid}) and round ${b.r} (pid ${b.pid}) held it at once`,
      ).toBeGreaterThanOrEqual(a.to as number);
    }
    await rm(dir, { recursive: true, force: true });
  }, 60_000);
});

describe('an --fsync interval flush beside a trim', () => {
  it('never finds the file closed: no failed flush, the next append lands, every batch after the trim is there', async () => {
    const dir = await tempDataDir();
    const errors: LogWriteError[] = [];
    // Flushed only when the test says (the timer would not hit the trim's window but at random).
    const log = new FileCommandLog({
      dir,
      fsync: 'interval',
      fsyncIntervalMs: 3_600_000,
      onWriteError: (e) => errors.push(e),
    });
    for (let seq = 1; seq <= 6; seq++) await log.append('acme', [enqueueEnvelope(`c${seq}`)], seq - 1);
    // The trim closes the file's handle to swap the trimmed copy in: the periodic flush runs right then
    // (on a starved machine the rename and directory fsync around it leave it a wide window).
    const file = (log as unknown as { opened: Map<string, { fh: FileHandle }> }).opened.get('acme');
    const fh = file?.fh as FileHandle;
    const close = fh.close.bind(fh);
    let flushed: Promise<void> | null = null;
    fh.close = async () => {
      await close();
      flushed = log.flushDirty();
    };
    await log.trim('acme', 3);
    expect(flushed).not.toBeNull();
    await flushed;
    expect(errors).toEqual([]);
    expect(await log.append('acme', [enqueueEnvelope('c7')], 6)).toBe(7);
    expect(await ids(log)).toEqual(['c4', 'c5', 'c6', 'c7']);
    await log.close();
    await rm(dir, { recursive: true, force: true });
  });
});

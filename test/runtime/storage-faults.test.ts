/**
 * Embedded mode against the storage failures a production node meets: damaged records and snapshots, a
 * log behind its snapshot, failed writes and fsyncs (`fsyncgate`), a full disk. Faults come from crafted
 * files and from the log's `io` seam; no test mounts a file system.
 */
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileCommandLog } from '../../src/cluster/embedded/index.js';
import { encodeRecord } from '../../src/cluster/embedded/record-file.js';
import { DamagedStorageError } from '../../src/cluster/ports.js';
import { queueConfig } from '../../src/engine/fixtures.js';
import { collect, enqueueEnvelope } from '../support/contracts.js';
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
    // Before: every append named the snapshot's seq 2 against a log at 0, refused as another writer's.
    await h.send('acme', { type: 'upsert_queue', queue: queueConfig('q3') });
    await h.crash();
    const again = await start({ dir, fsync: 'always' });
    expect(await queues(again, 'acme')).toEqual(['q1', 'q2', 'q3']);
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
    await h.send('acme', { type: 'upsert_queue', queue: queueConfig('q6') });
    await h.crash();
    const again = await start({ dir, fsync: 'always' });
    expect(await queues(again, 'acme')).toEqual(['q1', 'q2', 'q3', 'q4', 'q5', 'q6']);
  });
});

/**
 * A snapshot serialised in slices while the engine keeps applying commands is exactly the state at
 * its capture: the same JSON text as one JSON.stringify, the same digest as `engine.digest()` then, and
 * it restores to that digest.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EngineWorkload } from '../../loadtest/lib/engine-workload.js';
import { FileSnapshotStore } from '../../src/cluster/embedded/file-snapshot-store.js';
import type { SnapshotStore, StoredSnapshot } from '../../src/cluster/ports.js';
import { createEngine, type EngineSnapshot, restoreEngine } from '../../src/engine/index.js';
import type { HostItem, HostResult } from '../../src/host/protocol.js';
import { SlicedSnapshot } from '../../src/host/sliced-snapshot.js';
import { createWorkerPool } from '../../src/host/worker-pool.js';
import { agent } from '../support/engine-builders.js';
import { hostsOfThisFile, retryWhileUnavailable, tempDataDir } from './harness.js';

const startHost = hostsOfThisFile();

describe('SlicedSnapshot', () => {
  it('slices of a big partition, with commands applied between them, give the capture’s JSON and digest', () => {
    const w = new EngineWorkload(createEngine('sliced'), { agents: 3000, waiting: 2000 });
    w.staff();
    w.fillAssigned();
    w.fillWaiting(2000);
    const digestAtCapture = w.engine.digest();
    const snapshot = w.engine.snapshot();
    const expectedJson = JSON.stringify(snapshot);
    const job = new SlicedSnapshot(snapshot);
    const pieces: string[] = [];
    let slices = 0;
    for (;;) {
      // A tiny budget forces many slices; the partition moves on between them.
      const { json, done } = job.step(0.05);
      pieces.push(json);
      slices++;
      for (let i = 0; i < 20; i++) {
        w.afterArrival(w.apply(w.nextArrival()));
        w.afterRelease(w.apply(w.nextRelease()));
      }
      if (done) break;
    }
    expect(slices).toBeGreaterThan(5);
    expect(w.engine.digest()).not.toBe(digestAtCapture);
    const text = pieces.join('');
    expect(text).toBe(expectedJson);
    expect(job.digest).toBe(digestAtCapture);
    expect(restoreEngine(JSON.parse(text) as EngineSnapshot).digest()).toBe(digestAtCapture);
  });

  it('a small partition is done in one slice', () => {
    const engine = createEngine('small');
    const job = new SlicedSnapshot(engine.snapshot());
    const r = job.step(5);
    expect(r.done).toBe(true);
    expect(r.json).toBe(JSON.stringify(engine.snapshot()));
    expect(job.digest).toBe(engine.digest());
  });

  it('a worker captures a big partition in slices, other partitions served between them, and finishes it before the partition itself moves', async () => {
    const w = new EngineWorkload(createEngine('big'), { agents: 1000, waiting: 10_000 });
    w.staff();
    w.fillAssigned();
    w.fillWaiting(10_000);
    const pool = createWorkerPool({ kind: 'inline', threads: 1 });
    const one = async (item: HostItem): Promise<HostResult> =>
      (await pool.call(0, { items: [item] })).results[0] as HostResult;
    const load = (partition: string, snapshot: EngineSnapshot | null): HostItem => ({
      kind: 'load',
      partition,
      snapshot,
      snapshotDigest: null,
      batches: [],
    });
    try {
      const atCapture = w.engine.digest();
      expect((await one(load('big', w.engine.snapshot()))).kind).toBe('load');
      expect((await one(load('small', null))).kind).toBe('load');
      expect((await one({ kind: 'snapshot', partition: 'big' })).kind).toBe('snapshot');
      const texts: Uint8Array[] = [];
      const part = async () => {
        const r = await one({ kind: 'snapshot_part', partition: 'big', budgetMs: 0 });
        if (r.kind !== 'snapshot_part') throw new Error(r.kind);
        texts.push(r.bytes);
        return r;
      };
      // One slice is a few thousand records: 1 000 agents, 12 000 conversations and their customers take several.
      expect((await part()).captured).toBe(false);
      const small = await one({
        kind: 'apply',
        partition: 'small',
        commands: [w.envelope({ type: 'upsert_agent', agent: agent('s1') })],
        receivedAt: [Number.NaN],
      });
      expect(small.kind).toBe('apply');
      expect((await part()).captured).toBe(false);
      // The partition itself moves: its capture is finished first, so the snapshot is still the state
      // at the capture.
      const moved = await one({
        kind: 'apply',
        partition: 'big',
        commands: [w.envelope({ type: 'upsert_agent', agent: agent('b1') })],
        receivedAt: [Number.NaN],
      });
      expect(moved.kind).toBe('apply');
      let last = await part();
      expect(last.captured).toBe(true);
      while (!last.done) last = await part();
      expect(last.digest).toBe(atCapture);
      const text = Buffer.concat(texts).toString('utf8');
      expect(restoreEngine(JSON.parse(text) as EngineSnapshot).digest()).toBe(atCapture);
    } finally {
      await pool.close();
    }
  }, 60_000);

  it('the host hands the store the slices’ text as pieces, never joined, and the file store writes them back whole', async () => {
    // A partition big enough for many slices of the host's ~3 ms, stored as its snapshot before start.
    const dir = await tempDataDir();
    const w = new EngineWorkload(createEngine('big'), { agents: 1000, waiting: 10_000 });
    w.staff();
    w.fillAssigned();
    w.fillWaiting(10_000);
    const seeded = new FileSnapshotStore(join(dir, 'snapshots'));
    await seeded.save({
      partition: 'big',
      seq: 0,
      takenAt: Date.now(),
      digest: w.engine.digest(),
      snapshot: w.engine.snapshot(),
    });
    await seeded.close();

    const h = await startHost({ dir });
    const inner = h.ports.snapshots;
    const saved: StoredSnapshot[] = [];
    const spy: SnapshotStore = {
      save: (s) => {
        saved.push(s);
        return inner.save(s);
      },
      load: (p) => inner.load(p),
      storedSeq: (p) => inner.storedSeq(p),
      close: () => inner.close(),
    };
    (h.ports as { snapshots: SnapshotStore }).snapshots = spy;
    // A command that changes the tenant (a tick would be answered from a blank engine: the embedded host
    // knows tenants by their log, and this one has only a snapshot), so the partition loads from it.
    expect((await h.send('big', { type: 'upsert_agent', agent: agent('one-more') })).ok).toBe(true);
    await h.stop(); // the final snapshot

    const final = saved.at(-1) as StoredSnapshot;
    expect(final.snapshotJson).toBeUndefined();
    const pieces = final.snapshotChunks ?? [];
    expect(pieces.length).toBeGreaterThan(3);
    const text = Buffer.concat(pieces).toString('utf8');
    expect(text.length).toBeGreaterThan(1_000_000);
    // The pieces are the state the worker digested, and the file holds exactly them.
    expect(restoreEngine(JSON.parse(text) as EngineSnapshot).digest()).toBe(final.digest);
    const onDisk = await new FileSnapshotStore(join(dir, 'snapshots')).load('big');
    expect(onDisk?.seq).toBe(final.seq);
    expect(onDisk?.digest).toBe(final.digest);
    expect(JSON.stringify(onDisk?.snapshot) === text, 'the file holds the pieces’ text').toBe(true);
  }, 120_000);

  it('while a big partition is captured, its own calls wait for the capture and a small tenant on its worker is served; nothing is lost or reordered', async () => {
    const dir = await tempDataDir();
    const w = new EngineWorkload(createEngine('big'), { agents: 1000, waiting: 10_000 });
    w.staff();
    w.fillAssigned();
    w.fillWaiting(10_000);
    const seeded = new FileSnapshotStore(join(dir, 'snapshots'));
    await seeded.save({
      partition: 'big',
      seq: 0,
      takenAt: Date.now(),
      digest: w.engine.digest(),
      snapshot: w.engine.snapshot(),
    });
    await seeded.close();
    const h = await startHost({ dir, snapshotEveryCommands: 1e9 });
    expect((await h.send('big', { type: 'upsert_agent', agent: agent('first') })).ok).toBe(true);
    expect((await h.send('small', { type: 'upsert_agent', agent: agent('first') })).ok).toBe(true);
    // What goes to the worker, in order, and when the capture was answered done.
    const log: string[] = [];
    const call = h.pool.call.bind(h.pool);
    h.pool.call = async (slot, req) => {
      for (const it of req.items) if ('partition' in it) log.push(`${it.kind}:${it.partition}`);
      const res = await call(slot, req);
      for (const r of res.results) if (r.kind === 'snapshot_part' && r.captured) log.push('captured');
      return res;
    };
    let sending = true;
    const sent = { big: 0, small: 0 };
    const sender = (tenant: 'big' | 'small') =>
      (async () => {
        while (sending) {
          const r = await h.send(tenant, { type: 'upsert_agent', agent: agent(`${tenant}-${sent[tenant]}`) });
          expect(r.ok).toBe(true);
          sent[tenant]++;
        }
      })();
    const senders = [sender('big'), sender('small')];
    await new Promise((r) => setTimeout(r, 20));
    // A snapshot now (no wait for the calls in flight: they go on during it).
    await h.host.drain('big', 0);
    sending = false;
    await Promise.all(senders);
    h.pool.call = call;
    const start = log.indexOf('snapshot:big');
    const end = log.indexOf('captured');
    expect(start).toBeGreaterThanOrEqual(0);
    expect(end).toBeGreaterThan(start);
    const during = log.slice(start + 1, end);
    expect(during.filter((x) => x.endsWith(':big') && !x.startsWith('snapshot_part'))).toEqual([]);
    expect(during.filter((x) => x === 'snapshot_part:big').length).toBeGreaterThan(1);
    expect(during).toContain('apply:small');
    // Everything acknowledged is there after a crash: the snapshot taken meanwhile, then the log after it.
    const digests = { big: await h.digest('big'), small: await h.digest('small') };
    await h.crash();
    const again = await startHost({ dir });
    expect(await retryWhileUnavailable(() => again.digest('big'))).toBe(digests.big);
    expect(await again.digest('small')).toBe(digests.small);
    await again.stop();
  }, 120_000);
});

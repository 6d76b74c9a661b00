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
import { SlicedSnapshot } from '../../src/host/sliced-snapshot.js';
import { agent } from '../support/engine-builders.js';
import { hostsOfThisFile, tempDataDir } from './harness.js';

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
});

/**
 * A snapshot serialised in slices while the engine keeps applying commands is exactly the state at
 * its capture: the same JSON text as one JSON.stringify, the same digest as `engine.digest()` then, and
 * it restores to that digest.
 */
import { describe, expect, it } from 'vitest';
import { EngineWorkload } from '../../loadtest/lib/engine-workload.js';
import { createEngine, type EngineSnapshot, restoreEngine } from '../../src/engine/index.js';
import { SlicedSnapshot } from '../../src/host/sliced-snapshot.js';

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
});

/**
 * Preload (`node --import=<this file> ...`) for `alloc-per-call.ts`: the first SIGUSR2 starts the
 * inspector's sampling heap profiler with objects collected by either GC included (so it counts what a
 * call allocates, not what survives); the next one stops it and writes `{ "bytes": <sampled total> }` to
 * `$SB_ALLOC_OUT/alloc-<pid>.json`. Samples every 1 KiB on average, on the process's main thread only.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

interface ProfileNode {
  selfSize: number;
  children: ProfileNode[];
}

const outDir = process.env.SB_ALLOC_OUT;
if (outDir) {
  const session = new Session();
  session.connect();
  session.post('HeapProfiler.enable');
  let sampling = false;
  process.on('SIGUSR2', () => {
    if (!sampling) {
      sampling = true;
      session.post('HeapProfiler.startSampling', {
        samplingInterval: 1024,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      });
      return;
    }
    sampling = false;
    session.post('HeapProfiler.stopSampling', (err, r) => {
      let bytes = 0;
      const walk = (n: ProfileNode): void => {
        bytes += n.selfSize;
        for (const c of n.children) walk(c);
      };
      if (!err) walk(r.profile.head as ProfileNode);
      writeFileSync(
        join(outDir, `alloc-${process.pid}.json`),
        JSON.stringify(err ? { error: err.message } : { bytes }),
      );
    });
  });
}

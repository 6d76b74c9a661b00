/**
 * Main-thread memory while big partitions snapshot at once. `--tenants` partitions of `--agents` agents
 * and `--waiting` waiting conversations each (built as `bench-restore` builds one) are stored as
 * snapshots in a data directory by a child process, so that the builder's heap is not this one's; then
 * an embedded host loads them (workers: one per tenant, so the snapshots run in parallel), one command
 * per partition makes each due for a snapshot, and the host's graceful stop snapshots them all at once
 * while the main thread's heap is sampled every millisecond.
 *
 * Usage: node --expose-gc dist/loadtest/snapshot-heap.js [--tenants 3] [--agents 10000] [--waiting 100000]
 * Last stdout line: {"tenants":..,"snapshot_mib":..,"heap_base_mib":..,"heap_peak_mib":..,"heap_peak_above_base_mib":..,...}
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { FileSnapshotStore } from '../src/cluster/embedded/file-snapshot-store.js';
import { createEmbeddedPorts } from '../src/cluster/index.js';
import { createEngine } from '../src/engine/index.js';
import { PartitionHost } from '../src/host/partition-host.js';
import { createWorkerPool } from '../src/host/worker-pool.js';
import { scriptArgs } from './lib/args.js';
import { EngineWorkload } from './lib/engine-workload.js';

const MiB = 1024 * 1024;
const mib = (n: number) => Math.round((n / MiB) * 10) / 10;

const args = scriptArgs({
  usage: 'node --expose-gc dist/loadtest/snapshot-heap.js [options]',
  options: {
    tenants: { type: 'int', default: 3, min: 1, help: 'partitions snapshotting at once' },
    agents: { type: 'int', default: 10_000, min: 1, help: 'agents per partition' },
    waiting: { type: 'int', default: 100_000, min: 0, help: 'waiting conversations per partition' },
    prepare: { type: 'string', default: '', help: '(internal) write the snapshots into this directory' },
  },
});
const tenants = Array.from({ length: args.tenants }, (_, i) => `heap-${i}`);

async function prepare(dir: string): Promise<void> {
  const store = new FileSnapshotStore(join(dir, 'snapshots'));
  for (const t of tenants) {
    const w = new EngineWorkload(createEngine(t), { agents: args.agents, waiting: args.waiting });
    w.staff();
    w.fillAssigned();
    w.fillWaiting(args.waiting);
    const snapshot = w.engine.snapshot();
    // Seq 0 with an empty log: the host loads it as the partition's state.
    await store.save({ partition: t, seq: 0, takenAt: Date.now(), digest: w.engine.digest(), snapshot });
  }
  await store.close();
}

async function measure(dir: string): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  const ports = await createEmbeddedPorts({ dataDir: dir, nodeId: 'heap', fsync: 'interval' });
  const pool = createWorkerPool({ kind: 'port', threads: tenants.length, testHooks: false });
  const host = new PartitionHost({ ports, pool, snapshotEveryCommands: 1e9, snapshotEverySeconds: 3600 });
  await host.start();
  for (const t of tenants) {
    const r = await host.submit(t, { id: `tick-${t}`, at: Date.now(), cmd: { type: 'tick' } });
    if (!r.ok) throw new Error(`${t}: ${JSON.stringify(r)}`);
  }
  // Settle: what loading left behind is collected before the baseline.
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
  }
  const base = getHeapStatistics().used_heap_size;
  const baseRss = process.memoryUsage().rss;
  let peak = base;
  let peakRss = baseRss;
  let peakExternal = 0;
  let samples = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, getHeapStatistics().used_heap_size);
    if (++samples % 10 === 0) {
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakExternal = Math.max(peakExternal, m.external);
    }
  }, 1);
  const t0 = performance.now();
  await host.stop(120_000); // the final snapshots of every partition, at once
  const ms = Math.round(performance.now() - t0);
  clearInterval(sampler);
  await ports.close();
  let bytes = 0;
  for (const t of tenants) bytes += statSync(join(dir, 'snapshots', `${t}.snap`)).size;
  // Each file reads back whole (its CRC checked) as the snapshot the final round took.
  const reread = new FileSnapshotStore(join(dir, 'snapshots'));
  for (const t of tenants) {
    const s = await reread.load(t);
    if (s === null || s.seq < 1 || s.snapshot.partition !== t)
      throw new Error(`${t}: final snapshot missing`);
  }
  const out = {
    tenants: tenants.length,
    agents: args.agents,
    waiting: args.waiting,
    snapshot_mib: mib(bytes / tenants.length),
    snapshots_ms: ms,
    heap_base_mib: mib(base),
    heap_peak_mib: mib(peak),
    heap_peak_above_base_mib: mib(peak - base),
    rss_peak_above_base_mib: mib(peakRss - baseRss),
    external_peak_mib: mib(peakExternal),
    samples,
  };
  console.log(
    `${tenants.length} partitions of ${args.agents} agents / ${args.waiting} waiting (${out.snapshot_mib} MiB of snapshot each) snapshotted at once in ${ms} ms:`,
  );
  console.log(
    `main-thread heap ${out.heap_base_mib} MiB before, peak ${out.heap_peak_mib} MiB (+${out.heap_peak_above_base_mib}); RSS peak +${out.rss_peak_above_base_mib} MiB`,
  );
  console.log(JSON.stringify(out));
}

if (args.prepare) {
  await prepare(args.prepare);
} else {
  const dir = mkdtempSync(join(tmpdir(), 'sb-snapshot-heap-'));
  try {
    const argv = [
      fileURLToPath(import.meta.url),
      '--tenants',
      String(args.tenants),
      '--agents',
      String(args.agents),
      '--waiting',
      String(args.waiting),
      '--prepare',
      dir,
    ];
    const r = spawnSync(process.execPath, argv, { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`preparing the snapshots failed (${r.status})`);
    await measure(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

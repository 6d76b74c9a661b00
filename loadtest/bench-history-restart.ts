/**
 * What refilling the embedded event history costs a restart. One tenant with `--agents` agents gets
 * `--conversations` enqueues after its last snapshot; then the node restarts from copies of its data
 * directory, timed from `start()` to ready:
 *
 * - crash restart (no final snapshot): the load replays the log tail; with `--event-history` the replay
 *   also re-derives the tail's events into the history (`refill`), without it (0) it does not;
 * - graceful restart: the stop snapshots (the log is trimmed) and saves the history to
 *   `event-history.jsonl`; the start reads it back, against a start whose file was removed.
 *
 * Usage: npm run build && node dist/loadtest/bench-history-restart.js [--agents 1000] [--conversations 40000] [--history 100000] [--runs 3]
 */
import { cp, mkdtemp, rm, stat, unlink } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEmbeddedPorts } from '../src/cluster/index.js';
import { agentConfig, conversation, queueConfig } from '../src/engine/fixtures.js';
import type { Command, CommandEnvelope } from '../src/engine/types.js';
import { PartitionHost } from '../src/host/partition-host.js';
import { createWorkerPool } from '../src/host/worker-pool.js';
import { scriptArgs } from './lib/args.js';

const T = 'bench';
const FILE = 'event-history.jsonl';
let ids = 0;

async function open(dir: string, history: number) {
  const ports = await createEmbeddedPorts({ dataDir: dir, nodeId: 'bench', fsync: 'interval' });
  const pool = createWorkerPool({ kind: 'port', threads: 1 });
  const host = new PartitionHost({
    ports,
    pool,
    maxLoopLagMs: 0,
    maxInflight: 100_000,
    maxInflightPerTenant: 100_000,
    eventHistory: history,
    eventHistoryFile: join(dir, FILE),
    snapshotEveryCommands: 1e9,
    snapshotEverySeconds: 1e6,
  });
  const t0 = performance.now();
  await host.start();
  const startMs = performance.now() - t0;
  const send = (cmd: Command) => {
    const env: CommandEnvelope = { id: `b-${++ids}`, at: Date.now(), cmd };
    return host.submit(T, env);
  };
  return {
    host,
    startMs,
    send,
    async stop() {
      await host.stop(60_000);
      await ports.close();
    },
    async crash() {
      await pool.close();
      await ports.close();
    },
  };
}

async function copy(dir: string): Promise<string> {
  const to = await mkdtemp(join(tmpdir(), 'sb-hist-'));
  await cp(dir, to, { recursive: true });
  // A copied lock of a live process would hold the start off: this process holds none any more.
  await unlink(join(to, 'LOCK')).catch(() => undefined);
  return to;
}

async function timedStart(src: string, history: number, dropFile = false) {
  const dir = await copy(src);
  if (dropFile) await unlink(join(dir, FILE)).catch(() => undefined);
  const n = await open(dir, history);
  const r = { ms: n.startMs, events: n.host.eventHistoryStats().events };
  await n.crash();
  await rm(dir, { recursive: true, force: true, maxRetries: 5 }).catch(() => undefined);
  return r;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main(): Promise<void> {
  const { agents, conversations, history, runs } = scriptArgs({
    usage: 'node dist/loadtest/bench-history-restart.js [options]',
    options: {
      agents: { type: 'int', default: 1000, min: 1, help: 'agents of the tenant' },
      conversations: { type: 'int', default: 40_000, min: 1, help: 'enqueues after the last snapshot' },
      history: { type: 'int', default: 100_000, min: 1, help: '--event-history' },
      runs: { type: 'int', default: 3, min: 1, help: 'starts timed per case (median)' },
    },
  });
  const base = await mkdtemp(join(tmpdir(), 'sb-hist-'));
  const n = await open(base, history);
  await n.send({ type: 'upsert_queue', queue: queueConfig('chat') });
  for (let i = 0; i < agents; i += 200)
    await Promise.all(
      Array.from({ length: Math.min(200, agents - i) }, async (_, k) => {
        const id = `agent-${i + k}`;
        await n.send({ type: 'upsert_agent', agent: agentConfig(id) });
        await n.send({ type: 'set_presence', agentId: id, presence: 'online' });
      }),
    );
  // The state the snapshot holds, then the tail after it.
  await n.host.drain(T, 60_000);
  for (let i = 0; i < conversations; i += 500)
    await Promise.all(
      Array.from({ length: Math.min(500, conversations - i) }, (_, k) =>
        n.send({ type: 'enqueue', conversation: conversation(`c-${i + k}`, { queueId: 'chat' }) }),
      ),
    );
  const kept = n.host.eventHistoryStats().events;
  await n.crash();

  // Crash restart: the tail is replayed either way; with a history its events are refilled.
  const crashWith: number[] = [];
  const crashWithout: number[] = [];
  let refilled = 0;
  for (let r = 0; r < runs; r++) {
    crashWithout.push((await timedStart(base, 0)).ms);
    const w = await timedStart(base, history);
    crashWith.push(w.ms);
    refilled = w.events;
  }

  // Graceful restart: stop (final snapshot, history saved), then start with and without the file.
  const gdir = await copy(base);
  const g = await open(gdir, history);
  const t0 = performance.now();
  await g.stop();
  const stopMs = performance.now() - t0;
  const bytes = (await stat(join(gdir, FILE))).size;
  const gracefulWith: number[] = [];
  const gracefulWithout: number[] = [];
  let restored = 0;
  for (let r = 0; r < runs; r++) {
    gracefulWithout.push((await timedStart(gdir, history, true)).ms);
    const w = await timedStart(gdir, history);
    gracefulWith.push(w.ms);
    restored = w.events;
  }
  await rm(gdir, { recursive: true, force: true, maxRetries: 5 }).catch(() => undefined);
  await rm(base, { recursive: true, force: true, maxRetries: 5 }).catch(() => undefined);
  const out = {
    agents,
    conversations,
    history,
    events_kept_before: kept,
    crash_start_ms_without_refill: Math.round(median(crashWithout)),
    crash_start_ms_with_refill: Math.round(median(crashWith)),
    crash_refilled_events: refilled,
    graceful_stop_ms: Math.round(stopMs),
    history_file_bytes: bytes,
    graceful_start_ms_without_file: Math.round(median(gracefulWithout)),
    graceful_start_ms_with_file: Math.round(median(gracefulWith)),
    graceful_restored_events: restored,
    runs,
    loadavg: +loadavg()[0]!.toFixed(2),
    cores: availableParallelism(),
  };
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

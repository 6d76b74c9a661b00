/** Builds an actor host over a temp data directory, the way the node does, for runtime tests. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll } from 'vitest';
import { createEmbeddedPorts, type NodePorts } from '../../src/cluster/index.js';
import { agentConfig, queueConfig } from '../../src/engine/fixtures.js';
import type { ApplyResult, Command, CommandEnvelope } from '../../src/engine/types.js';
import { PartitionHost, type PartitionHostOptions } from '../../src/host/partition-host.js';
import type { InjectedBug } from '../../src/host/protocol.js';
import { createWorkerPool, type PoolKind, type WorkerPool } from '../../src/host/worker-pool.js';
import { createNodeMetrics, type NodeMetrics } from '../../src/metrics/index.js';

export interface Harness {
  dir: string;
  ports: NodePorts;
  pool: WorkerPool;
  host: PartitionHost;
  metrics: NodeMetrics;
  registry: Registry;
  /** Submits a command with a fresh id and the wall clock as `at`. */
  send(tenant: string, cmd: Command, id?: string): Promise<ApplyResult>;
  digest(tenant: string): Promise<string>;
  /** Graceful stop (drain + snapshot). */
  stop(): Promise<void>;
  /** Like `kill -9` for the host: no drain, no snapshot; the log keeps what was acknowledged. */
  crash(): Promise<void>;
}

let ids = 0;

export async function tempDataDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'sb-host-'));
}

/** Retries `fn` while it fails with the retryable `SB_ERR_UNAVAILABLE` of a partition being (re)loaded. */
export async function retryWhileUnavailable<T>(fn: () => Promise<T>, attempts = 200): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (attempt >= attempts || (e as { code?: string }).code !== 'SB_ERR_UNAVAILABLE') throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export async function startHost(
  opts: {
    dir?: string;
    threads?: number;
    pool?: PoolKind;
    fsync?: 'always' | 'interval';
    /** Bugs injected on every worker before the host starts (test hook: `injectBugEverywhere`). */
    bugs?: { commandId: string; how: InjectedBug }[];
    /** Per-agent series bound of the metrics (default: none). */
    agentSeriesLimit?: number;
    /** Heap limit of each worker thread in MiB (default: Node's). */
    workerHeapMb?: number;
  } & Partial<Omit<PartitionHostOptions, 'ports' | 'pool'>> = {},
): Promise<Harness> {
  const dir = opts.dir ?? (await tempDataDir());
  const ports = await createEmbeddedPorts({
    dataDir: dir,
    nodeId: 'test-node',
    fsync: opts.fsync ?? 'interval',
  });
  const pool = createWorkerPool({
    kind: opts.pool ?? 'port',
    threads: opts.threads ?? 1,
    testHooks: true,
    ...(opts.workerHeapMb ? { workerHeapMb: opts.workerHeapMb } : {}),
  });
  const registry = new Registry();
  let host: PartitionHost | null = null;
  const metrics = createNodeMetrics(registry, {
    inflight: () => host?.inflightCount ?? 0,
    partitionsOwned: () => host?.partitionsOwned ?? 0,
    partitionsHeld: () => host?.partitionsHeld ?? 0,
    partitionsRefused: () => host?.partitionsRefused ?? 0,
    queueStats: () => host?.allQueueStats() ?? Promise.resolve([]),
    snapshotAgeSeconds: () => host?.oldestUnsavedSnapshotSeconds ?? 0,
    partitionTimeAheadSeconds: () => host?.partitionTimeAheadSeconds ?? 0,
    ...(opts.agentSeriesLimit !== undefined ? { agentSeriesLimit: opts.agentSeriesLimit } : {}),
  });
  // Load shedding off unless a test sets it (as for node processes, test/support/node-process.ts): on a
  // busy machine the loop runs over 500 ms late at times, and a shed call fails a test about something
  // else (shedding has its own tests: loop-lag.test.ts).
  host = new PartitionHost({ maxLoopLagMs: 0, ...opts, ports, pool, metrics });
  for (const b of opts.bugs ?? []) await host.injectBugEverywhere(b.commandId, b.how);
  await host.start();
  const h = host;
  return {
    dir,
    ports,
    pool,
    host: h,
    metrics,
    registry,
    send(tenant, cmd, id) {
      const env: CommandEnvelope = { id: id ?? `cmd-${process.pid}-${++ids}`, at: Date.now(), cmd };
      return h.submit(tenant, env);
    },
    async digest(tenant) {
      const r = await h.query(tenant, { type: 'digest' });
      if (r.type !== 'digest') throw new Error('expected a digest');
      return r.digest;
    },
    async stop() {
      await h.stop();
      await ports.close();
    },
    async crash() {
      await pool.close();
      await ports.close();
    },
  };
}

/**
 * The `startHost` of one test file: every host it started is crashed, and every directory removed, after
 * the file's tests (a host restarted on a directory shares it). Call once, at the top of the file.
 */
export function hostsOfThisFile(): (opts?: Parameters<typeof startHost>[0]) => Promise<Harness> {
  const running: Harness[] = [];
  const dirs = new Set<string>();
  afterAll(async () => {
    for (const h of running) await h.crash().catch(() => undefined);
    for (const d of dirs) await removeDir(d);
  });
  return async (opts = {}) => {
    const h = await startHost(opts);
    running.push(h);
    dirs.add(h.dir);
    return h;
  };
}

/** A billing desk: one chat queue, `agents` online agents ("Agent i") with chat capacity 1. */
export async function billingDesk(h: Harness, tenant: string, agents: number): Promise<void> {
  await h.send(tenant, { type: 'upsert_queue', queue: queueConfig('chat-billing') });
  for (let i = 1; i <= agents; i++) {
    await h.send(tenant, {
      type: 'upsert_agent',
      agent: agentConfig(`agent-${i}`, { displayName: `Agent ${i}` }),
    });
    await h.send(tenant, { type: 'set_presence', agentId: `agent-${i}`, presence: 'online' });
  }
}

/**
 * Partition-host worker: an actor host for N partitions, each one pure engine instance.
 *
 * It does no I/O at all: the main thread owns the command log, snapshots and ownership, and ships log
 * batches in (`load`) and snapshots out (`snapshot`). A worker that dies therefore never leaves a
 * half-written record behind, and the same file runs as a Piscina task function or as a plain
 * `worker_threads` worker fed through `parentPort` (see `src/host/worker-pool.ts`).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Engine } from '../src/engine/api.js';
import { createEngine, restoreEngine } from '../src/engine/index.js';
import type { ApplyResult, CommandEnvelope, EngineEvent } from '../src/engine/types.js';
import {
  type HostItem,
  type HostRequest,
  type HostResponse,
  type HostResult,
  type HostWorkerData,
  preciseNow,
} from '../src/host/protocol.js';
import { SlicedSnapshot } from '../src/host/sliced-snapshot.js';

const data = (workerData ?? { transport: 'piscina', testHooks: false }) as HostWorkerData;
const engines = new Map<string, Engine>();
/** Snapshots captured and still being serialised, by partition. */
const snapshots = new Map<string, SlicedSnapshot>();

/**
 * An engine that throws has a bug, but the throw is deterministic: replay hits it at the same command
 * with the same state. Answering it as an internal error (instead of dropping the partition) keeps the
 * partition serving and its replay identical, so one poison command cannot take a tenant down.
 */
function applyOne(engine: Engine, env: CommandEnvelope): ApplyResult {
  try {
    return engine.apply(env);
  } catch (e) {
    return {
      ok: false,
      error: {
        code: 'SB_ERR_INTERNAL',
        message: `engine failed on ${env.cmd.type}: ${(e as Error).message}`,
      },
    };
  }
}

function missing(partition: string): HostResult {
  return {
    kind: 'error',
    code: 'SB_ERR_UNAVAILABLE',
    message: `partition ${partition} is not loaded here`,
    missing: true,
  };
}

function handleItem(item: HostItem): HostResult {
  switch (item.kind) {
    case 'apply': {
      const engine = engines.get(item.partition);
      if (!engine) return missing(item.partition);
      const t0 = performance.now();
      const results: ApplyResult[] = new Array(item.commands.length);
      const latencies: number[] = [];
      for (let i = 0; i < item.commands.length; i++) {
        const r = applyOne(engine, item.commands[i] as CommandEnvelope);
        results[i] = r;
        if (r.ok && r.reply.kind === 'enqueued' && !r.duplicate) {
          const received = item.receivedAt[i] as number;
          if ((r.reply.status === 'assigned' || r.reply.status === 'offered') && !Number.isNaN(received)) {
            latencies.push((preciseNow() - received) / 1000);
          }
        }
      }
      return {
        kind: 'apply',
        results,
        nextTimerAt: engine.nextTimerAt(),
        assignmentLatencies: latencies,
        applySeconds: (performance.now() - t0) / 1000,
      };
    }
    case 'query': {
      const engine =
        engines.get(item.partition) ?? (item.ephemeral ? createEngine(item.partition) : undefined);
      if (!engine) return missing(item.partition);
      return { kind: 'query', result: engine.query(item.query, item.at) };
    }
    case 'load': {
      const t0 = performance.now();
      engines.delete(item.partition);
      snapshots.delete(item.partition);
      let engine: Engine;
      if (item.snapshot) {
        engine = restoreEngine(item.snapshot);
        const digest = engine.digest();
        if (item.snapshotDigest !== null && digest !== item.snapshotDigest) {
          return {
            kind: 'error',
            code: 'SB_ERR_INTERNAL',
            message: `snapshot of ${item.partition} restores to digest ${digest}, expected ${item.snapshotDigest}`,
          };
        }
      } else {
        engine = createEngine(item.partition);
      }
      let replayed = 0;
      const wanted = item.unreleased && item.unreleased.length > 0 ? new Set(item.unreleased) : null;
      const recovered: { batch: number; env: CommandEnvelope; events: EngineEvent[] }[] = [];
      item.batches.forEach((batch, b) => {
        for (const env of batch) {
          const r = applyOne(engine, env);
          replayed++;
          if (wanted?.has(env.id) && r.ok && !r.duplicate && r.events.length > 0) {
            recovered.push({ batch: b, env, events: r.events });
          }
        }
      });
      engines.set(item.partition, engine);
      return {
        kind: 'load',
        digest: engine.digest(),
        nextTimerAt: engine.nextTimerAt(),
        now: engine.now,
        replayed,
        seconds: (performance.now() - t0) / 1000,
        recovered,
      };
    }
    case 'snapshot': {
      const engine = engines.get(item.partition);
      if (!engine) return missing(item.partition);
      const t0 = performance.now();
      snapshots.set(item.partition, new SlicedSnapshot(engine.snapshot()));
      return { kind: 'snapshot', now: engine.now, seconds: (performance.now() - t0) / 1000 };
    }
    case 'snapshot_part': {
      const job = snapshots.get(item.partition);
      if (!job) return missing(item.partition);
      const t0 = performance.now();
      const { json, done } = job.step(item.budgetMs);
      if (done) snapshots.delete(item.partition);
      return {
        kind: 'snapshot_part',
        json,
        done,
        digest: job.digest,
        seconds: (performance.now() - t0) / 1000,
      };
    }
    case 'drop':
      engines.delete(item.partition);
      snapshots.delete(item.partition);
      return { kind: 'drop' };
    case 'crash':
      if (!data.testHooks)
        return { kind: 'error', code: 'SB_ERR_INVALID_ARGUMENT', message: 'test hooks are off' };
      if (item.how === 'exit') process.exit(1);
      // Thrown outside the task so that Piscina, too, sees an uncaught exception and loses the thread.
      setImmediate(() => {
        throw new Error('partition host crashed on purpose (test hook)');
      });
      return { kind: 'crash' };
  }
}

/** Handles one request: the items of one worker's micro-batch, in order. */
export function handle(req: HostRequest): HostResponse {
  const results: HostResult[] = new Array(req.items.length);
  for (let i = 0; i < req.items.length; i++) {
    try {
      results[i] = handleItem(req.items[i] as HostItem);
    } catch (e) {
      results[i] = { kind: 'error', code: 'SB_ERR_INTERNAL', message: (e as Error).message };
    }
  }
  return { results };
}

/** Piscina task entry point. */
export default function piscinaTask(req: HostRequest): HostResponse {
  return handle(req);
}

if (data.transport === 'port' && parentPort) {
  const port = parentPort;
  port.on('message', (msg: { id: number; req: HostRequest }) => {
    port.postMessage({ id: msg.id, res: handle(msg.req) });
  });
}

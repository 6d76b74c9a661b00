/**
 * Partition-host worker: an actor host for N partitions, each one pure engine instance.
 *
 * It does no I/O at all: the main thread owns the command log, snapshots and ownership, and ships log
 * batches in (`load`) and snapshots out (`snapshot`). A worker that dies therefore never leaves a
 * half-written record behind, and the same file runs as a Piscina task function or as a plain
 * `worker_threads` worker fed through `parentPort` (see `src/host/worker-pool.ts`).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Engine, EngineSnapshot } from '../src/engine/api.js';
import { createEngine, restoreEngine } from '../src/engine/index.js';
import { Partition } from '../src/engine/partition.js';
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

/** Test hook (`inject_bug`): command ids whose apply hits an injected bug. */
const injected = new Set<string>();

/**
 * The engine never throws for a bug: it answers `SB_ERR_INTERNAL` and halts (the command may have been
 * half-applied). A throw that still escapes (a bug in the engine's own guard) is answered the same way.
 */
function applyOne(engine: Engine, env: CommandEnvelope): ApplyResult {
  try {
    if (injected.size > 0 && injected.has(env.id)) return applyWithInjectedBug(engine, env);
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

/** The same fault as the engine's own test: the assignment step takes a seat, then throws. */
function applyWithInjectedBug(engine: Engine, env: CommandEnvelope): ApplyResult {
  const original = Partition.prototype.assign;
  Partition.prototype.assign = function (this: Partition, ...args: Parameters<Partition['assign']>) {
    Partition.prototype.assign = original;
    args[1].addLoad(0, 1);
    throw new TypeError('injected bug (test hook)');
  };
  try {
    return engine.apply(env);
  } finally {
    Partition.prototype.assign = original;
  }
}

/** Replay gives up after this many distinct halting commands: something is badly wrong, not one bug. */
const MAX_SKIPPED = 64;

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
        if (engine.halted) {
          // Nothing after this command may run on a possibly half-applied state: the main thread
          // reloads the partition from snapshot + log, skipping the command that halted it.
          return {
            kind: 'error',
            code: 'SB_ERR_INTERNAL',
            message: `engine halted by command ${engine.halted.commandId}: ${engine.halted.error}`,
            halted: engine.halted.commandId,
          };
        }
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
      const skip = new Set(item.skip ?? []);
      const wanted = item.unreleased && item.unreleased.length > 0 ? new Set(item.unreleased) : null;
      let engine: Engine;
      let replayed: number;
      let recovered: { batch: number; env: CommandEnvelope; events: EngineEvent[] }[];
      const snapshot =
        item.snapshot ?? (item.snapshotJson ? (JSON.parse(item.snapshotJson) as EngineSnapshot) : null);
      // A command that halts the engine (a bug) is skipped and the replay starts over from the
      // snapshot: deterministic replay makes that exactly "the command was rejected", on every node.
      for (;;) {
        if (snapshot) {
          engine = restoreEngine(snapshot);
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
        replayed = 0;
        recovered = [];
        replay: for (let b = 0; b < item.batches.length; b++) {
          for (const env of item.batches[b] as CommandEnvelope[]) {
            if (skip.has(env.id)) continue;
            const r = applyOne(engine, env);
            if (engine.halted) break replay;
            replayed++;
            if (wanted?.has(env.id) && r.ok && !r.duplicate && r.events.length > 0) {
              recovered.push({ batch: b, env, events: r.events });
            }
          }
        }
        const halted = engine.halted as { commandId: string } | null;
        if (!halted) break;
        if (skip.size >= MAX_SKIPPED || skip.has(halted.commandId)) {
          return {
            kind: 'error',
            code: 'SB_ERR_INTERNAL',
            message: `replay of ${item.partition} halts at command ${halted.commandId} after skipping ${skip.size} commands`,
          };
        }
        skip.add(halted.commandId);
      }
      engines.set(item.partition, engine);
      return {
        kind: 'load',
        digest: engine.digest(),
        nextTimerAt: engine.nextTimerAt(),
        now: engine.now,
        replayed,
        seconds: (performance.now() - t0) / 1000,
        recovered,
        skipped: [...skip],
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
    case 'inject_bug':
      if (!data.testHooks)
        return { kind: 'error', code: 'SB_ERR_INVALID_ARGUMENT', message: 'test hooks are off' };
      injected.add(item.commandId);
      return { kind: 'inject_bug' };
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

/**
 * The partition actors of one host thread: N partitions, each one pure engine instance, driven by
 * `HostRequest`s (micro-batches of items, answered in order).
 *
 * It does no I/O at all: the main thread owns the command log, snapshots and ownership, and ships log
 * batches in (`load`) and snapshots out (`snapshot`). A thread that dies therefore never leaves a
 * half-written record behind. One instance runs in each worker thread (`workers/partition-host.ts`, as a
 * Piscina task function or a plain `worker_threads` worker); `--pool inline` runs one on the main thread.
 */
import type { Engine, EngineSnapshot } from '../engine/api.js';
import { DEFAULT_CUSTOMER_LIMIT } from '../engine/customers.js';
import { createEngine, restoreEngine } from '../engine/index.js';
import { Partition } from '../engine/partition.js';
import type { ApplyResult, CommandEnvelope, EngineEvent, Reply } from '../engine/types.js';
import {
  type HostItem,
  type HostRequest,
  type HostResponse,
  type HostResult,
  type InjectedBug,
  type LoggedCommand,
  loggedKey,
  preciseNow,
} from './protocol.js';
import { SlicedSnapshot } from './sliced-snapshot.js';

/** Snapshot text leaves the worker as UTF-8 bytes (see `snapshot_part`). */
const utf8 = new TextEncoder();

import { ProgressWriter } from './worker-progress.js';

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

function missing(partition: string): HostResult {
  return {
    kind: 'error',
    code: 'SB_ERR_UNAVAILABLE',
    message: `partition ${partition} is not loaded here`,
    missing: true,
  };
}

export class PartitionActors {
  private readonly engines = new Map<string, Engine>();
  /** Snapshots captured and still being serialised, by partition. */
  private readonly snapshots = new Map<string, SlicedSnapshot>();
  /** Test hook (`inject_bug`): command ids whose apply hits an injected bug, and which one. */
  private readonly injected = new Map<string, InjectedBug>();

  private readonly progress: ProgressWriter;

  /**
   * @param testHooks whether `inject_bug` and `crash` are honoured (tests only).
   * @param isolated whether this runs in a worker thread of its own: only there may `crash` (or an
   *   injected `exit` bug) end the thread.
   * @param progress the pool's progress cells (`worker-progress.ts`), written as requests are handled.
   */
  constructor(
    private readonly testHooks: boolean,
    private readonly isolated: boolean,
    progress?: SharedArrayBuffer,
  ) {
    this.progress = new ProgressWriter(progress);
  }

  /** Handles one request: the items of one worker's micro-batch, in order. */
  handle(req: HostRequest): HostResponse {
    const results: HostResult[] = new Array(req.items.length);
    this.progress.begin(req.slot, req.call);
    for (let i = 0; i < req.items.length; i++) {
      this.progress.item(i);
      try {
        results[i] = this.handleItem(req.items[i] as HostItem);
      } catch (e) {
        results[i] = { kind: 'error', code: 'SB_ERR_INTERNAL', message: (e as Error).message };
      }
    }
    this.progress.end();
    return { results };
  }

  /**
   * The engine never throws for a bug: it answers `SB_ERR_INTERNAL` and halts (the command may have been
   * half-applied). A throw that still escapes (a bug in the engine's own guard) is answered the same way.
   */
  private applyOne(engine: Engine, env: CommandEnvelope): ApplyResult {
    try {
      if (this.injected.size > 0 && this.injected.has(env.id)) {
        const how = this.injected.get(env.id);
        if (how === 'oom') exhaustHeap();
        // Ends the thread where it stands, as the isolate running out of memory mid-command does.
        if (how !== 'halt') process.exit(1);
        return applyWithInjectedBug(engine, env);
      }
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

  private handleItem(item: HostItem): HostResult {
    if (item.kind === 'apply' || item.kind === 'query') {
      // A capture in progress is exact only while its partition stands still: finished before the
      // partition moves (or is read). The host holds such work back until the capture is done, so this
      // is only the guarantee, not the usual path.
      const job = this.snapshots.get(item.partition);
      if (job !== undefined && !job.captured) job.finishCapture();
    }
    switch (item.kind) {
      case 'apply': {
        const engine = this.engines.get(item.partition);
        if (!engine) return missing(item.partition);
        const t0 = performance.now();
        const results: ApplyResult[] = new Array(item.commands.length);
        const latencies: number[] = [];
        for (let i = 0; i < item.commands.length; i++) {
          this.progress.command(i);
          const r = this.applyOne(engine, item.commands[i] as CommandEnvelope);
          this.progress.outside();
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
          this.engines.get(item.partition) ?? (item.ephemeral ? createEngine(item.partition) : undefined);
        if (!engine) return missing(item.partition);
        return { kind: 'query', result: engine.query(item.query, item.at) };
      }
      case 'probe': {
        // A throwaway engine: nothing of it outlives this item, whatever the command did to it.
        const opts = item.engine ?? {};
        const engine = createEngine(item.partition, {
          ...(opts.hashSeed === undefined ? {} : { hashSeed: opts.hashSeed }),
          ...(opts.customerLimit === undefined ? {} : { customerLimit: opts.customerLimit }),
        });
        return { kind: 'probe', result: this.applyOne(engine, item.command) };
      }
      case 'load': {
        const t0 = performance.now();
        this.engines.delete(item.partition);
        this.snapshots.delete(item.partition);
        // Positions (`batch:index`) of the commands to leave out: the LAST one with the key in the named
        // batch (or in the log), never every command with the key (see `LoggedCommand.batch`).
        const skipAt = new Set<string>();
        for (const s of item.skip ?? []) {
          const key = loggedKey(s);
          let found: string | null = null;
          for (let b = 0; b < item.batches.length; b++) {
            if (s.batch !== undefined && b !== s.batch) continue;
            const batch = item.batches[b] as CommandEnvelope[];
            for (let c = 0; c < batch.length; c++)
              if (loggedKey(batch[c] as CommandEnvelope) === key) found = `${b}:${c}`;
          }
          if (found) skipAt.add(found);
        }
        const wanted = item.unreleased && item.unreleased.length > 0 ? new Set(item.unreleased) : null;
        // The last logged copy of each wanted id: an earlier copy was answered (and counted, and its events
        // published) before a retry with the same id was left unanswered by the crash.
        const lastCopy = new Map<string, number>();
        if (wanted) {
          let pos = 0;
          for (const batch of item.batches as CommandEnvelope[][])
            for (const env of batch) {
              if (wanted.has(env.id)) lastCopy.set(env.id, pos);
              pos++;
            }
        }
        let pos = -1;
        let engine: Engine;
        let replayed: number;
        let recovered: {
          batch: number;
          env: CommandEnvelope;
          reply: Reply;
          events: EngineEvent[];
          last: boolean;
        }[];
        let left: LoggedCommand[];
        const snapshot =
          item.snapshot ?? (item.snapshotJson ? (JSON.parse(item.snapshotJson) as EngineSnapshot) : null);
        // A logged command that halts the engine here is NOT left out: it may have been acknowledged
        // (an engine build with a regression on an old command), and leaving it out, then sealing that,
        // would lose it for good. The load fails instead, naming it; the host holds the partition for an
        // operator (roll the engine build back). Only the `skip`ped commands, quarantined in flight and
        // so never acknowledged, are left out.
        const opts = item.engine ?? {};
        const seed = opts.hashSeed === undefined ? {} : { hashSeed: opts.hashSeed };
        if (snapshot) {
          // The customer limit is part of the state (and the digest): a snapshot saved under another one
          // is restored as saved and checked, then rebuilt under this node's limit (once: the next
          // snapshot holds it). Read before restoring, which takes the state over.
          const saved =
            snapshot.version === 2 ? (snapshot.state as { customerLimit?: number }).customerLimit : undefined;
          const limit = opts.customerLimit;
          const same = limit === undefined || limit === (saved ?? DEFAULT_CUSTOMER_LIMIT);
          engine = restoreEngine(
            snapshot,
            same && limit !== undefined ? { ...seed, customerLimit: limit } : seed,
          );
          const digest = engine.digest();
          if (item.snapshotDigest !== null && digest !== item.snapshotDigest) {
            return {
              kind: 'error',
              code: 'SB_ERR_INTERNAL',
              message: `snapshot of ${item.partition} restores to digest ${digest}, expected ${item.snapshotDigest}`,
            };
          }
          if (!same) engine = restoreEngine(engine.snapshot(), { ...seed, customerLimit: limit });
        } else {
          engine = createEngine(
            item.partition,
            opts.customerLimit === undefined ? seed : { ...seed, customerLimit: opts.customerLimit },
          );
        }
        replayed = 0;
        recovered = [];
        left = [];
        // The history refill: every event the batches published live, numbered as the bus numbers them.
        const keep = item.tailEvents ?? 0;
        const tail: { batch: number; index: number; at: number; events: EngineEvent[] }[] = [];
        let tailEvents = 0;
        let tailHead = 0;
        for (let b = 0; b < item.batches.length; b++) {
          const batch = item.batches[b] as CommandEnvelope[];
          let index = 0;
          for (let c = 0; c < batch.length; c++) {
            const env = batch[c] as CommandEnvelope;
            pos++;
            if (skipAt.size > 0 && skipAt.has(`${b}:${c}`)) {
              left.push({ id: env.id, at: env.at, batch: b });
              continue;
            }
            this.progress.replaying(b, c);
            const r = this.applyOne(engine, env);
            this.progress.outside();
            if (engine.halted) {
              this.progress.outside();
              return {
                kind: 'error',
                code: 'SB_ERR_INTERNAL',
                message: `replay of ${item.partition} halts the engine at logged command ${env.id} (batch ${b}): ${engine.halted.error}`,
                replayHalted: env.id,
              };
            }
            replayed++;
            if (keep > 0 && r.ok && !r.duplicate && r.events.length > 0) {
              tail.push({ batch: b, index, at: env.at, events: r.events });
              index += r.events.length;
              tailEvents += r.events.length;
              // Whole entries beyond the bound go as the replay passes them (the front one is cut below).
              while (tailEvents - (tail[tailHead] as { events: EngineEvent[] }).events.length >= keep) {
                tailEvents -= (tail[tailHead] as { events: EngineEvent[] }).events.length;
                tail[tailHead] = undefined as unknown as (typeof tail)[number];
                tailHead++;
                if (tailHead > 4096 && tailHead * 2 > tail.length) {
                  tail.splice(0, tailHead);
                  tailHead = 0;
                }
              }
            }
            if (wanted?.has(env.id) && r.ok && !r.duplicate && r.events.length > 0) {
              recovered.push({
                batch: b,
                env,
                reply: r.reply,
                events: r.events,
                last: lastCopy.get(env.id) === pos,
              });
            }
          }
        }
        this.progress.outside();
        this.engines.set(item.partition, engine);
        const kept = keep > 0 ? tail.slice(tailHead) : undefined;
        const front = kept?.[0];
        if (front && tailEvents > keep) {
          const cut = tailEvents - keep;
          kept[0] = { ...front, index: front.index + cut, events: front.events.slice(cut) };
        }
        return {
          kind: 'load',
          ...(kept
            ? { tail: kept, ...(tailHead > 0 || tailEvents > keep ? { tailCut: true as const } : {}) }
            : {}),
          digest: engine.digest(),
          nextTimerAt: engine.nextTimerAt(),
          now: engine.now,
          replayed,
          seconds: (performance.now() - t0) / 1000,
          recovered,
          left,
        };
      }
      case 'snapshot': {
        const engine = this.engines.get(item.partition);
        if (!engine) return missing(item.partition);
        const t0 = performance.now();
        // Only started here: captured by the `snapshot_part` items, other partitions' work between them.
        this.snapshots.set(item.partition, new SlicedSnapshot(engine.snapshotSteps()));
        return { kind: 'snapshot', now: engine.now, seconds: (performance.now() - t0) / 1000 };
      }
      case 'snapshot_part': {
        const job = this.snapshots.get(item.partition);
        if (!job) return missing(item.partition);
        const t0 = performance.now();
        const { json, done } = job.step(item.budgetMs);
        if (done) this.snapshots.delete(item.partition);
        return {
          kind: 'snapshot_part',
          bytes: utf8.encode(json),
          done,
          captured: job.captured,
          digest: job.digest,
          seconds: (performance.now() - t0) / 1000,
        };
      }
      case 'drop':
        this.engines.delete(item.partition);
        this.snapshots.delete(item.partition);
        return { kind: 'drop' };
      case 'inject_bug':
        if (!this.testHooks)
          return { kind: 'error', code: 'SB_ERR_INVALID_ARGUMENT', message: 'test hooks are off' };
        if (item.how !== undefined && item.how !== 'halt' && !this.isolated) {
          return {
            kind: 'error',
            code: 'SB_ERR_INVALID_ARGUMENT',
            message: 'a bug that ends the thread needs a worker thread (--pool port or piscina)',
          };
        }
        this.injected.set(item.commandId, item.how ?? 'halt');
        return { kind: 'inject_bug' };
      case 'crash':
        if (!this.testHooks)
          return { kind: 'error', code: 'SB_ERR_INVALID_ARGUMENT', message: 'test hooks are off' };
        if (!this.isolated) {
          return {
            kind: 'error',
            code: 'SB_ERR_INVALID_ARGUMENT',
            message: 'crash hooks need a worker thread (--pool port or piscina)',
          };
        }
        if (item.how === 'exit') process.exit(1);
        // Thrown outside the task so that Piscina, too, sees an uncaught exception and loses the thread.
        setImmediate(() => {
          throw new Error('partition host crashed on purpose (test hook)');
        });
        return { kind: 'crash' };
    }
  }
}

/** Test hook (`oom`): fills the heap until V8 ends the thread (`ERR_WORKER_OUT_OF_MEMORY`). */
function exhaustHeap(): never {
  const hog: number[][] = [];
  for (;;) hog.push(new Array<number>(1 << 16).fill(hog.length));
}

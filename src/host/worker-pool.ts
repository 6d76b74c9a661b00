/**
 * Three interchangeable places for the partition actors. Two are worker threads, each with a fixed thread
 * per slot (sticky: a partition is pinned to a slot, a slot to one live thread) and supervision (a dead
 * thread is replaced, the host is told so it reloads that slot's partitions); the third, `InlinePool`
 * (`--pool inline`), runs them on the main thread (see the class):
 *
 * - `PiscinaPool`: Piscina 5 with a sticky `loadBalancer` reading the slot from
 *   `task[Piscina.queueOptionsSymbol]`, `minThreads === maxThreads`, `idleTimeout: Infinity`,
 *   `atomics: 'disabled'` (parked workers would stall) and a bounded `maxQueue`.
 * - `PortPool`: plain `worker_threads`, one request/response pair per message on `parentPort`.
 *
 * All three carry one `HostRequest` per call; the host keeps at most one call in flight per slot and folds
 * everything that arrives meanwhile into the next call, so queues are bounded by the host's in-flight cap.
 *
 * Why `port` is the default (`--pool`): `npm run bench:host` puts one round trip at p50 ≈ 30–40 µs for a
 * MessagePort vs ≈ 45–70 µs for a Piscina task (ranges over several runs on this busy 2-core machine; in
 * one run 11.0k vs 5.9k sequential conversations/s of two round trips each), because every Piscina task
 * pays for its task queue, balancer call, TaskInfo and async-hooks resource. Piscina's remaining value
 * would be supervision, but an actor host needs its own anyway (which thread held which partitions,
 * reload on replacement), and with a fixed thread per slot that is twenty lines (`PortPool.spawn`).
 * Micro-batched, both carry far more than one call per command (same run: 52k vs 15k conversations/s
 * for the port, 44k vs 8.7k for Piscina); Piscina stays selectable and runs the same crash tests.
 * `inline` is faster still on two cores (no hop at all: loadtest/README.md, "The engine on the main
 * thread") but not the default, because a worker is what lets the node survive its engine's crash and
 * keep serving while a big partition loads.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type ResourceLimits, Worker } from 'node:worker_threads';
import { Piscina, type PiscinaTask } from 'piscina';
import { PartitionActors } from './partition-actor.js';
import type { HostRequest, HostResponse, HostWorkerData } from './protocol.js';
import { type LastPosition, progressBuffer, takeLastPosition } from './worker-progress.js';

export type PoolKind = 'piscina' | 'port' | 'inline';

export interface WorkerPool {
  readonly kind: PoolKind;
  readonly size: number;
  /** Worker threads replaced after a crash since start. */
  readonly restarts: number;
  /** Sends one request to the slot's worker. Rejects when that worker dies before answering. */
  call(slot: number, req: HostRequest): Promise<HostResponse>;
  /**
   * The slot's thread was replaced: everything it hosted is gone. `at` says where the dead thread stood
   * (`worker-progress.ts`: the request, item and command it was handling), null if it was idle. Called
   * before the calls in flight on that thread are rejected.
   */
  onReplaced(listener: (slot: number, at: LastPosition | null) => void): void;
  close(): Promise<void>;
}

export interface PoolOptions {
  kind: PoolKind;
  threads: number;
  testHooks?: boolean;
  /** Path of the compiled worker; defaults to `dist/workers/partition-host.js`. */
  workerFile?: string;
  /**
   * Piscina only: queued tasks allowed beyond the running ones (default 2 × threads, enough for the host,
   * which keeps ≤ 1 call in flight per slot). Benchmarks sending one task per conversation raise it.
   */
  maxQueue?: number;
  /**
   * Old-generation heap limit of each worker thread in MiB (`resourceLimits.maxOldGenerationSizeMb`);
   * 0 or absent = Node's default. A partition that outgrows it ends its own thread
   * (`ERR_WORKER_OUT_OF_MEMORY`, contained like any thread death) instead of the whole process.
   */
  workerHeapMb?: number;
}

/** The compiled worker next to this module, or under `dist/` when running from TypeScript sources. */
export function defaultWorkerFile(): string {
  const beside = fileURLToPath(new URL('../../workers/partition-host.js', import.meta.url));
  if (existsSync(beside)) return beside;
  return fileURLToPath(new URL('../../dist/workers/partition-host.js', import.meta.url));
}

export function createWorkerPool(opts: PoolOptions): WorkerPool {
  if (opts.kind === 'inline') return new InlinePool(opts.threads, opts.testHooks ?? false);
  const file = opts.workerFile ?? defaultWorkerFile();
  if (!existsSync(file)) throw new Error(`partition-host worker not found at ${file}: run \`npm run build\``);
  const limits: ResourceLimits | undefined = opts.workerHeapMb
    ? { maxOldGenerationSizeMb: opts.workerHeapMb }
    : undefined;
  return opts.kind === 'piscina'
    ? new PiscinaPool(file, opts.threads, opts.testHooks ?? false, opts.maxQueue ?? opts.threads * 2, limits)
    : new PortPool(file, opts.threads, opts.testHooks ?? false, limits);
}

/**
 * `--pool inline`: the partition actors run on the calling (main) thread, each slot its own
 * `PartitionActors`, so a command costs no thread hop and no wake-up of another thread. What a worker
 * gets by construction is kept where it matters:
 * - answers are copied (`structuredClone`, what `postMessage` does): query answers hold the engine's own
 *   config objects, and nothing the host keeps (replies, events waiting to be published) may change
 *   under a later command;
 * - requests with a `load` are copied: a restored engine adopts the snapshot's arrays and writes into
 *   them later (a restore from a deep-frozen snapshot halts), and the host may hand one snapshot to
 *   two loads;
 * - other requests are not: the engine only reads commands, then and later (a property test replays
 *   random days on deep-frozen commands), and the host never changes a batch it has handed over. That
 *   copy was 40 % of the copying, ~8 µs per two-command batch.
 * The answer comes in a later microtask, as a worker's would come in a later turn. What inline gives up:
 * a crash of the engine's thread is the node's crash (peers or a restart recover it from the log), and
 * loading or restoring a big partition pauses the event loop for that long.
 */
class InlinePool implements WorkerPool {
  readonly kind = 'inline' as const;
  readonly restarts = 0;
  private readonly slots: PartitionActors[] = [];

  constructor(
    readonly size: number,
    testHooks: boolean,
  ) {
    for (let i = 0; i < size; i++) this.slots.push(new PartitionActors(testHooks, false));
  }

  async call(slot: number, req: HostRequest): Promise<HostResponse> {
    const actors = this.slots[slot] as PartitionActors;
    const own = req.items.some((i) => i.kind === 'load') ? structuredClone(req) : req;
    await undefined;
    return structuredClone(actors.handle(own));
  }

  onReplaced(): void {}

  async close(): Promise<void> {}
}

type Waiter = { resolve: (r: HostResponse) => void; reject: (e: Error) => void };

interface PortSlot {
  worker: Worker;
  waiters: Map<number, Waiter>;
}

type ReplacedListener = (slot: number, at: LastPosition | null) => void;

class PortPool implements WorkerPool {
  readonly kind = 'port' as const;
  restarts = 0;
  private readonly slots: PortSlot[] = [];
  private readonly listeners: ReplacedListener[] = [];
  private readonly progress: SharedArrayBuffer;
  private nextId = 1;
  private closing = false;

  constructor(
    private readonly file: string,
    readonly size: number,
    private readonly testHooks: boolean,
    private readonly resourceLimits: ResourceLimits | undefined,
  ) {
    this.progress = progressBuffer(size);
    for (let i = 0; i < size; i++) this.slots.push(this.spawn(i));
  }

  call(slot: number, req: HostRequest): Promise<HostResponse> {
    // A message to a terminated worker is never answered: a late load during shutdown would hang.
    if (this.closing) return Promise.reject(new Error('the partition-host worker pool is closed'));
    const s = this.slots[slot] as PortSlot;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      s.waiters.set(id, { resolve, reject });
      s.worker.postMessage({ id, req });
    });
  }

  onReplaced(listener: ReplacedListener): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private spawn(index: number): PortSlot {
    const workerData: HostWorkerData = {
      transport: 'port',
      testHooks: this.testHooks,
      progress: this.progress,
    };
    const worker = new Worker(this.file, {
      workerData,
      ...(this.resourceLimits ? { resourceLimits: this.resourceLimits } : {}),
    });
    const slot: PortSlot = { worker, waiters: new Map() };
    worker.on('message', (m: { id: number; res: HostResponse }) => {
      const w = slot.waiters.get(m.id);
      if (!w) return;
      slot.waiters.delete(m.id);
      w.resolve(m.res);
    });
    // 'error' is followed by 'exit'; the replacement happens once, on exit.
    let outOfMemory = false;
    worker.on('error', (e: Error & { code?: string }) => {
      if (e.code === 'ERR_WORKER_OUT_OF_MEMORY') outOfMemory = true;
    });
    worker.on('exit', (code) => {
      // Read before anything else runs: the listeners learn where it died before its calls fail.
      const at = takeLastPosition(this.progress, index);
      if (at && outOfMemory) at.outOfMemory = true;
      const err = new Error(`partition-host worker ${index} exited with code ${code}`);
      for (const w of slot.waiters.values()) w.reject(err);
      slot.waiters.clear();
      if (this.closing) return;
      this.restarts++;
      this.slots[index] = this.spawn(index);
      for (const l of this.listeners) l(index, at);
    });
    return slot;
  }
}

interface Death {
  at: LastPosition | null;
  /** Settles once the listeners were told. */
  notified: Promise<void>;
}

type PiscinaWorkerRef = Parameters<
  NonNullable<ConstructorParameters<typeof Piscina>[0]>['loadBalancer'] & {}
>[1][number];

class PiscinaPool implements WorkerPool {
  readonly kind = 'piscina' as const;
  restarts = 0;
  private readonly pool: Piscina<HostRequest, HostResponse>;
  /**
   * Thread id of the live Piscina worker bound to each slot (null until first use or after it died).
   * Ids, not objects: Piscina hands the balancer a fresh wrapper object on every call.
   */
  private readonly bound: (number | null)[];
  private readonly listeners: ReplacedListener[] = [];
  private readonly progress: SharedArrayBuffer;
  private closing = false;
  /** Per slot, a thread death whose listeners have not been told yet. */
  private readonly dying: (Death | null)[];

  constructor(
    file: string,
    readonly size: number,
    testHooks: boolean,
    maxQueue: number,
    resourceLimits: ResourceLimits | undefined,
  ) {
    this.bound = new Array(size).fill(null);
    this.dying = new Array(size).fill(null);
    this.progress = progressBuffer(size);
    const workerData: HostWorkerData = { transport: 'piscina', testHooks, progress: this.progress };
    this.pool = new Piscina<HostRequest, HostResponse>({
      filename: file,
      minThreads: size,
      maxThreads: size,
      idleTimeout: Number.POSITIVE_INFINITY,
      atomics: 'disabled',
      // The host keeps ≤ 1 call in flight per slot: a small bound, so a runaway caller fails fast.
      maxQueue,
      // The host may pipeline (callsPerSlot > 1); tasks on one worker still run in arrival order.
      concurrentTasksPerWorker: 4,
      workerData,
      ...(resourceLimits ? { resourceLimits } : {}),
      loadBalancer: (task, workers) => this.balance(task, workers),
    });
    this.pool.on('workerDestroy', (w: PiscinaWorkerRef) => {
      let slot = this.bound.indexOf(w.id);
      if (slot < 0) {
        // A thread that already exited reports id -1: find the bound slot whose thread is gone.
        const live = new Set(this.pool.threads.map((t) => t.threadId).filter((id) => id >= 0));
        slot = this.bound.findIndex((id) => id !== null && !live.has(id));
      }
      if (slot < 0) return;
      this.bound[slot] = null;
      const at = takeLastPosition(this.progress, slot);
      if (this.closing) return;
      this.restarts++;
      // Piscina emits this from inside its error handling, before it hands the thread's error to the
      // tasks it was running (or emits it as 'error' when there were none), and only that error says
      // whether the thread ran out of memory. So the listeners hear of the death once that error is
      // known, and the dead thread's calls fail after them (`call`): they still learn where it died first.
      const death: Death = { at, notified: Promise.resolve() };
      this.dying[slot] = death;
      death.notified = new Promise<void>((resolve) =>
        setImmediate(() => {
          if (this.dying[slot] === death) this.dying[slot] = null;
          for (const l of this.listeners) l(slot, death.at);
          resolve();
        }),
      );
    });
    // A thread that died with no task in flight surfaces as a pool 'error', right after its 'workerDestroy'.
    this.pool.on('error', (e: Error & { code?: string }) => {
      if (e.code !== 'ERR_WORKER_OUT_OF_MEMORY') return;
      for (const d of this.dying) if (d?.at) d.at.outOfMemory = true;
    });
  }

  call(slot: number, req: HostRequest): Promise<HostResponse> {
    const task = { ...req, [Piscina.queueOptionsSymbol]: { slot } };
    return this.pool.run(task as HostRequest).catch(async (e: Error & { code?: string }) => {
      const death = this.dying[slot];
      if (death) {
        if (e.code === 'ERR_WORKER_OUT_OF_MEMORY' && death.at) death.at.outOfMemory = true;
        await death.notified;
      }
      throw e;
    });
  }

  onReplaced(listener: ReplacedListener): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.pool.destroy();
  }

  /**
   * Sticky balancer: a slot keeps its worker for life; a slot without one (first use, or its worker died)
   * adopts a live worker no other slot holds. Null = wait (Piscina retries when a worker frees up or a
   * replacement is ready).
   */
  private balance(task: PiscinaTask, workers: PiscinaWorkerRef[]): PiscinaWorkerRef | null {
    const opts = (task as unknown as Record<symbol, unknown>)[Piscina.queueOptionsSymbol] as {
      slot: number;
    } | null;
    const slot = opts?.slot ?? 0;
    const id = this.bound[slot] ?? null;
    let w = id === null ? undefined : workers.find((c) => c.id === id && !c.destroyed && !c.terminating);
    if (!w) {
      w = workers.find((c) => !c.destroyed && !c.terminating && !this.bound.includes(c.id));
      if (!w) return null;
      this.bound[slot] = w.id;
    }
    return w.currentUsage < 4 ? w : null;
  }
}

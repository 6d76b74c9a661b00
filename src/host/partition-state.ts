/**
 * Main-thread bookkeeping of one hosted partition: its pipeline of commands between "submitted" and
 * "answered", its log position, its timer and its snapshot barrier.
 *
 * Invariant: `toAppend` is a suffix of `unreleased` (in the same order), and `unreleased` is in the order
 * the commands were handed to the worker — which is the order they are appended, so the log replays
 * exactly what the worker applied.
 */
import type { ApplyResult, CommandEnvelope } from '../engine/types.js';

/** One command on its way through the host. Ticks have no caller (`resolve`/`reject` null). */
export interface Pending {
  env: CommandEnvelope;
  /** `preciseNow()` at submit for enqueues (assignment latency), NaN otherwise. */
  receivedAt: number;
  resolve: ((r: ApplyResult) => void) | null;
  reject: ((e: Error) => void) | null;
  /** Set when the worker answered. */
  result: ApplyResult | null;
  /**
   * Log seq of the batch holding it; 0 until durable (or when its append failed: it may or may not be
   * in the log); -1 once it is known never to reach the log (its partition failed before its append
   * started).
   */
  seq: number;
  /** The caller got an answer (result, error or deadline). */
  settled: boolean;
  timer: NodeJS.Timeout | null;
}

export interface Part {
  name: string;
  slot: number;
  state: PartitionState;
}

type Deferred<T> = { promise: Promise<T>; resolve: (v: T) => void; reject: (e: Error) => void };
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

export class PartitionState {
  status: 'loading' | 'ready' | 'failed' = 'loading';
  /** Bumped on every failure/reload: answers addressed to an older generation are ignored. */
  gen = 0;
  /** Seq of the last durable append. */
  lastSeq = 0;
  /** Seq of the last append issued (durable or in flight). */
  issuedSeq = 0;
  /**
   * The tenant's incarnation (`checkIncarnation` in event-history.ts): set by the load (from the snapshot,
   * or the log's first batch), or by the first append of an empty log; 0 = unknown (a snapshot from
   * before incarnations), null = not yet (nothing logged).
   */
  incarnation: number | null = null;
  /** Latest command time handed to the worker. */
  lastAt = 0;
  /** Submitted while the partition was loading; handed over once it is ready. */
  waiting: Pending[] = [];
  unreleased: Pending[] = [];
  toAppend: Pending[] = [];
  /** The apply item still in the slot mailbox, which later commands of this turn join. */
  openBatch: Pending[] | null = null;
  /** The latest append in flight (it settles after every earlier one). */
  appending: Promise<void> | null = null;
  appendsInFlight = 0;
  /** Ids of commands dropped unanswered by a failure: their events are published after the reload. */
  orphans: string[] = [];
  /**
   * Callers of quarantined commands (the command a thread died on, or that halted its engine), waiting
   * for the reload to seal it out of every later replay: only then is `SB_ERR_COMMAND_QUARANTINED` ("it
   * changed nothing") true for good. A reload that fails, or a partition that goes away, answers them
   * the retryable `SB_ERR_UNAVAILABLE` (or `SB_ERR_NOT_OWNER`) instead.
   */
  sealWaiters: Pending[] = [];
  loading: Promise<void> | null = null;
  sinceSnapshot = 0;
  lastSnapshotAt = 0;
  snapshotting = false;
  /** The latest snapshot attempt failed: the partition has changes no snapshot holds (see `unsavedSince`). */
  snapshotFailed = false;
  timer: NodeJS.Timeout | null = null;
  timerAt: number | null = null;
  private barrier: { pending: Pending; done: Deferred<number | null> } | null = null;
  private readyGate = deferred<void>();

  whenReady(): Promise<void> {
    return this.status === 'ready' ? Promise.resolve() : this.readyGate.promise;
  }

  notifyReady(): void {
    this.readyGate.resolve();
  }

  notifyFailed(e: Error): void {
    this.readyGate.reject(e);
    this.readyGate = deferred<void>();
  }

  resetReady(): void {
    this.readyGate = deferred<void>();
  }

  closeBatch(): void {
    this.openBatch = null;
  }

  clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = null;
  }

  /**
   * Marks the last command handed over as a snapshot barrier. Resolves with the log seq that covers
   * exactly the commands up to it (null if the partition fails first).
   */
  setBarrier(): Promise<number | null> {
    const last = this.unreleased.at(-1);
    if (!last) return Promise.resolve(this.lastSeq);
    if (last.seq !== 0) return Promise.resolve(last.seq);
    const done = deferred<number | null>();
    this.barrier = { pending: last, done };
    return done.promise;
  }

  resetBarrier(): void {
    this.barrier?.done.resolve(null);
    this.barrier = null;
  }

  /** Everything waiting to be appended, cut after the barrier so no batch straddles a snapshot point. */
  takeAppendBatch(): Pending[] {
    let n = this.toAppend.length;
    if (this.barrier) {
      const i = this.toAppend.indexOf(this.barrier.pending);
      if (i >= 0) n = i + 1;
    }
    return n === this.toAppend.length ? this.toAppend.splice(0) : this.toAppend.splice(0, n);
  }

  markDurable(batch: Pending[], seq: number): void {
    if (this.barrier && batch.at(-1) === this.barrier.pending) {
      this.barrier.done.resolve(seq);
      this.barrier = null;
    }
  }
}

/**
 * Messages across the thread hop between the node's main thread and a partition-host worker.
 *
 * One `HostRequest` carries everything the main thread collected for one worker during an event-loop turn
 * (command batches of several partitions, queries, loads, snapshots); the worker handles the items in
 * order and answers with one `HostResponse` whose `results[i]` answers `items[i]`. That ordering is the
 * actor guarantee: a query sent after a batch sees the batch applied.
 *
 * Everything is plain data: it crosses threads by structured clone.
 */
import type { EngineSnapshot, Query, QueryResult } from '../engine/api.js';
import type { ApplyResult, CommandEnvelope, EngineEvent, Reply } from '../engine/types.js';

/** What a host passes to `createEngine`/`restoreEngine` (see `EngineOptions`). */
export interface HostEngineOptions {
  /** Customers created by contact kept per partition (absent: the engine's default, 2 000 000). */
  customerLimit?: number;
  /** Seed of the engine's id-table hash: layout only, nothing observable depends on it. */
  hashSeed?: number;
}

export type HostItem =
  /**
   * Apply commands to a hosted partition. `receivedAt[i]` is when the node received command i
   * (`performance.timeOrigin + performance.now()`, ms; NaN when it is not an enqueue), so the worker can
   * time "enqueue received → assignment decided" at the moment of decision.
   */
  | { kind: 'apply'; partition: string; commands: CommandEnvelope[]; receivedAt: number[] }
  /** Answer a query; `ephemeral` = the partition has no state anywhere, answer from a pristine engine. */
  | { kind: 'query'; partition: string; query: Query; at: number; ephemeral?: boolean }
  /**
   * Apply one command to a pristine engine of a partition that has no state anywhere, answer its result
   * and forget the engine: whether the command would create the tenant (`PartitionHost.submit`), without
   * creating anything. Deterministic: the same command applied to the partition's first load answers the same.
   */
  | { kind: 'probe'; partition: string; command: CommandEnvelope; engine?: HostEngineOptions }
  /** (Re)build a partition from its snapshot and the log batches after it. */
  | {
      kind: 'load';
      partition: string;
      snapshot: EngineSnapshot | null;
      /** The snapshot as JSON text instead (as the store read it): parsed on the worker, off the main thread. */
      snapshotJson?: string | null;
      snapshotDigest: string | null;
      batches: CommandEnvelope[][];
      /**
       * Ids of commands that may be durable but whose answer and events were never released (their
       * worker died): the worker returns their events from the replay so they can still be published.
       */
      unreleased?: string[];
      /**
       * Logged commands known to crash the engine or its thread (`src/host/quarantine.ts`): replay
       * leaves them out, which is exactly "the command was rejected". Each is named by its batch (log
       * position), id and time, so another command with the same id (one that was acknowledged, of
       * which the poison was a retry) is still replayed. Any other command that halts the replay fails
       * the load (`replayHalted`): it may have been acknowledged, so it is never left out.
       */
      skip?: LoggedCommand[];
      /**
       * Embedded event history (`--event-history`): also return the events of the replayed batches,
       * the newest this many at most (`tail`), so the history of resumed watches is refilled from the
       * log after a restart. Absent or 0: none.
       */
      tailEvents?: number;
      /**
       * The node's engine options (`--customer-limit`, the process's hash seed); absent: the engine's
       * defaults. A snapshot saved under another customer limit is checked against its digest first,
       * then takes this one.
       */
      engine?: HostEngineOptions;
    }
  /**
   * Start capturing the partition's state as it is now; it is captured, then serialised, by
   * `snapshot_part` items. Until one answers `captured`, the partition's own work (apply, query) must
   * wait: the worker would finish the capture first, in one piece.
   */
  | { kind: 'snapshot'; partition: string }
  /**
   * Capture or serialise about `budgetMs` more of the snapshot. Batches of other items travel between
   * these, so a big snapshot never stops the worker's other partitions for longer than one slice, nor
   * its own partition for longer than the capture plus one slice.
   */
  | { kind: 'snapshot_part'; partition: string; budgetMs: number }
  | { kind: 'drop'; partition: string }
  /** Test hook (only honoured when the pool was started with `testHooks`): kill the worker thread. */
  | { kind: 'crash'; how: 'exit' | 'throw' }
  /**
   * Test hook: from now on, applying the command with this id hits an injected bug, every time, as a
   * deterministic bug would: `halt` (default) throws in the middle of the assignment step (the engine
   * halts); `exit` ends the worker thread mid-command, as running it out of memory would.
   */
  | { kind: 'inject_bug'; commandId: string; how?: InjectedBug };

/** One command of a partition's log, as the replay knows it: its id and the time it was stamped with. */
export interface LoggedCommand {
  id: string;
  at: number;
  /**
   * Index, in a load's `batches`, of the log batch holding it. In `skip`, the replay leaves out only
   * the last command with this id and time in that batch (without `batch`: the last one in the log), so
   * an acknowledged command with the same id and time elsewhere in the log is still replayed.
   */
  batch?: number;
}

/** A `LoggedCommand`'s key in sets. */
export function loggedKey(c: LoggedCommand): string {
  return `${c.at}:${c.id}`;
}

/**
 * What an injected bug does (test hook): halt the engine, or end the worker thread; `exit_once` ends
 * only the thread it was injected into (not given to its replacement): a death that does not recur,
 * as a heap exhausted by everything on the thread would not; `oom` allocates until the thread's heap
 * limit (`--worker-heap-mb`) ends it, as a real out-of-memory death does.
 */
export type InjectedBug = 'halt' | 'exit' | 'exit_once' | 'oom';

export type HostResult =
  | {
      kind: 'apply';
      results: ApplyResult[];
      /** The engine's next timer after the batch (ms epoch) or null. */
      nextTimerAt: number | null;
      /** Seconds from "enqueue received by the node" to "assignment decided", one per assigned enqueue. */
      assignmentLatencies: number[];
      /** Pure engine time for the batch, seconds. */
      applySeconds: number;
    }
  | { kind: 'query'; result: QueryResult }
  | { kind: 'probe'; result: ApplyResult }
  | {
      kind: 'load';
      digest: string;
      nextTimerAt: number | null;
      now: number;
      replayed: number;
      seconds: number;
      /**
       * The `unreleased` commands found in the replay that changed state: batch index, command, reply
       * (the host counts business metrics from it, as for a released command) and events.
       */
      recovered: {
        batch: number;
        env: CommandEnvelope;
        reply: Reply;
        events: EngineEvent[];
        /** The last logged copy of its id (an earlier copy was answered before the crash). */
        last: boolean;
      }[];
      /** The logged commands the replay left out (found in `skip`), in log order. */
      left: LoggedCommand[];
      /**
       * With `tailEvents`: the events the replayed batches published when they were applied live, each
       * command's as one entry, in log order, the newest `tailEvents` events at most (an entry may be cut
       * at its front): `batch` (index in `batches`), `index` of its first event in that batch (numbered as
       * the event bus numbers a batch's events: over its commands that changed state), `at`.
       */
      tail?: { batch: number; index: number; at: number; events: EngineEvent[] }[];
      /** Events of the replayed batches before `tail`'s first one were left out (`tailEvents`). */
      tailCut?: true;
    }
  /** The state is captured (`seconds` = how long the partition stood still for it). */
  | { kind: 'snapshot'; now: number; seconds: number }
  /**
   * The next piece of the snapshot's JSON text, serialised on the worker: a structured clone of the
   * state object would be rebuilt (and then stringified again) on the main thread, stalling every
   * partition's replies. UTF-8-encoded there too: the main thread holds the bytes outside its heap and
   * hands them to the store as they are (`StoredSnapshot.snapshotChunks`). `digest` comes with the last
   * piece.
   */
  | {
      kind: 'snapshot_part';
      bytes: Uint8Array;
      done: boolean;
      /** The state is captured: the partition's work may go to the worker again (see `snapshot`). */
      captured: boolean;
      digest: string | null;
      seconds: number;
    }
  | { kind: 'drop' }
  | { kind: 'crash' }
  /** The item failed (unknown partition, digest mismatch, engine bug): the main thread decides. */
  | {
      kind: 'error';
      code: string;
      message: string;
      missing?: boolean;
      /** An apply: the id of the command that halted the engine (in flight: never acknowledged). */
      halted?: string;
      /** A load: the id of the logged command the replay halted the engine on (maybe acknowledged). */
      replayHalted?: string;
    }
  | { kind: 'inject_bug' };

export interface HostRequest {
  items: HostItem[];
  /** The host's slot for this request: which region of the progress cells the thread writes. */
  slot?: number;
  /**
   * The host's number for this request (never 0): the worker records it, with the item and command it
   * is on, in the progress cells (`worker-progress.ts`), so a thread that dies mid-command names it.
   */
  call?: number;
}

export interface HostResponse {
  results: HostResult[];
}

/** `workerData` of a partition-host worker. */
export interface HostWorkerData {
  /** `port`: plain worker_threads driven by `parentPort`; `piscina`: a Piscina task function. */
  transport: 'port' | 'piscina';
  testHooks: boolean;
  /** Progress cells shared with the pool (`worker-progress.ts`); absent = not recorded. */
  progress?: SharedArrayBuffer;
}

/** Wall-clock milliseconds with sub-µs resolution that agree across threads of one process. */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

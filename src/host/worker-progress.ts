/**
 * What each partition-host worker thread is doing right now, in shared memory, so that the main thread
 * can tell, after a thread died, which command it died on.
 *
 * A thread can end in the middle of a command without answering: its isolate ran out of memory, native
 * code aborted, a bug called `process.exit`. The main thread then only learns "the thread exited", and
 * every command it had handed over is a suspect; retried (the gateway's retry, or the reload's replay of
 * the log, which may hold the command: appends run beside the apply), the one that killed it kills the
 * next thread too, and with it every partition that thread hosts. The worker therefore records its
 * position before each step in a `SharedArrayBuffer` the pool hands every thread; the pool reads the
 * dead thread's cells before it starts the replacement.
 *
 * One region of four `Int32` cells per slot (a Piscina thread may serve any slot, so the request names
 * its region):
 *
 * ```
 * slot s: [ CALL | ITEM | BATCH | COMMAND ]   CALL   = the host's number of the request being handled, 0 = idle
 *                                             ITEM   = index of the item in `HostRequest.items`
 *                                             BATCH  = index of the log batch in a `load` item (else -1)
 *                                             COMMAND= index of the command in the apply item / the batch,
 *                                                      -1 = no command in progress (set before and after each)
 * ```
 *
 * | the thread died …                        | cells read   | the host (`PartitionHost.onWorkerReplaced`)        |
 * |------------------------------------------|--------------|----------------------------------------------------|
 * | applying command 3 of item 1 of call 17  | 17, 1, -1, 3 | quarantines that command (in flight: never acked)  |
 * | replaying batch 5, command 0 of a load   | 17, 0, 5, 0  | logs it, counts a death against the partition      |
 * | restoring a snapshot, after an apply loop| 17, 0, -1, -1| counts a death against the partition, blames none  |
 * | capturing a snapshot (item 2)            | 17, 2, -1, -1| counts a death against the partition               |
 * | any, out of memory (`outOfMemory`)       | as above     | counts a death against the partition, blames none  |
 * | between requests (idle)                  | 0, …         | nothing to blame                                   |
 *
 * A logged command a replay died on is not left out: it may have been acknowledged long ago (a partition
 * grown past the thread's memory dies replaying whichever command comes next), and leaving it out would
 * lose it. The partition is held instead once its work has ended too many threads (`quarantine.ts`).
 *
 * Cost: one plain store per command (~5 ns here; an `Atomics.store`, a full fence, was ~15–30 ns) and two
 * `Atomics.store`s per request; nothing crosses the thread hop. Plain stores are enough: the cells are
 * read only after the thread has exited, and joining a thread orders everything it wrote before what
 * the joiner reads next; the engine call between two stores keeps the compiler from dropping either.
 */

/** Cells per slot. */
const FIELDS = 4;
const CALL = 0;
const ITEM = 1;
const BATCH = 2;
const COMMAND = 3;
/** BATCH / COMMAND while no command is in progress. */
const NONE = -1;

/** Where a dead thread stood: the request (`call`, as numbered by the host), item, batch and command. */
export interface LastPosition {
  call: number;
  item: number;
  /** -1: no log batch (not replaying). */
  batch: number;
  /** -1: no command in progress (restoring a snapshot, between or after commands, capturing one). */
  command: number;
  /**
   * The thread ran out of memory (`ERR_WORKER_OUT_OF_MEMORY`): the command it was on is no suspect (the
   * heap was filled by everything on the thread), so no command is blamed; the death still counts
   * against the partition.
   */
  outOfMemory?: boolean;
}

/** The shared cells for `slots` worker slots (all zero: idle). */
export function progressBuffer(slots: number): SharedArrayBuffer {
  return new SharedArrayBuffer(Math.max(1, slots) * FIELDS * Int32Array.BYTES_PER_ELEMENT);
}

/**
 * Reads where the thread of `slot` stood when it died, or null if it was idle, and clears the region for
 * the replacement thread. Call it once the thread has exited (the 'exit' event: its writes are visible).
 */
export function takeLastPosition(buffer: SharedArrayBuffer, slot: number): LastPosition | null {
  const cells = new Int32Array(buffer);
  const base = slot * FIELDS;
  if (base + FIELDS > cells.length) return null;
  const call = Atomics.load(cells, base + CALL);
  const at: LastPosition = {
    call,
    item: Atomics.load(cells, base + ITEM),
    batch: Atomics.load(cells, base + BATCH),
    command: Atomics.load(cells, base + COMMAND),
  };
  for (let i = 0; i < FIELDS; i++) Atomics.store(cells, base + i, 0);
  return call === 0 ? null : at;
}

/** The worker's side: records its position as it goes. A no-op without a buffer (the inline pool). */
export class ProgressWriter {
  private readonly cells: Int32Array | null;
  private base = -1;

  constructor(buffer: SharedArrayBuffer | null | undefined) {
    this.cells = buffer ? new Int32Array(buffer) : null;
  }

  /** A request starts; requests without a number (tests, benchmarks) are not recorded. */
  begin(slot: number | undefined, call: number | undefined): void {
    const c = this.cells;
    if (c === null || slot === undefined || call === undefined || (slot + 1) * FIELDS > c.length) {
      this.base = -1;
      return;
    }
    this.base = slot * FIELDS;
    Atomics.store(c, this.base + CALL, call);
  }

  item(index: number): void {
    if (this.base < 0) return;
    const c = this.cells as Int32Array;
    c[this.base + ITEM] = index;
    c[this.base + BATCH] = NONE;
    c[this.base + COMMAND] = NONE;
  }

  /** Before applying command `command` of an apply item. */
  command(command: number): void {
    if (this.base < 0) return;
    (this.cells as Int32Array)[this.base + COMMAND] = command;
  }

  /** Before replaying command `command` of log batch `batch` in a load item. */
  replaying(batch: number, command: number): void {
    if (this.base < 0) return;
    const c = this.cells as Int32Array;
    c[this.base + BATCH] = batch;
    c[this.base + COMMAND] = command;
  }

  /** Between commands (restoring a snapshot, after an apply loop): a death here blames no command. */
  outside(): void {
    if (this.base < 0) return;
    const c = this.cells as Int32Array;
    c[this.base + BATCH] = NONE;
    c[this.base + COMMAND] = NONE;
  }

  /** The request is answered: the thread is idle again. */
  end(): void {
    if (this.base < 0) return;
    Atomics.store(this.cells as Int32Array, this.base + CALL, 0);
    this.base = -1;
  }
}

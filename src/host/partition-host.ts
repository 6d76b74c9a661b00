/**
 * The actor host, main-thread side: routes every command of a partition to the one worker thread that
 * hosts it, micro-batches across the thread hop, group-commits to the command log, and releases replies
 * and events only once durable.
 *
 * Life of a command (one partition; `W` = its worker slot):
 *
 * ```
 * submit ─▶ slot mailbox (this turn) ─┬─ setImmediate ─▶ one HostRequest to W ─▶ results ─┐
 *                                     └─ setImmediate ─▶ log.append(batch) ─▶ seq ────────┴─▶ release in order
 * ```
 *
 * - Micro-batching: everything submitted for a slot during one event-loop turn travels in one message;
 *   while a call is in flight, new work gathers for the next one (≤ 1 call in flight per slot), so the
 *   hop (~70 µs) is paid per batch, not per conversation.
 * - Group commit: the append happens HERE, on the main thread, concurrently with the worker applying the
 *   same batch: the main thread already holds the commands (they came from the API), the log adapter is
 *   one object per node (a JetStream connection or file handles, not one per thread), fencing and
 *   ownership live beside it, and a worker that dies can never leave a half-written record. One append is
 *   in flight per partition; what arrives meanwhile becomes the next append (one fsync for many).
 * - A reply is released when its command is both applied (worker answered) and durable (append acked),
 *   in submission order. A failed/fenced append or a dead worker fails the partition: every unreleased
 *   command is rejected (retryable; the command id makes the retry idempotent), the partition is reloaded
 *   from snapshot + log, and only then serves again. Acknowledged work is always in the log.
 * - Poison: the log may hold a command that crashed its engine or its thread (appended beside the apply),
 *   so a reload must not just replay it, and a retry must not reach a thread again. Such a command (an
 *   engine halt names it; for a dead thread, the thread's progress cells do: `worker-progress.ts`) is
 *   quarantined (`quarantine.ts`): answered `SB_ERR_COMMAND_QUARANTINED` (not retryable), left out of
 *   the reload's replay, which is sealed with a snapshot before the partition serves again, and refused
 *   on retry. A partition whose work keeps ending threads is held (not loaded) for a while.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { NodePorts } from '../cluster/index.js';
import { DamagedStorageError, type StoredSnapshot } from '../cluster/ports.js';
import type { EngineSnapshot, Query, QueryResult } from '../engine/api.js';
import type {
  ApplyResult,
  Command,
  CommandEnvelope,
  EngineEvent,
  QueueStats,
  Reply,
} from '../engine/types.js';
import { SwitchboardError } from '../errors/catalogue.js';
import type { NodeMetrics } from '../metrics/index.js';
import { EventBus } from './event-bus.js';
import type { BackfillTo, EventPosition, SavedTenantHistory } from './event-history.js';
import { saveEventHistory, takeEventHistory } from './event-history-file.js';
import { LoopLag } from './loop-lag.js';
import { type Part, PartitionState, type Pending } from './partition-state.js';
import type { HostEngineOptions, HostItem, HostResult, InjectedBug, LoggedCommand } from './protocol.js';
import { loggedKey, preciseNow } from './protocol.js';
import { type PoisonEntry, type PoisonReason, Quarantine, type QuarantineOptions } from './quarantine.js';
import { RepeatedLines } from './repeated-lines.js';
import type { DeleteTenantResult, EventFilter, PublishedEvent } from './router.js';
import type { WorkerPool } from './worker-pool.js';
import type { LastPosition } from './worker-progress.js';

/** The longest delay a Node timer holds (2³¹ − 1 ms); a longer one fires after 1 ms. */
const MAX_TIMER_MS = 2_147_483_647;

export interface PartitionHostOptions {
  ports: Pick<
    NodePorts,
    'log' | 'snapshots' | 'ownership' | 'clock' | 'knownPartitions' | 'mode' | 'eventStore'
  >;
  pool: WorkerPool;
  /** Commands accepted and not yet answered, node-wide; beyond it `SB_ERR_OVERLOADED`. */
  maxInflight?: number;
  /**
   * Recent events kept on the node for resumed `WatchEvents` (`--event-history`), all tenants together,
   * oldest evicted first; 0 (the default here) = none.
   */
  eventHistory?: number;
  /**
   * Embedded: where a graceful stop saves the event history (its final snapshots trim the logs it could
   * be re-derived from) and the next start reads it back, once (`<data dir>/event-history.jsonl`).
   * Absent: not saved; a start refills the history only from the log tails its loads replay.
   */
  eventHistoryFile?: string;
  /**
   * The same for one tenant (default a quarter of `maxInflight`): a tenant flooding the node is refused
   * at its own limit while the others still get in, instead of taking every slot of the node.
   */
  maxInflightPerTenant?: number;
  /** New commands get `SB_ERR_OVERLOADED` while the event loop runs this many ms late (0 = never). */
  maxLoopLagMs?: number;
  /**
   * Customers created by contact each partition's engine keeps (`--customer-limit`; default the
   * engine's, 2 000 000), least recently contacted forgotten first. ~100 B of heap and ~50 B of snapshot
   * each. Part of the engine state: every node of a cluster should run the same value.
   */
  customerLimit?: number;
  /**
   * Seed of the engines' id-table hash (default: random per process, so nobody can craft colliding
   * ids). Layout only: decisions, snapshots and digests do not depend on it.
   */
  hashSeed?: number;
  /** Snapshot a partition after this many logged commands … */
  snapshotEveryCommands?: number;
  /** … or this many seconds after its last snapshot, if anything changed. */
  snapshotEverySeconds?: number;
  /**
   * Calls in flight per worker (default 1). 1 = maximal batching: whatever arrives during a round trip
   * goes in the next call. 2 = pipelined: a new batch leaves while the worker still applies the previous
   * one (the port delivers in order, so the actor order holds), trading batch size for less waiting.
   */
  callsPerSlot?: number;
  /**
   * Log appends in flight per partition (default 1). With 1, whatever arrives during an append waits
   * for it and goes in the next one (fewest writes). More lets a batch start its write while earlier
   * ones are still on their way to disk, so a request waits for its own write, not for its predecessor's
   * too; replies are still released strictly in log order. Needs a log that accepts pipelined appends
   * (the embedded file log does; cluster mode uses 1).
   */
  appendsPerPartition?: number;
  /**
   * When gathered work leaves: `immediate` (default) = after the event loop's poll phase, so every request
   * read in that phase (and every promise chain it resumes) joins the batch; `microtask` = at the end of
   * the current task, so a lone request on an idle worker leaves a little sooner but bursts split into
   * smaller batches. Either way, while a call (or an append) is in flight new work waits and leaves together.
   */
  flushOn?: 'microtask' | 'immediate';
  /** Poison containment (`quarantine.ts`): how long a crashing command is refused, when a partition is held. */
  quarantine?: QuarantineOptions;
  metrics?: NodeMetrics;
  logger?: Logger;
  /**
   * Where lines that come in floods go (a full disk fails every append: see `repeated-lines.ts`); the
   * node shares its own with the log's write errors. Default: one of the host's, on `logger`.
   */
  repeatedLines?: RepeatedLines;
  /** Told when a tenant was deleted here (cluster: the router ends its watchers on every node). */
  onTenantDeleted?: (tenant: string) => void;
  /** Test hook: called between the steps of a deletion; throwing there stops it like a crash would. */
  deleteFaults?: DeleteFaults;
}

/** Test hook of `deleteTenant`: where a deletion can be stopped half-way. */
export interface DeleteFaults {
  afterTombstone?(tenant: string): void;
  afterSnapshotRemoved?(tenant: string): void;
}

type Handler = (r: HostResult) => void;

interface Slot {
  index: number;
  items: HostItem[];
  handlers: Handler[];
  /** Calls sent and not yet answered (≤ `callsPerSlot`). */
  calls: number;
  partitions: number;
  /** Bumped when the slot's thread is replaced: a load answered across a replacement is void. */
  epoch: number;
  /** Number of the last call sent (`HostRequest.call`, 1 … 2³¹ − 1, then 1 again). */
  callNo: number;
  /** The items of each call in flight, by number: where a dead thread stood names one of them. */
  sent: Map<number, HostItem[]>;
  /**
   * Partitions whose snapshot capture was sent and is not finished: their applies and queries wait in
   * `items` (the other partitions' work goes on between the capture's slices; see `capture`).
   */
  capturing: Set<string>;
}

/** A partition's time this far ahead of the node's clock is logged (once) as a clock problem. */
const WARN_TIME_AHEAD_MS = 1000;

/** Work per snapshot slice on the worker: the longest a snapshot holds up a batch after its capture. */
const SNAPSHOT_SLICE_MS = 3;

const unavailable = (message: string) => new SwitchboardError('SB_ERR_UNAVAILABLE', message);

/** How long a lease of a tenant found absent is kept before it is given up (`releaseIfAbsent`). */
const ABSENT_LEASE_GRACE_MS = 1000;

/** How long a partition refused for a broken log chain answers from memory before its load is tried again. */
const REFUSAL_RECHECK_MS = 5000;

/**
 * A partition this node refuses to serve: its log was trimmed past the snapshot the node could load
 * (`load`). `resumesAfter`: the seq the first batch it read names as its predecessor (or, when nothing
 * follows the snapshot, the log's last seq); `firstSeq`: that batch's seq (null: none). Or its stored
 * state is damaged (`damage`: what and where, from a `DamagedStorageError`; the seqs are then 0/null).
 */
interface Refusal {
  snapshotSeq: number;
  resumesAfter: number;
  firstSeq: number | null;
  damage?: string;
  /** When the load last found it (a load within `REFUSAL_RECHECK_MS` of it answers from memory). */
  checkedAt: number;
}

/** Hosts partitions on a worker pool; the `LocalPartitionRouter` exposes it to the API. */
export class PartitionHost {
  private readonly ports: PartitionHostOptions['ports'];
  private readonly pool: WorkerPool;
  private readonly slots: Slot[] = [];
  private readonly parts = new Map<string, Part>();
  /** Partitions with durable state (embedded: a log file exists); others answer queries from a blank engine. */
  private readonly known = new Set<string>();
  private readonly bus: EventBus;
  /** What the last graceful stop saved of the event history, by tenant, until each tenant's first load. */
  private savedHistory = new Map<string, SavedTenantHistory>();
  private readonly historyFile: string | null;
  private readonly maxInflight: number;
  private readonly maxInflightPerTenant: number;
  /** Orphans (see `fail`) of partitions whose reload failed, for their next load. */
  private readonly strandedOrphans = new Map<string, string[]>();
  private readonly maxLoopLagMs: number;
  private readonly loopLag: LoopLag | null;
  private readonly snapshotEvery: number;
  /** Passed with every load to the worker's `createEngine`/`restoreEngine`. */
  private readonly engineOptions: HostEngineOptions;
  private readonly snapshotEveryMs: number;
  private readonly callsPerSlot: number;
  private readonly appendDepth: number;
  private readonly flushOn: 'microtask' | 'immediate';
  private readonly metrics: NodeMetrics | undefined;
  private readonly logger: Logger | undefined;
  private readonly repeated: RepeatedLines;
  /**
   * Partitions reloading after `fail` (tenant → reason): their `partition recovered` line goes through
   * `repeated`, keyed by that reason, so a full disk's every failed call does not log one.
   */
  private readonly reloadingAfter = new Map<string, string>();
  private readonly boot = randomUUID().slice(0, 8);
  private inflight = 0;
  private tickSeq = 0;
  /** Loads that published re-derived events (their number tags those events). */
  private loads = 0;
  private flushScheduled = false;
  private readonly dirtySlots = new Set<Slot>();
  private readonly dirtyAppends = new Set<Part>();
  private isReady = false;
  private closing = false;
  /** Set by `fence`: why this node must not serve (its data directory's lock was taken over). */
  private fenced: string | null = null;
  private snapshotTimer: NodeJS.Timeout | null = null;
  private readonly unwatchOwnership: () => void;
  /** Commands that crashed the engine or its thread, and partitions held for it (poison containment). */
  private readonly quarantine: Quarantine;
  /** Partitions refused: log trimmed past the snapshot this node can load, or stored state damaged (`load`). */
  private readonly refused = new Map<string, Refusal>();
  /** Partitions whose time was logged as running ahead of this node's clock (`timeAhead`), until it is not. */
  private readonly aheadLogged = new Set<string>();
  /** Test hook: bugs injected so far, given again to a thread that replaces theirs. */
  private readonly injectedBugs: { slot: number; item: HostItem }[] = [];
  /** Probes and blank queries so far: they take the slots in turn. */
  private probes = 0;
  /** Tenants being deleted (`deleteTenant`): their calls wait for it, then find no tenant. */
  private readonly deletions = new Map<string, Promise<unknown>>();
  private readonly onDeleted: ((tenant: string) => void) | undefined;
  /** Leases of absent tenants about to be given up (`releaseIfAbsent`). */
  private readonly giveUps = new Map<string, NodeJS.Timeout>();
  private readonly faults: DeleteFaults | undefined;

  constructor(opts: PartitionHostOptions) {
    this.bus = new EventBus(opts.eventHistory ?? 0);
    this.historyFile = opts.eventHistoryFile ?? null;
    this.ports = opts.ports;
    this.pool = opts.pool;
    this.maxInflight = opts.maxInflight ?? 20_000;
    this.maxInflightPerTenant = Math.min(
      this.maxInflight,
      opts.maxInflightPerTenant ?? Math.max(1, Math.floor(this.maxInflight / 4)),
    );
    this.maxLoopLagMs = opts.maxLoopLagMs ?? 500;
    this.loopLag = this.maxLoopLagMs > 0 ? new LoopLag() : null;
    this.snapshotEvery = opts.snapshotEveryCommands ?? 100_000;
    this.engineOptions = {
      ...(opts.customerLimit !== undefined ? { customerLimit: opts.customerLimit } : {}),
      hashSeed: opts.hashSeed ?? randomInt(-(2 ** 31), 2 ** 31),
    };
    this.snapshotEveryMs = (opts.snapshotEverySeconds ?? 60) * 1000;
    this.callsPerSlot = Math.max(1, opts.callsPerSlot ?? 1);
    this.appendDepth = Math.max(1, opts.appendsPerPartition ?? 1);
    this.flushOn = opts.flushOn ?? 'immediate';
    this.metrics = opts.metrics;
    this.logger = opts.logger;
    this.repeated = opts.repeatedLines ?? new RepeatedLines(opts.logger);
    this.onDeleted = opts.onTenantDeleted;
    this.faults = opts.deleteFaults;
    for (let i = 0; i < this.pool.size; i++) {
      this.slots.push({
        index: i,
        items: [],
        handlers: [],
        calls: 0,
        partitions: 0,
        epoch: 0,
        callNo: 0,
        sent: new Map(),
        capturing: new Set(),
      });
    }
    this.quarantine = new Quarantine(opts.quarantine);
    this.pool.onReplaced((slot, at) => this.onWorkerReplaced(slot, at));
    // A lost lease means another node may already be writing: stop serving the partition at once.
    this.unwatchOwnership = this.ports.ownership.onChange((c) => {
      if (!c.owned) this.unload(c.partition);
    });
  }

  /** Recovers every partition with durable state, then starts serving. */
  async start(): Promise<void> {
    // Deletions a crash interrupted (a tombstone left) are finished before anything is loaded.
    for (const t of (await this.ports.log.tombstones?.()) ?? []) {
      await this.finishDeletion(t);
      this.logger?.warn({ tenant: t }, 'tenant deletion interrupted by a stop: finished now');
    }
    const names = await this.ports.knownPartitions();
    for (const n of names) this.known.add(n);
    const historyFile = this.historyFile;
    // Kept by a run with a history; this one keeps none: removed, so no later start reads it stale.
    if (historyFile && this.bus.history.limit <= 0) await unlink(historyFile).catch(() => undefined);
    if (historyFile && this.bus.history.limit > 0) {
      const t0 = performance.now();
      const { tenants, damaged } = await takeEventHistory(historyFile);
      this.savedHistory = tenants;
      if (damaged !== null)
        this.logger?.warn(
          { file: historyFile, damaged },
          'saved event history partly unreadable: ignored from there',
        );
      if (tenants.size > 0)
        this.logger?.info(
          { file: historyFile, tenants: tenants.size, ms: Math.round(performance.now() - t0) },
          'saved event history read',
        );
    }
    // Bounded parallelism: each load reads a snapshot and a log tail.
    const queue = [...names];
    const loaders = Array.from({ length: Math.min(8, queue.length) }, async () => {
      for (let n = queue.shift(); n !== undefined; n = queue.shift()) await this.ensureLoaded(n);
    });
    await Promise.all(loaders);
    // Tenants saved but not loaded (none with every known partition loaded above): nothing to refill.
    this.savedHistory.clear();
    this.snapshotTimer = setInterval(
      () => this.snapshotIdle(),
      Math.min(MAX_TIMER_MS, Math.max(1000, this.snapshotEveryMs / 4)),
    );
    this.snapshotTimer.unref();
    this.isReady = true;
  }

  ready(): boolean {
    return this.isReady && !this.closing && this.fenced === null;
  }

  /** Why calls are refused now (fenced, or stopping), or null. */
  private refusal(): SwitchboardError | null {
    if (this.fenced !== null) return unavailable(this.fenced);
    if (this.closing) return unavailable('the node is shutting down');
    return null;
  }

  /**
   * Stops serving at once, for good: another node holds the data directory now (embedded: its lock was
   * taken over). Every unanswered command and every later call is refused with `SB_ERR_UNAVAILABLE`
   * (`reason`), no snapshot or reload is started, and the node is not ready. (The log and snapshot
   * store refuse writes by themselves already; this keeps the host from trying.)
   */
  fence(reason: string): void {
    if (this.fenced !== null) return;
    this.fenced = reason;
    if (this.snapshotTimer) clearInterval(this.snapshotTimer);
    const err = unavailable(reason);
    for (const part of this.parts.values()) {
      if (part.state.status === 'ready') this.abandon(part, err, false);
      for (const p of part.state.waiting.splice(0)) this.settleError(p, err);
      for (const p of part.state.sealWaiters.splice(0)) this.settleError(p, err);
      part.state.notifyFailed(err);
    }
  }

  get inflightCount(): number {
    return this.inflight;
  }

  /**
   * Seconds since the last snapshot of the partition that has waited longest for one among those with
   * changes no snapshot holds (0 = none): a failing snapshot store shows here long before a takeover
   * has to replay an ever longer log.
   */
  get oldestUnsavedSnapshotSeconds(): number {
    const now = Date.now();
    let oldest = 0;
    for (const p of this.parts.values()) {
      const st = p.state;
      if (st.status !== 'ready' || !(st.sinceSnapshot > 0 || st.snapshotFailed)) continue;
      oldest = Math.max(oldest, (now - st.lastSnapshotAt) / 1000);
    }
    return oldest;
  }

  /**
   * Seconds by which the time of the partition furthest ahead runs ahead of this node's clock (0 = none).
   * A partition's time never moves back, so it runs ahead when the node that wrote its last command had a
   * clock ahead of this one (the previous owner, after a takeover) or this clock stepped back; its timers
   * are armed on this clock (`at − now`), so they fire that much late until this clock catches up.
   */
  get partitionTimeAheadSeconds(): number {
    const now = this.ports.clock.now();
    let ahead = 0;
    for (const p of this.parts.values()) {
      if (p.state.status === 'ready') ahead = Math.max(ahead, this.timeAhead(p, now));
    }
    return ahead / 1000;
  }

  /** How far `part`'s time runs ahead of this node's clock, ms (≥ 0); logged once while over a second. */
  private timeAhead(part: Part, now: number, loaded = false): number {
    const ahead = part.state.lastAt - now;
    if (loaded) this.aheadLogged.delete(part.name);
    if (ahead <= WARN_TIME_AHEAD_MS) {
      this.aheadLogged.delete(part.name);
      return Math.max(0, ahead);
    }
    if (!this.aheadLogged.has(part.name)) {
      this.aheadLogged.add(part.name);
      this.logger?.warn(
        { tenant: part.name, aheadMs: Math.round(ahead) },
        "partition time runs ahead of this node's clock: its timers fire up to aheadMs late until the clock catches up (a clock behind the previous owner's, or stepped back: check NTP)",
      );
    }
    return ahead;
  }

  /** Partitions held now after ending too many worker threads (`quarantine.ts`): an operator's job. */
  get partitionsHeld(): number {
    return this.quarantine.heldCount();
  }

  /**
   * Partitions refused now because their command log was trimmed past the snapshot this node can load
   * (its snapshot store lacks the partition's snapshot), or because their stored command log or snapshot
   * is damaged (`DamagedStorageError`): an operator's job too (`load`).
   */
  get partitionsRefused(): number {
    return this.refused.size;
  }

  get partitionsOwned(): number {
    let n = 0;
    for (const p of this.parts.values()) if (p.state.status === 'ready') n++;
    return n;
  }

  // ---- commands ----------------------------------------------------------------------------------

  submit(tenant: string, env: CommandEnvelope, deadlineMs?: number): Promise<ApplyResult> {
    const no = this.refusal();
    if (no) return Promise.reject(no);
    const deleting = this.deletions.get(tenant);
    if (deleting) {
      const started = Date.now();
      return withDeadline(
        deleting.catch(() => undefined),
        deadlineMs,
      ).then(() =>
        this.submit(tenant, env, deadlineMs === undefined ? undefined : deadlineMs - (Date.now() - started)),
      );
    }
    // A tenant with no state yet comes into existence only through a command that would change it.
    if (!this.parts.has(tenant) && !this.known.has(tenant)) return this.submitAbsent(tenant, env, deadlineMs);
    return this.submitNow(tenant, env, deadlineMs);
  }

  /**
   * A command for a tenant this node neither hosts nor knows: if the tenant has no state anywhere, the
   * command is first tried on a throwaway blank engine (`probe`). One that would not change it (refused:
   * an unknown agent, a bad state; or a no-op: a tick, removing a customer nobody has) is answered from
   * there and leaves nothing behind: no log, no snapshot, no partition, no series, no lease. Only a
   * command that would change it goes on to create the partition, and the same command applied to the
   * new, blank partition answers the same (the engine is deterministic). Concurrent first calls are
   * ordered as if the refused ones came first: they saw the tenant as it was when they arrived.
   */
  private async submitAbsent(
    tenant: string,
    env: CommandEnvelope,
    deadlineMs?: number,
  ): Promise<ApplyResult> {
    // Shed like any command (node-wide limit, loop lag): a flood of stray calls must not reach the
    // workers unbounded. The probe counts as in flight while it runs.
    if (this.inflight >= this.maxInflight) {
      throw new SwitchboardError(
        'SB_ERR_OVERLOADED',
        `node has ${this.inflight} commands in flight; retry with backoff`,
      );
    }
    if (this.loopLag && this.loopLag.lagMs > this.maxLoopLagMs) {
      throw new SwitchboardError(
        'SB_ERR_OVERLOADED',
        `node is ${Math.round(this.loopLag.lagMs)} ms behind; retry with backoff`,
      );
    }
    const started = Date.now();
    this.inflight++;
    let blank: ApplyResult | null;
    try {
      blank = await withDeadline(this.submitIfAbsent(tenant, env), deadlineMs);
    } finally {
      this.inflight--;
    }
    if (blank !== null) {
      // Cluster: this node may hold the lease (claimed by a router or a rebalance before anyone knew):
      // a tenant that does not exist keeps no owner key either.
      this.releaseIfAbsent(tenant);
      return blank;
    }
    return this.submitNow(
      tenant,
      env,
      deadlineMs === undefined ? undefined : deadlineMs - (Date.now() - started),
    );
  }

  /**
   * The answer of a tenant that does not exist to this command, when the command would not create it;
   * null when the tenant exists (or is hosted here) or the command would create it: then it must go
   * through `submit` on the tenant's owner. The cluster router asks before it claims a tenant's lease.
   */
  async submitIfAbsent(tenant: string, env: CommandEnvelope): Promise<ApplyResult | null> {
    const no = this.refusal();
    if (no) throw no;
    await this.deletions.get(tenant)?.catch(() => undefined);
    if (await this.exists(tenant)) return null;
    const slot = this.slots[this.probes++ % this.slots.length] as Slot;
    const r = await this.call(slot, {
      kind: 'probe',
      partition: tenant,
      command: env,
      engine: this.engineOptions,
    });
    if (r.kind !== 'probe') throw unavailable(r.kind === 'error' ? r.message : `unexpected ${r.kind} answer`);
    if (createsTenant(env, r.result)) return null;
    // Answered after the check: a tenant created meanwhile is served where it lives (the caller retries
    // nothing; the probe's answer stands for a call that came before the creating one).
    return r.result;
  }

  /**
   * The answer of a tenant that does not exist to this query (a blank engine's), or null when the tenant
   * exists or is hosted here. The cluster router asks before it claims a tenant's lease.
   */
  async queryIfAbsent(tenant: string, q: Query): Promise<QueryResult | null> {
    const no = this.refusal();
    if (no) throw no;
    await this.deletions.get(tenant)?.catch(() => undefined);
    if (await this.exists(tenant)) return null;
    return this.ask(this.slots[this.probes++ % this.slots.length] as Slot, {
      kind: 'query',
      partition: tenant,
      query: q,
      at: this.ports.clock.now(),
      ephemeral: true,
    });
  }

  /**
   * Whether the tenant has state: hosted here, known to have a log here (embedded: every log file is
   * known from the start), or (cluster) a log or snapshot in the shared stores, not being deleted.
   */
  private async exists(tenant: string): Promise<boolean> {
    if (this.parts.has(tenant) || this.known.has(tenant)) return true;
    if (this.ports.mode === 'embedded') return false;
    const { log, snapshots } = this.ports;
    try {
      if (await log.tombstoned?.(tenant)) return false;
      // The log first: a tenant that exists has batches (or its fence) on its subject, so the snapshot
      // store is asked only for one that has none. Asking MongoDB on every call while a tenant has no
      // owner (every call of a takeover's first second) stalled the new owner's snapshot load behind
      // them on FerretDB: bench:failover never came back with MongoDB snapshots.
      if ((await log.lastSeq(tenant)) > 0 || this.parts.has(tenant)) return true;
      return (await snapshots.storedSeq(tenant)) > 0 || this.parts.has(tenant);
    } catch (e) {
      // The shared stores did not answer (NATS cut off, a leader moving): retryable, like a failed claim.
      throw unavailable(`whether tenant ${tenant} exists could not be read: ${(e as Error).message}; retry`);
    }
  }

  /**
   * Cluster: gives up the lease of a tenant that does not exist, if this node holds it and hosts nothing
   * of it (claimed by a rebalance, e.g. the key of a tenant whose owner died mid-deletion). Not at once:
   * a call that creates the tenant may have claimed the lease a moment ago (and its gain's warm-up tick
   * found no tenant yet); once the tenant is hosted here, or a call for it is still on its way, it stays.
   */
  private releaseIfAbsent(tenant: string): void {
    const own = this.ports.ownership;
    if (this.ports.mode !== 'cluster' || !own.relinquish || this.giveUps.has(tenant)) return;
    if (this.parts.has(tenant) || !own.owns(tenant)) return;
    const timer = setTimeout(() => {
      this.giveUps.delete(tenant);
      if (this.closing || this.parts.has(tenant) || this.deletions.has(tenant) || !own.owns(tenant)) return;
      void own
        .relinquish?.(tenant)
        .catch((e) => this.logger?.warn({ err: e, tenant }, 'lease of an absent tenant not released'));
    }, ABSENT_LEASE_GRACE_MS);
    timer.unref();
    this.giveUps.set(tenant, timer);
  }

  private submitNow(tenant: string, env: CommandEnvelope, deadlineMs?: number): Promise<ApplyResult> {
    const no = this.refusal();
    if (no) return Promise.reject(no);
    if (this.inflight >= this.maxInflight) {
      return Promise.reject(
        new SwitchboardError(
          'SB_ERR_OVERLOADED',
          `node has ${this.inflight} commands in flight; retry with backoff`,
        ),
      );
    }
    const st = this.parts.get(tenant)?.state;
    if (st && st.waiting.length + st.unreleased.length >= this.maxInflightPerTenant) {
      this.metrics?.tenantOverloaded.inc({ tenant });
      return Promise.reject(
        new SwitchboardError(
          'SB_ERR_OVERLOADED',
          `tenant ${tenant} has ${st.waiting.length + st.unreleased.length} commands in flight (at most ${this.maxInflightPerTenant} per tenant); retry with backoff`,
        ),
      );
    }
    if (this.loopLag && this.loopLag.lagMs > this.maxLoopLagMs) {
      return Promise.reject(
        new SwitchboardError(
          'SB_ERR_OVERLOADED',
          `node is ${Math.round(this.loopLag.lagMs)} ms behind; retry with backoff`,
        ),
      );
    }
    return new Promise<ApplyResult>((resolve, reject) => {
      const pending: Pending = {
        env,
        receivedAt: env.cmd.type === 'enqueue' ? preciseNow() : Number.NaN,
        resolve,
        reject,
        result: null,
        seq: 0,
        settled: false,
        timer: null,
      };
      this.inflight++;
      // A deadline beyond what a Node timer holds (~24.8 days) is no deadline: such a timer fires at once.
      if (deadlineMs !== undefined && deadlineMs <= MAX_TIMER_MS) {
        pending.timer = setTimeout(() => this.expire(tenant, pending), Math.max(0, deadlineMs));
      }
      this.accept(this.partFor(tenant), pending);
    });
  }

  query(tenant: string, q: Query, deadlineMs?: number): Promise<QueryResult> {
    const no = this.refusal();
    if (no) return Promise.reject(no);
    const run = async (): Promise<QueryResult> => {
      await this.deletions.get(tenant)?.catch(() => undefined);
      if (!this.parts.has(tenant) && !this.known.has(tenant)) {
        // Nothing was ever written for this tenant: answer from a blank engine without creating one.
        const blank = await this.queryIfAbsent(tenant, q);
        if (blank !== null) {
          this.releaseIfAbsent(tenant);
          return blank;
        }
      }
      const at = this.ports.clock.now();
      const part = this.partFor(tenant);
      await part.state.whenReady();
      const gen = part.state.gen;
      return this.ask(
        this.slots[part.slot] as Slot,
        { kind: 'query', partition: tenant, query: q, at },
        () => {
          // The thread lost the partition without us hearing of it (replaced while idle): reload it.
          if (part.state.gen === gen)
            this.fail(part, 'worker no longer hosts the partition', 'SB_ERR_UNAVAILABLE');
        },
      );
    };
    if (deadlineMs === undefined) return run();
    return withDeadline(run(), deadlineMs);
  }

  subscribe(filter: EventFilter, onEvent: (e: PublishedEvent) => void, onEnd?: () => void): () => void {
    return this.bus.subscribe(filter, onEvent, onEnd);
  }

  /** A resumed watch's backfill from the node's event history (`--event-history`). */
  backfill(filter: EventFilter, after: EventPosition, to: BackfillTo): Promise<void> {
    return this.bus.backfill(filter, after, to);
  }

  /** Events kept for resumed watches, and how many were evicted to stay within `--event-history`. */
  eventHistoryStats(): { events: number; evicted: number; limit: number } {
    const h = this.bus.history;
    return { events: h.size, evicted: h.evicted, limit: h.limit };
  }

  // ---- deleting a tenant -------------------------------------------------------------------------

  /**
   * DeleteTenant, on the tenant's owner. Calls for the tenant wait meanwhile, then find no tenant. Steps:
   *
   * 1. Load it (a tenant with no state anywhere: `existed: false`, nothing done) and let the commands in
   *    flight become durable and answered.
   * 2. Unless `force`: refuse (`SB_ERR_TENANT_HAS_OPEN_CONVERSATIONS`) while conversations are open.
   * 3. Stop serving it: its pipeline, timer, worker state (`drop`), slot count; a snapshot or append
   *    still being written is waited for (it would land after the removal).
   * 4. The tombstone, durable (`CommandLog.tombstone`): from here on nothing loads the tenant as
   *    anything, whatever happens; a crash after it leaves a deletion that start-up (embedded), the next
   *    load or the next DeleteTenant finishes (`finishDeletion`). Its series go, its event
   *    subscriptions end.
   * 5. Remove the snapshot, then (cluster) the stored events, then the log (and fences), the tombstone
   *    last; cluster: give the lease up.
   */
  deleteTenant(tenant: string, force: boolean, deadlineMs?: number): Promise<DeleteTenantResult> {
    const no = this.refusal();
    if (no) return Promise.reject(no);
    const before = this.deletions.get(tenant)?.catch(() => undefined) ?? Promise.resolve();
    const run = before.then(() => this.deleteNow(tenant, force));
    this.deletions.set(tenant, run);
    const clear = () => {
      if (this.deletions.get(tenant) === run) this.deletions.delete(tenant);
    };
    run.then(clear, clear);
    // The deadline only stops the wait: a deletion under way finishes (a retry then finds no tenant).
    return withDeadline(run, deadlineMs);
  }

  /** `existed: false` when the tenant has no state and no deletion to finish (nothing to do); else null. */
  async deleteIfAbsent(tenant: string): Promise<DeleteTenantResult | null> {
    const no = this.refusal();
    if (no) throw no;
    await this.deletions.get(tenant)?.catch(() => undefined);
    if (await this.exists(tenant)) return null;
    const tombstoned = await Promise.resolve(this.ports.log.tombstoned?.(tenant)).catch((e: Error) => {
      throw unavailable(`whether tenant ${tenant} is being deleted could not be read: ${e.message}; retry`);
    });
    if (tombstoned) return null;
    return { existed: false, openConversations: 0 };
  }

  private async deleteNow(tenant: string, force: boolean): Promise<DeleteTenantResult> {
    const { log, snapshots } = this.ports;
    if (!log.tombstone || !log.remove || !snapshots.remove) {
      throw new SwitchboardError('SB_ERR_NOT_IMPLEMENTED', "this node's stores cannot delete a tenant");
    }
    if (!(await this.exists(tenant))) {
      // Nothing to delete, or a deletion that stopped half-way (a crash): finish it, and give the lease
      // up if this node claimed it for that.
      await this.finishDeletion(tenant);
      await this.relinquish(tenant);
      return { existed: false, openConversations: 0 };
    }
    const part = this.parts.get(tenant) ?? this.partFor(tenant);
    await part.state.whenReady();
    const st = part.state;
    // Commands accepted before the deletion began are answered first (new ones wait for it).
    const until = Date.now() + 10_000;
    while (st.unreleased.length > 0 || st.appendsInFlight > 0 || st.waiting.length > 0) {
      if (Date.now() > until || st.status !== 'ready')
        throw unavailable(`tenant ${tenant} is busy or recovering; retry the deletion`);
      await new Promise((r) => setTimeout(r, 2));
    }
    const slot = this.slots[part.slot] as Slot;
    const open = await this.ask(slot, {
      kind: 'query',
      partition: tenant,
      query: { type: 'open_conversations' },
      at: this.ports.clock.now(),
    });
    if (open.type !== 'open_conversations') throw unavailable(`unexpected ${open.type} answer`);
    const count = open.waiting + open.offered + open.assigned;
    if (count > 0 && !force) {
      throw new SwitchboardError(
        'SB_ERR_TENANT_HAS_OPEN_CONVERSATIONS',
        `tenant ${tenant} has ${count} open conversation(s) (${open.waiting} waiting, ${open.offered} offered, ${open.assigned} assigned): end them, or delete it with force`,
        'force',
      );
    }
    if (this.parts.get(tenant) !== part || st.status !== 'ready')
      throw unavailable(`tenant ${tenant} moved or is recovering; retry the deletion`);
    // Stop serving it. Nothing is unanswered (drained above; new calls wait for the deletion).
    const gone = unavailable(`tenant ${tenant} was deleted; retry`);
    this.abandon(part, gone, false);
    st.notifyFailed(gone);
    this.parts.delete(tenant);
    slot.partitions--;
    this.enqueueItem(slot, { kind: 'drop', partition: tenant }, () => {});
    while (st.snapshotting || st.appending) {
      if (st.appending) await st.appending.catch(() => undefined);
      else await new Promise((r) => setTimeout(r, 5));
    }
    await log.tombstone(tenant);
    // Deleted from here on, whatever happens to the steps below (a failure leaves the tombstone, and
    // the next load, start or DeleteTenant of it finishes them).
    this.forgetTenantState(tenant);
    this.bus.end(tenant);
    this.onDeleted?.(tenant);
    this.faults?.afterTombstone?.(tenant);
    await this.finishDeletion(tenant);
    this.logger?.warn({ tenant, openConversations: count, force }, 'tenant deleted');
    await this.relinquish(tenant);
    return { existed: true, openConversations: count };
  }

  /** Cluster: gives up the lease of a deleted tenant now (its key purged: nobody claims it back). */
  private async relinquish(tenant: string): Promise<void> {
    const own = this.ports.ownership;
    if (this.ports.mode !== 'cluster' || !own.relinquish || this.parts.has(tenant)) return;
    await own
      .relinquish(tenant)
      .catch((e) => this.logger?.warn({ err: e, tenant }, 'lease of a deleted tenant not released'));
  }

  /**
   * The steps after the tombstone, each idempotent: the snapshot first (a log whose snapshot is gone
   * still loads from its start, never the reverse), then the stored events (cluster: `SB_EVENTS`), then
   * the log and fences, whose tombstone goes last: every step before it is redone by whoever finishes an
   * interrupted deletion. A tenant without a tombstone is not touched.
   */
  private async finishDeletion(tenant: string): Promise<void> {
    const { log, snapshots } = this.ports;
    if (!(await log.tombstoned?.(tenant))) return;
    this.forgetTenantState(tenant);
    await snapshots.remove?.(tenant);
    this.faults?.afterSnapshotRemoved?.(tenant);
    await this.ports.eventStore?.remove(tenant);
    await log.remove?.(tenant);
  }

  /** What this node keeps about a tenant besides its partition: known, series, refusals. */
  private forgetTenantState(tenant: string): void {
    this.known.delete(tenant);
    this.refused.delete(tenant);
    this.aheadLogged.delete(tenant);
    this.strandedOrphans.delete(tenant);
    this.metrics?.forgetTenant(tenant);
  }

  /** Every loaded partition's queue statistics (for the per-queue gauges at scrape time). */
  async allQueueStats(): Promise<{ tenant: string; stats: QueueStats[] }[]> {
    const out: { tenant: string; stats: QueueStats[] }[] = [];
    await Promise.all(
      [...this.parts.values()]
        .filter((p) => p.state.status === 'ready')
        .map(async (p) => {
          const r = await this.query(p.name, { type: 'all_queue_stats' }).catch(() => null);
          if (r?.type === 'all_queue_stats') out.push({ tenant: p.name, stats: r.stats });
        }),
    );
    return out;
  }

  /**
   * Test hook: like `injectBug`, on every worker thread and without loading anything, so that it can be
   * set before `start` (a node restarting over a log that holds a poison command).
   */
  async injectBugEverywhere(commandId: string, how: InjectedBug): Promise<void> {
    const item: HostItem = { kind: 'inject_bug', commandId, how };
    for (const slot of this.slots) {
      const r = await this.call(slot, item);
      if (r.kind !== 'inject_bug')
        throw new Error(r.kind === 'error' ? r.message : `unexpected ${r.kind} answer`);
      this.injectedBugs.push({ slot: slot.index, item });
    }
  }

  /** Test hook: kills the worker thread hosting `tenant` (needs a pool started with `testHooks`). */
  async crashWorkerOf(tenant: string, how: 'exit' | 'throw' = 'exit'): Promise<void> {
    const part = this.partFor(tenant);
    await part.state.whenReady();
    await this.call(this.slots[part.slot] as Slot, { kind: 'crash', how });
  }

  /**
   * Test hook: applying command `commandId` hits an injected bug from now on (`testHooks` pool): `halt`
   * halts the engine, `exit` ends the worker thread mid-command. The bug is given to every thread that
   * later replaces this one too, as a deterministic bug would hit them all.
   */
  async injectBug(tenant: string, commandId: string, how: InjectedBug = 'halt'): Promise<void> {
    const part = this.partFor(tenant);
    await part.state.whenReady();
    const item: HostItem = { kind: 'inject_bug', commandId, how };
    const r = await this.call(this.slots[part.slot] as Slot, item);
    if (r.kind !== 'inject_bug')
      throw new Error(r.kind === 'error' ? r.message : `unexpected ${r.kind} answer`);
    if (how !== 'exit_once') this.injectedBugs.push({ slot: part.slot, item });
  }

  /**
   * Graceful stop, after the final snapshots: saves the event history for the next start (see
   * `eventHistoryFile`). Each tenant's history is complete up to its log's durable end once everything
   * it appended was released. Failing to save costs only the history's reach (logged).
   */
  private async saveHistory(): Promise<void> {
    if (!this.historyFile || this.bus.history.limit <= 0) return;
    // A node fenced off its data directory (its lock taken over) writes nothing more there: the file
    // would land in the new holder's directory and be read back by its next start as its own history.
    if (this.fenced !== null) return;
    for (const p of this.parts.values()) {
      const st = p.state;
      if (st.status === 'ready' && st.unreleased.length === 0 && st.appendsInFlight === 0)
        this.bus.history.loaded(p.name, st.lastSeq, st.incarnation ?? 0);
    }
    const t0 = performance.now();
    try {
      const tenants = this.bus.history.save();
      const bytes = await saveEventHistory(this.historyFile, tenants);
      this.logger?.info(
        {
          file: this.historyFile,
          events: this.bus.history.size,
          bytes,
          ms: Math.round(performance.now() - t0),
        },
        'event history saved for the next start',
      );
    } catch (err) {
      this.logger?.warn(
        { err, file: this.historyFile },
        'event history not saved: the next start refills it from the log tails only',
      );
    }
  }

  /** Slot index hosting a tenant (tests and diagnostics). */
  slotOf(tenant: string): number | null {
    return this.parts.get(tenant)?.slot ?? null;
  }

  /**
   * Graceful stop: refuse new work, let in-flight commands finish (up to `graceMs`), snapshot every
   * changed partition, stop the workers. The caller closes the ports afterwards.
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.unwatchOwnership();
    if (this.snapshotTimer) clearInterval(this.snapshotTimer);
    const until = Date.now() + graceMs;
    while (this.inflight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    // A periodic snapshot still being written covers only the commands before its barrier, and a
    // snapshot() call now would return at once: let it land (within the grace), then take the final one.
    const snapshotting = () => [...this.parts.values()].some((p) => p.state.snapshotting);
    while (snapshotting() && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    const finals = Promise.all(
      [...this.parts.values()]
        .filter((p) => p.state.status === 'ready' && p.state.sinceSnapshot > 0)
        .map((p) =>
          this.snapshot(p).catch((e) =>
            this.logger?.warn({ err: e, tenant: p.name }, 'final snapshot failed'),
          ),
        ),
    );
    // Bounded too (at least a second for the snapshots themselves): a final snapshot waits for the
    // last append to be durable, which never happens with the log's server gone. Nothing is lost by
    // giving up: every acknowledged command is in the log, and the next start replays it.
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = await Promise.race([
      finals.then(() => false),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(true), Math.max(1000, until - Date.now()));
      }),
    ]);
    clearTimeout(timer);
    if (gaveUp)
      this.logger?.warn(
        'final snapshots not finished within the shutdown grace: the next start replays more of the log',
      );
    for (const p of this.parts.values()) p.state.clearTimer();
    for (const t of this.giveUps.values()) clearTimeout(t);
    this.giveUps.clear();
    this.loopLag?.stop();
    await this.saveHistory();
    // What a flood held back is said before the node goes.
    this.repeated.close();
    await this.pool.close();
  }

  // ---- routing and batching ----------------------------------------------------------------------

  private partFor(tenant: string): Part {
    let part = this.parts.get(tenant);
    if (!part) {
      // Least-loaded slot at first sight; sticky for the partition's life on this node.
      let slot = this.slots[0] as Slot;
      for (const s of this.slots) if (s.partitions < slot.partitions) slot = s;
      slot.partitions++;
      part = { name: tenant, slot: slot.index, state: new PartitionState() };
      const stranded = this.strandedOrphans.get(tenant);
      if (stranded) {
        part.state.orphans = stranded;
        this.strandedOrphans.delete(tenant);
      }
      this.parts.set(tenant, part);
      void this.ensureLoaded(tenant);
    }
    return part;
  }

  private accept(part: Part, p: Pending): void {
    const st = part.state;
    // A command that crashed the engine or its thread is refused before it reaches one again.
    const poison = this.quarantine.size > 0 ? this.quarantine.refuses(part.name, p.env.id) : null;
    if (poison) {
      this.settleError(p, poison.confirmed ? quarantined(poison) : containing(poison));
      return;
    }
    if (st.status !== 'ready') {
      st.waiting.push(p);
      return;
    }
    // Time only moves forward inside a partition's log, whatever order concurrent calls were stamped in.
    if (p.env.at < st.lastAt) p.env = { ...p.env, at: st.lastAt };
    else st.lastAt = p.env.at;
    const slot = this.slots[part.slot] as Slot;
    const last = slot.items.at(-1);
    if (last && last.kind === 'apply' && last.partition === part.name && st.openBatch) {
      last.commands.push(p.env);
      last.receivedAt.push(p.receivedAt);
      st.openBatch.push(p);
    } else {
      const batch: Pending[] = [p];
      const gen = st.gen;
      st.openBatch = batch;
      this.enqueueItem(
        slot,
        { kind: 'apply', partition: part.name, commands: [p.env], receivedAt: [p.receivedAt] },
        (r) => this.onApplied(part, gen, batch, r),
      );
    }
    st.unreleased.push(p);
    st.toAppend.push(p);
    this.dirtyAppends.add(part);
    this.scheduleFlush();
  }

  private enqueueItem(slot: Slot, item: HostItem, handler: Handler): void {
    slot.items.push(item);
    slot.handlers.push(handler);
    this.dirtySlots.add(slot);
    this.scheduleFlush();
  }

  private ask(slot: Slot, item: HostItem & { kind: 'query' }, onMissing?: () => void): Promise<QueryResult> {
    return new Promise((resolve, reject) => {
      this.enqueueItem(slot, item, (r) => {
        if (r.kind === 'query') return resolve(r.result);
        if (r.kind === 'error' && r.missing) onMissing?.();
        reject(unavailable(r.kind === 'error' ? r.message : `unexpected ${r.kind} answer`));
      });
    });
  }

  private call(slot: Slot, item: HostItem): Promise<HostResult> {
    return new Promise((resolve) => this.enqueueItem(slot, item, resolve));
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    if (this.flushOn === 'immediate') setImmediate(this.flushAll);
    else queueMicrotask(this.flushAll);
  }

  private readonly flushAll = (): void => {
    this.flushScheduled = false;
    // Batches leave for the workers first: the append (possibly a synchronous write) overlaps their work.
    for (const slot of this.dirtySlots) this.flushSlot(slot);
    this.dirtySlots.clear();
    for (const part of this.dirtyAppends) this.kickAppend(part);
    this.dirtyAppends.clear();
  };

  private flushSlot(slot: Slot): void {
    if (slot.calls >= this.callsPerSlot || slot.items.length === 0) return;
    const all = slot.items;
    const allHandlers = slot.handlers;
    slot.items = [];
    slot.handlers = [];
    const items: HostItem[] = [];
    const handlers: Handler[] = [];
    for (let i = 0; i < all.length; i++) {
      const it = all[i] as HostItem;
      if (
        slot.capturing.size > 0 &&
        (it.kind === 'apply' || it.kind === 'query') &&
        slot.capturing.has(it.partition)
      ) {
        // Held until its capture is done (in order: what arrives meanwhile queues behind it).
        slot.items.push(it);
        slot.handlers.push(allHandlers[i] as Handler);
        continue;
      }
      items.push(it);
      handlers.push(allHandlers[i] as Handler);
      // Batches handed over are closed: later commands of the partition start a new apply item.
      if (it.kind === 'apply') this.parts.get(it.partition)?.state.closeBatch();
      else if (it.kind === 'snapshot') slot.capturing.add(it.partition);
    }
    if (items.length === 0) return;
    slot.calls++;
    const call = slot.callNo >= 0x7fffffff ? 1 : slot.callNo + 1;
    slot.callNo = call;
    slot.sent.set(call, items);
    this.pool.call(slot.index, { items, slot: slot.index, call }).then(
      (res) => {
        slot.calls--;
        slot.sent.delete(call);
        for (let i = 0; i < handlers.length; i++) (handlers[i] as Handler)(res.results[i] as HostResult);
        this.afterCall(slot);
      },
      (err: Error) => {
        slot.calls--;
        slot.sent.delete(call);
        const r: HostResult = { kind: 'error', code: 'SB_ERR_UNAVAILABLE', message: err.message };
        for (const h of handlers) h(r);
        this.afterCall(slot);
      },
    );
  }

  private afterCall(slot: Slot): void {
    if (slot.items.length > 0) {
      this.dirtySlots.add(slot);
      this.scheduleFlush();
    }
  }

  // ---- results, durability, release --------------------------------------------------------------

  private onApplied(part: Part, gen: number, batch: Pending[], r: HostResult): void {
    const st = part.state;
    if (st.gen !== gen) return;
    if (r.kind === 'error' && r.halted) {
      // An engine bug: the command may be half-applied, so the partition reloads from snapshot + log
      // and the replay leaves it out (its resubmissions are refused at once, see `accept`).
      const halted = batch.find((p) => p.env.id === r.halted);
      if (halted) this.poison(part.name, halted.env, 'engine_halt', r.message);
    }
    if (r.kind !== 'apply') {
      this.fail(part, r.kind === 'error' ? r.message : `unexpected ${r.kind} answer`, 'SB_ERR_UNAVAILABLE');
      return;
    }
    for (let i = 0; i < batch.length; i++) (batch[i] as Pending).result = r.results[i] as ApplyResult;
    const m = this.metrics;
    if (m) {
      m.engineApply.observe(r.applySeconds);
      for (const l of r.assignmentLatencies) m.assignmentLatency.observe(l);
    }
    this.setTimer(part, r.nextTimerAt);
    this.release(part);
  }

  private kickAppend(part: Part): void {
    const st = part.state;
    while (st.appendsInFlight < this.appendDepth && st.toAppend.length > 0 && st.status === 'ready') {
      this.startAppend(part);
    }
  }

  private startAppend(part: Part): void {
    const st = part.state;
    const batch = st.takeAppendBatch();
    const gen = st.gen;
    const t0 = performance.now();
    const envs = batch.map((p) => p.env);
    // Fencing names the seq this append follows: with appends in flight, the last one issued.
    const expected = st.issuedSeq++;
    st.appendsInFlight++;
    const appended: Promise<void> = this.ports.log.append(part.name, envs, expected).then(
      (seq) => {
        this.metrics?.logAppend.observe((performance.now() - t0) / 1000);
        st.appendsInFlight--;
        if (st.appending === appended) st.appending = null;
        if (st.gen !== gen) {
          // Void, but where it landed still tells the reload whether a quarantined command of it is
          // in the log (`sealWaiters`).
          for (const p of batch) p.seq = seq;
          return;
        }
        this.known.add(part.name);
        // The first batch of the tenant's log: its first command's time names this incarnation.
        if (expected === 0 && st.incarnation === null) {
          st.incarnation = (envs[0] as CommandEnvelope).at;
          this.bus.history.setIncarnation(part.name, st.incarnation);
        }
        // A log whose seqs are not contiguous per partition (JetStream: one sequence for the whole
        // stream) runs one append at a time; the next one must name the seq the server gave this one.
        if (st.appendsInFlight === 0) st.issuedSeq = seq;
        st.lastSeq = seq;
        st.sinceSnapshot += batch.length;
        for (const p of batch) p.seq = seq;
        st.markDurable(batch, seq);
        this.release(part);
        this.kickAppend(part);
      },
      (err: unknown) => {
        st.appendsInFlight--;
        if (st.appending === appended) st.appending = null;
        if (st.gen !== gen) return;
        const code =
          (err as { code?: string }).code === 'SB_ERR_NOT_OWNER' ? 'SB_ERR_NOT_OWNER' : 'SB_ERR_UNAVAILABLE';
        this.repeated.log(
          'error',
          `append failed ${(err as { code?: string }).code}: ${(err as Error).message}`,
          { err, tenant: part.name },
          'command log append failed: reloading the partition',
          part.name,
        );
        this.fail(part, `command log append failed: ${(err as Error).message}`, code);
      },
    );
    // The latest append settles last (the log acknowledges in order): awaiting it awaits them all.
    st.appending = appended;
  }

  private release(part: Part): void {
    const st = part.state;
    const q = st.unreleased;
    let n = 0;
    // Cluster mode releases a log batch whole (see `wholeBatchEnd`); `complete` = end of the run checked.
    let complete = 0;
    while (n < q.length) {
      const p = q[n] as Pending;
      if (p.result === null || p.seq === 0) break;
      if (n >= complete && this.ports.mode === 'cluster') {
        complete = wholeBatchEnd(q, n);
        if (complete < 0) break;
      }
      n++;
      this.inflight--;
      if (p.timer) clearTimeout(p.timer);
      const r = p.result;
      if (r.ok && !r.duplicate) {
        const cmd = p.env.cmd;
        if (cmd.type === 'upsert_queue') this.metrics?.knowQueue(part.name, cmd.queue.id);
        else if (cmd.type === 'upsert_agent') this.metrics?.knowAgent(part.name, cmd.agent.id);
        if (r.events.length > 0) {
          this.record(part.name, r.reply, r.events);
          this.bus.publish(part.name, p.seq, p.env.at, r.events);
        }
        // After its events were counted (a removed agent's rescinded offers are its last).
        this.forgetRemoved(part.name, cmd);
      }
      if (!p.settled) {
        p.settled = true;
        p.resolve?.(r);
      }
    }
    if (n > 0) q.splice(0, n);
    if (st.sinceSnapshot >= this.snapshotEvery && !st.snapshotting) {
      void this.snapshot(part).catch((e) => this.snapshotFailed(part.name, e));
    }
  }

  /**
   * Starts the counters of a freshly loaded partition at 0 (its tenant, queues and agents), off the
   * load's path: one query of ids, so the first alert or missed offer after a load or a takeover shows
   * in `increase()`. The per-agent counters keep their `--agent-series-limit` bound.
   */
  private knowSeries(part: Part): void {
    const m = this.metrics;
    if (!m) return;
    const tenant = part.name;
    m.knowTenant(tenant);
    const item = {
      kind: 'query',
      partition: tenant,
      query: { type: 'ids' },
      at: this.ports.clock.now(),
    } as const;
    this.ask(this.slots[part.slot] as Slot, item).then(
      (r) => {
        // Unloaded meanwhile (its series went with it) or loaded again since: not this load's to start.
        if (r.type !== 'ids' || this.parts.get(tenant) !== part) return;
        for (const q of r.queueIds) m.knowQueue(tenant, q);
        for (const a of r.agentIds) m.knowAgent(tenant, a);
      },
      // The partition went away meanwhile (a handover, a worker crash): its next load tries again.
      () => undefined,
    );
  }

  /**
   * A queue or agent removed by a durable command: its series go and its per-agent slot is free again
   * (a removal that failed left it in place; forgetting what is not counted is a no-op).
   */
  private forgetRemoved(tenant: string, cmd: Command): void {
    const m = this.metrics;
    if (!m) return;
    if (cmd.type === 'remove_agent') m.forgetAgent(tenant, cmd.agentId);
    else if (cmd.type === 'remove_queue') m.forgetQueue(tenant, cmd.queueId);
  }

  /**
   * Business counters of one durable command that changed state, from its reply and events: the one
   * place they are counted, whether the command was released normally or found durable after its
   * worker crashed (`load`'s `recovered`).
   */
  private record(tenant: string, reply: Reply, events: readonly EngineEvent[]): void {
    const m = this.metrics;
    if (!m) return;
    // A new conversation always routes (assigned, offered, or its first notice: an event); an Enqueue
    // repeated for an open one only answers its status, without events, and is not inbound again.
    if (reply.kind === 'enqueued' && events.length > 0) m.inbound.inc(tenant, reply.queueId);
    for (const e of events) {
      switch (e.type) {
        case 'assigned':
          m.assigned.inc(tenant, e.queueId);
          m.agentAssigned.inc(tenant, e.agentId);
          break;
        case 'abandoned':
          m.abandoned.inc(tenant, e.queueId);
          break;
        case 'transferred':
          // Where QueueStats counts it: transferred out of the queue it left.
          m.transferred.inc(tenant, e.fromQueueId);
          if (e.fromAgentId !== null) m.agentTransferred.inc(tenant, e.fromAgentId);
          break;
        case 'offer_missed':
          m.offersMissed.inc(tenant, e.agentId);
          m.queueOffersMissed.inc(tenant, e.queueId);
          break;
        case 'alert':
          m.alerts.inc({ tenant, alert: e.alert, queue: e.queueId ?? '' });
          break;
        default:
      }
    }
  }

  private expire(tenant: string, p: Pending): void {
    if (p.settled) return;
    const part = this.parts.get(tenant);
    const st = part?.state;
    const i = st ? st.waiting.indexOf(p) : -1;
    // Not yet handed to a worker: withdraw it, so the rejected call changes nothing.
    if (st && i >= 0) {
      st.waiting.splice(i, 1);
      this.inflight--;
    }
    p.settled = true;
    p.reject?.(
      new SwitchboardError('SB_ERR_DEADLINE_EXCEEDED', 'the deadline passed before the command was durable'),
    );
  }

  // ---- timers ------------------------------------------------------------------------------------

  private setTimer(part: Part, at: number | null): void {
    const st = part.state;
    if (at === null) {
      st.clearTimer();
      return;
    }
    if (st.timerAt === at && st.timer) return;
    st.clearTimer();
    st.timerAt = at;
    // Capped: a timer past Node's limit would fire at once; the tick then finds nothing due and re-arms.
    st.timer = setTimeout(
      () => this.tick(part),
      Math.min(MAX_TIMER_MS, Math.max(1, at - this.ports.clock.now())),
    );
    st.timer.unref();
  }

  /** Timers are commands too: a `tick` goes through the log like any other, stamped by the clock. */
  private tick(part: Part): void {
    const st = part.state;
    const due = st.timerAt;
    st.timer = null;
    st.timerAt = null;
    if (this.closing || this.fenced !== null || st.status !== 'ready') return;
    // Node measures timers on the event loop's cached time, which lags the clock the tick is stamped
    // with after a long turn, so a timer can fire a few ms before `due` by that clock. A tick then would
    // find nothing due: a logged no-op, and a second tick right after it. Wait out the rest instead.
    if (due !== null && this.ports.clock.now() < due) {
      this.setTimer(part, due);
      return;
    }
    const env: CommandEnvelope = {
      id: `tick:${this.boot}:${++this.tickSeq}`,
      at: this.ports.clock.now(),
      cmd: { type: 'tick' },
    };
    this.inflight++;
    this.accept(part, {
      env,
      receivedAt: Number.NaN,
      resolve: null,
      reject: null,
      result: null,
      seq: 0,
      settled: false,
      timer: null,
    });
  }

  // ---- load, failure, snapshots ------------------------------------------------------------------

  private ensureLoaded(tenant: string): Promise<void> {
    const part = this.parts.get(tenant) ?? this.partFor(tenant);
    const st = part.state;
    if (st.status === 'ready') return Promise.resolve();
    if (st.loading) return st.loading;
    st.loading = this.load(part).finally(() => {
      st.loading = null;
    });
    return st.loading;
  }

  private async load(part: Part): Promise<void> {
    const st = part.state;
    const { log, snapshots, ownership } = this.ports;
    // An `unload` (lease lost) during any await below abandons this load: it bumps `gen` and takes the
    // partition out of `parts`. Going on would leave a second, untracked copy serving (timers armed,
    // appending) beside the one a later load creates.
    const gen = st.gen;
    const released = () => st.gen !== gen || this.parts.get(part.name) !== part;
    const stopIfReleased = () => {
      if (released()) {
        throw new SwitchboardError('SB_ERR_NOT_OWNER', `partition ${part.name} was released during its load`);
      }
    };
    try {
      // Never fail synchronously: `partFor` starts a load before it queues the command that asked for it.
      if (st.appending) await st.appending.catch(() => undefined);
      else await undefined;
      // Every append has settled: where each waiting quarantined command landed is known now (its
      // batch's seq, or -1 = never appended; still 0 = its append failed, position unknown).
      for (const p of st.sealWaiters) {
        if (p.seq !== 0) this.quarantine.place(part.name, p.env.id, p.env.at, p.seq);
      }
      // Its work ended too many worker threads lately: loading it would end the next one (see
      // `quarantine.ts`); every other partition of that thread keeps serving meanwhile. Refused before
      // the lease is touched, and not logged per call (the hold was logged when it began): a gateway
      // retrying a held tenant must not cost a lease round trip and an error line per call.
      const heldUntil = this.quarantine.heldUntil(part.name);
      if (heldUntil !== null) {
        throw Object.assign(
          new SwitchboardError(
            'SB_ERR_UNAVAILABLE',
            `partition ${part.name} is held until ${new Date(heldUntil).toISOString()}: its commands ended ${this.quarantine.maxKills} worker threads`,
          ),
          { held: true },
        );
      }
      if (!(await ownership.acquire(part.name))) {
        throw new SwitchboardError('SB_ERR_NOT_OWNER', `partition ${part.name} is owned by another node`);
      }
      stopIfReleased();
      // Refused a moment ago (see below): answered from memory, so a gateway retrying costs no fence,
      // snapshot load and log read per call; tried again after a while (an operator may have fixed it).
      const refusal = this.refused.get(part.name);
      if (refusal && Date.now() - refusal.checkedAt < REFUSAL_RECHECK_MS) {
        throw Object.assign(refusedError(refusal), { remembered: true });
      }
      // Where a takeover's time goes, for the `partition recovered` line (ms since the lease was ours).
      const t0 = performance.now();
      // A log that fences per owner (JetStream) shuts earlier writers out before the log is read.
      await log.fence?.(part.name);
      const tFenced = performance.now();
      stopIfReleased();
      // A deletion that stopped half-way (its node crashed after the tombstone): finished before a new,
      // empty partition of the same name is loaded, so nothing of the deleted one comes back.
      await this.finishDeletion(part.name);
      stopIfReleased();
      let stored: StoredSnapshot | null = null;
      let tSnapshot = tFenced;
      let tLogRead = tFenced;
      let tRead = tFenced;
      let tChecked = tFenced;
      let batches: CommandEnvelope[][] = [];
      let seqs: number[] = [];
      let last = 0;
      const slot = this.slots[part.slot] as Slot;
      const epoch = slot.epoch;
      let r: Extract<HostResult, { kind: 'load' }>;
      let rederive = false;
      let refill = false;
      /** With no snapshot: the time of the log's first command (the incarnation), null = empty log. */
      let firstAt: number | null = null;
      let skip: LoggedCommand[] = [];
      // The previous owner may still be saving a snapshot it took before losing the lease, and then
      // trim the log below it; if that trim lands while this node reads the log after an older
      // snapshot, the read silently misses the trimmed batches. The save always precedes the trim, so
      // a stored snapshot no newer than ours after the read proves the read whole; a newer one means
      // start again from it. The question goes to the store while the worker restores (a round trip
      // to MongoDB need not lengthen the takeover), and the rare answer "newer" discards that restore.
      for (let attempt = 1; ; attempt++) {
        stored = await snapshots.load(part.name);
        tSnapshot = performance.now();
        stopIfReleased();
        batches = [];
        seqs = [];
        firstAt = null;
        last = stored?.seq ?? 0;
        const loadedSeq = last;
        // The chain: the first batch after the snapshot must name the snapshot's batch as its
        // predecessor (none: be the partition's first). Naming a later one means the log was trimmed
        // below a snapshot this node's store does not hold (another store, an emptied database, a lost
        // head): replaying the rest onto an older state would serve a partition missing acknowledged
        // commands. A lower bound (`prevAtLeast`) proves a gap only above the snapshot. Batches of
        // versions before the chain name nothing and are not checked.
        let gap: Omit<Refusal, 'checkedAt'> | null = null;
        for await (const b of log.read(part.name, last)) {
          if (
            batches.length === 0 &&
            b.prev !== undefined &&
            (b.prevAtLeast ? b.prev > loadedSeq : b.prev !== loadedSeq)
          ) {
            gap = { snapshotSeq: loadedSeq, resumesAfter: b.prev, firstSeq: b.seq };
            break;
          }
          if (batches.length === 0 && !stored) firstAt = b.commands[0]?.at ?? null;
          batches.push(b.commands);
          seqs.push(b.seq);
          last = b.seq;
        }
        tLogRead = performance.now();
        const newer = snapshots.storedSeq(part.name).then((seq) => {
          tChecked = performance.now();
          return seq;
        });
        newer.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
        const logLast = await log.lastSeq(part.name);
        tRead = performance.now();
        stopIfReleased();
        // Nothing after the snapshot, yet the log ends past it: every batch in between was trimmed (the
        // file log drops the snapshot's own batch too, so this is how a trim past everything shows).
        if (!gap && batches.length === 0 && logLast > last)
          gap = { snapshotSeq: loadedSeq, resumesAfter: logLast, firstSeq: null };
        if (gap) {
          // A previous owner's snapshot and its trim may have landed while this load read the log (see
          // above): then load again from that snapshot. Otherwise the batches are gone from here.
          const newest = await newer;
          stopIfReleased();
          if (newest > loadedSeq) {
            if (attempt >= 3)
              throw new Error(`snapshots of ${part.name} keep moving under its load (now ${newest})`);
            this.logger?.warn(
              { tenant: part.name, loadedSeq, newerSeq: newest },
              'a newer snapshot was stored while the log was read (a previous owner finishing its snapshot): loading again from it',
            );
            continue;
          }
          throw Object.assign(refusedError(gap), { refusal: gap });
        }
        if (logLast > last)
          throw new Error(`log of ${part.name} ends at ${logLast} but replay stopped at ${last}`);
        // The log ends before the snapshot (embedded: its file lost, cut, or restored from an older copy;
        // with --fsync interval, a power loss after the snapshot was saved). The snapshot holds all of it;
        // left as is, every append named the snapshot's seq and was refused as another writer's, for
        // ever. The log goes on after the snapshot; what it held after that (if anything) is gone.
        if (stored && logLast < stored.seq && log.rebase) {
          this.logger?.error(
            { tenant: part.name, snapshotSeq: stored.seq, logLastSeq: logLast },
            'command log ends before its snapshot: going on after the snapshot (anything logged after it is lost)',
          );
          this.metrics?.logRebased.inc();
          await log.rebase(part.name, stored.seq);
          stopIfReleased();
        }
        // Cluster: the last owner may have died between a batch's log ack and its events' publish. Its
        // snapshot was saved only once its events were stored, so re-deriving the events of the replayed
        // tail and re-publishing them (same `Nats-Msg-Id`s, deduped by the stream) loses none.
        rederive = this.ports.mode === 'cluster' && batches.length > 0;
        // A history that does not know the tenant yet (this node's first load of it since it started):
        // refilled from what the last graceful stop saved and the replayed tail (cluster mode publishes
        // the tail again instead, see above).
        refill = !rederive && this.bus.history.limit > 0 && !this.bus.history.knows(part.name);
        skip = this.quarantine.skips(part.name, seqs);
        const answer = await this.call(slot, {
          kind: 'load',
          partition: part.name,
          // The text when the store kept it (parsed by the worker), else the object.
          snapshot: stored && stored.snapshotJson === undefined ? stored.snapshot : null,
          snapshotJson: stored?.snapshotJson ?? null,
          snapshotDigest: stored?.digest ?? null,
          batches,
          unreleased: rederive ? batches.flatMap((b) => b.map((c) => c.id)) : st.orphans,
          skip,
          engine: this.engineOptions,
          // Embedded: the replay re-derives the events the tail published, for the history's refill.
          ...(refill && batches.length > 0 ? { tailEvents: this.bus.history.limit } : {}),
        });
        if (answer.kind === 'error' && answer.replayHalted !== undefined && slot.epoch === epoch) {
          this.holdForOperator(part.name, answer.replayHalted, answer.message);
        }
        if (answer.kind !== 'load')
          throw new Error(answer.kind === 'error' ? answer.message : `unexpected ${answer.kind} answer`);
        r = answer;
        const newest = await newer;
        stopIfReleased();
        if (newest <= loadedSeq) break;
        if (attempt >= 3)
          throw new Error(`snapshots of ${part.name} keep moving under its load (now ${newest})`);
        this.logger?.warn(
          { tenant: part.name, loadedSeq, newerSeq: newest },
          'a newer snapshot was stored while the log was read (a previous owner finishing its snapshot): loading again from it',
        );
      }
      const orphans = st.orphans;
      // Released while the worker loaded it: the unload's `drop` follows the load on the slot's queue.
      stopIfReleased();
      if (slot.epoch !== epoch) throw new Error('the worker thread was replaced during the load');
      if (this.refused.delete(part.name)) {
        this.logger?.info(
          { tenant: part.name, snapshotSeq: stored?.seq ?? 0 },
          'partition no longer refused',
        );
      }
      st.lastSeq = last;
      st.issuedSeq = last;
      // The incarnation: recorded with the snapshot; without one, the log's first batch names it (read
      // from the start here); an empty log gets it with its first append.
      st.incarnation = stored ? (stored.incarnation ?? 0) : firstAt !== null ? firstAt : null;
      // The history of resumed watches is complete from here (before the orphans' events below), or,
      // refilled, from the snapshot on.
      if (refill) {
        const saved = this.savedHistory.get(part.name);
        this.savedHistory.delete(part.name);
        this.bus.history.refill(
          part.name,
          stored?.seq ?? 0,
          last,
          st.incarnation ?? 0,
          (r.tail ?? []).map((c) => ({ ...c, seq: seqs[c.batch] as number })),
          r.tailCut === true,
          saved,
          stored?.lastBatchEvents,
        );
      } else this.bus.loaded(part.name, last, st.incarnation ?? 0);
      st.lastAt = r.now;
      st.sinceSnapshot = r.replayed;
      st.lastSnapshotAt = Date.now();
      if (last > 0 || stored) this.known.add(part.name);
      // Commands that became durable while their worker died: their effects happened, publish them.
      st.orphans = [];
      const orphaned = rederive ? new Set(orphans) : null;
      const loadNo = ++this.loads;
      for (const o of r.recovered) {
        // Only the last logged copy of an id can be the one left unanswered: an earlier copy was released,
        // so counted and published then. A re-derived tail (cluster) publishes every copy: the node that
        // released the earlier ones may have died before their events were stored.
        if (!o.last && !rederive) continue;
        // Counters count what this node released; re-derived events were counted by the node that did.
        if (o.last && (!orphaned || orphaned.has(o.env.id))) this.record(part.name, o.reply, o.events);
        if (o.last) this.forgetRemoved(part.name, o.env.cmd);
        this.bus.publish(part.name, seqs[o.batch] as number, o.env.at, o.events, loadNo);
      }
      // The replay left logged commands out (they crashed the engine or its thread, and were never
      // acknowledged): seal that with a snapshot at the log's end before answering anything computed
      // without them. No later replay (a restart, another node, an engine fixed meanwhile) reaches them
      // again, so none can diverge from the answers given from here on. The log keeps them only until
      // the next periodic snapshot trims it (the `command quarantined` line is the record). After the events above: in cluster mode a
      // snapshot is stored only once the events it covers are.
      let sealMs = 0;
      if (r.left.length > 0) {
        const tSeal = performance.now();
        await this.seal(part, slot, last, released);
        stopIfReleased();
        if (slot.epoch !== epoch) throw new Error('the worker thread was replaced during the load');
        st.sinceSnapshot = 0;
        st.lastSnapshotAt = Date.now();
        sealMs = Math.round(performance.now() - tSeal);
      }
      this.settleQuarantined(part, r.left, batches, seqs);
      const after = this.reloadingAfter.get(part.name);
      this.reloadingAfter.delete(part.name);
      const recovered = {
        tenant: part.name,
        slot: part.slot,
        snapshotSeq: stored?.seq ?? 0,
        replayed: r.replayed,
        lastSeq: last,
        digest: r.digest,
        ms: Math.round(r.seconds * 1000),
        fenceMs: Math.round(tFenced - t0),
        snapshotLoadMs: Math.round(tSnapshot - tFenced),
        logReadMs: Math.round(tLogRead - tSnapshot),
        // The log's last seq, then (beside the worker's restore) whether a newer snapshot came in.
        lastSeqMs: Math.round(tRead - tLogRead),
        checkMs: Math.round(tChecked - tLogRead),
        ...(r.left.length > 0 ? { leftOut: r.left.map((c) => c.id), sealMs } : {}),
        totalMs: Math.round(performance.now() - t0),
      };
      if (after === undefined) this.logger?.info(recovered, 'partition recovered');
      else
        this.repeated.log('info', `recovered after: ${after}`, recovered, 'partition recovered', part.name);
      st.status = 'ready';
      this.knowSeries(part);
      this.setTimer(part, r.nextTimerAt);
      this.timeAhead(part, this.ports.clock.now(), true);
      const waiting = st.waiting.splice(0);
      for (const p of waiting) this.accept(part, p);
      st.notifyReady();
    } catch (err) {
      const code =
        (err as { code?: string }).code === 'SB_ERR_NOT_OWNER' ? 'SB_ERR_NOT_OWNER' : 'SB_ERR_UNAVAILABLE';
      // Damaged stored state (a log record or a snapshot failing its checks): refused like a broken
      // chain, counted and logged once, never served partially and never cut.
      const damage = err instanceof DamagedStorageError ? err.message : null;
      const refusal =
        (err as { refusal?: Omit<Refusal, 'checkedAt'> }).refusal ??
        (damage !== null ? { snapshotSeq: 0, resumesAfter: 0, firstSeq: null, damage } : undefined);
      if (refusal) this.refuse(part.name, refusal);
      else if (code === 'SB_ERR_NOT_OWNER') this.refused.delete(part.name);
      if (!(err as { held?: boolean }).held && !refusal && !(err as { remembered?: boolean }).remembered)
        this.logger?.error({ err, tenant: part.name }, 'partition could not be loaded');
      const e = new SwitchboardError(
        code,
        `partition ${part.name} is unavailable: ${(refusal && damage !== null ? refusedError(refusal) : (err as Error)).message}`,
      );
      for (const p of st.waiting.splice(0)) this.settleError(p, e);
      // Nothing sealed a quarantined command out: its caller learns "retry" (idempotent by its id).
      for (const p of st.sealWaiters.splice(0)) this.settleError(p, e);
      st.notifyFailed(e);
      // Forget it, unless an unload already did (and a newer load may own the name now): the next
      // command retries the load from scratch. Not its orphans: commands that became durable while a
      // worker died still need their events published by whichever load succeeds.
      if (!released()) {
        if (st.orphans.length > 0) this.strandedOrphans.set(part.name, st.orphans);
        this.parts.delete(part.name);
        (this.slots[part.slot] as Slot).partitions--;
        st.gen++;
      }
    }
  }

  /**
   * After a load (and its seal) succeeded: a quarantined command whose every crashed occurrence the replay
   * left out (sealed above) or that is not in the log read (never logged) "changed nothing" for good:
   * confirmed, and its waiting callers get `SB_ERR_COMMAND_QUARANTINED`. One the replay did apply (it
   * could not be pinned to a log position) is forgotten: its callers get the retryable
   * `SB_ERR_UNAVAILABLE`, and a retry is a duplicate of what the log holds.
   */
  private settleQuarantined(
    part: Part,
    left: LoggedCommand[],
    batches: CommandEnvelope[][],
    seqs: number[],
  ): void {
    const st = part.state;
    if (this.quarantine.size === 0 && st.sealWaiters.length === 0) return;
    const leftOut = new Set(left.map((c) => `${c.batch}:${loggedKey(c)}`));
    const logged = new Set<string>();
    for (const b of batches) for (const c of b) logged.add(loggedKey(c));
    for (const e of this.quarantine.entries(part.name)) {
      const out = e.ats.every((at) => {
        const key = loggedKey({ id: e.id, at });
        const seq = e.seqs.get(at);
        // Never appended; or its batch is below what this load read (a seal already covers it).
        if (seq === -1 || (seq !== undefined && seq > 0 && !seqs.includes(seq))) return true;
        if (seq !== undefined) return leftOut.has(`${seqs.indexOf(seq)}:${key}`);
        // Position unknown (its append failed): only "not in the log read at all" is certain.
        return !logged.has(key);
      });
      if (out) this.quarantine.confirm(part.name, e.id);
      else this.quarantine.forget(part.name, e.id);
    }
    for (const p of st.sealWaiters.splice(0)) {
      const e = this.quarantine.refuses(part.name, p.env.id);
      this.settleError(
        p,
        e?.confirmed
          ? quarantined(e)
          : unavailable(`partition ${part.name} recovered; the command may have been applied: retry it`),
      );
    }
  }

  /**
   * Saves the state just loaded as the partition's snapshot at `seq` (the log's end), without trimming
   * the log: a load that left logged commands out must not serve before this is durable (see `load`).
   */
  private async seal(part: Part, slot: Slot, seq: number, released: () => boolean): Promise<void> {
    const c = await this.capture(slot, part.name, () => !released());
    if (c === null) {
      if (released()) return; // the caller stops on it
      throw new Error('the worker did not capture the state to seal');
    }
    await this.ports.snapshots.save(this.storedOf(part, seq, c));
    this.logger?.warn(
      { tenant: part.name, seq, digest: c.digest },
      'partition sealed: a snapshot at the end of its log leaves the quarantined commands out of every later replay',
    );
  }

  /**
   * A periodic snapshot failed (counted in `snapshot`): logged through `repeated`, by error code, so a
   * full disk failing every tenant's snapshots logs the first and then a count, not a line each.
   */
  private snapshotFailed(tenant: string, e: unknown): void {
    const code = (e as { code?: unknown }).code;
    this.repeated.log(
      'warn',
      `snapshot failed: ${typeof code === 'string' ? code : (e as Error)?.message}`,
      { err: e, tenant },
      'snapshot failed',
      tenant,
    );
  }

  /** Drops the partition's unreleased work and reloads it from snapshot + log. */
  private fail(part: Part, reason: string, code: 'SB_ERR_UNAVAILABLE' | 'SB_ERR_NOT_OWNER'): void {
    const st = part.state;
    if (st.status !== 'ready') return;
    if (this.fenced !== null) {
      // No reload: another node serves it now.
      this.abandon(part, unavailable(this.fenced), false);
      return;
    }
    // Any of them may already be in the log: the reload re-derives their events so they are not lost.
    for (const p of st.unreleased) st.orphans.push(p.env.id);
    this.abandon(
      part,
      new SwitchboardError(code, `partition ${part.name} is recovering (${reason}); retry`),
      true,
    );
    this.repeated.log(
      'warn',
      `failed: ${reason}`,
      { tenant: part.name, reason },
      'partition failed: reloading from snapshot + log',
      part.name,
    );
    this.reloadingAfter.set(part.name, reason);
    st.resetReady();
    void this.ensureLoaded(part.name);
  }

  /**
   * Stops serving a partition now (its lease moved to another node): unanswered commands get
   * `SB_ERR_NOT_OWNER` (retryable: the router forwards the retry to the new owner) and the worker drops it.
   */
  unload(tenant: string): void {
    // Another node's business now (a refusal is about what this node can load), and whether the tenant
    // still exists is too (its next owner may delete it).
    this.refused.delete(tenant);
    if (this.ports.mode === 'cluster') this.known.delete(tenant);
    const part = this.parts.get(tenant);
    if (!part) return;
    const err = new SwitchboardError('SB_ERR_NOT_OWNER', `partition ${tenant} moved to another node; retry`);
    this.abandon(part, err, false);
    for (const p of part.state.waiting.splice(0)) this.settleError(p, err);
    part.state.notifyFailed(err);
    this.parts.delete(tenant);
    const slot = this.slots[part.slot] as Slot;
    slot.partitions--;
    this.enqueueItem(slot, { kind: 'drop', partition: tenant }, () => {});
    // Its new owner exports the tenant's series from now on: this node's would only go stale.
    this.metrics?.forgetTenant(tenant);
    this.logger?.info({ tenant }, 'partition released');
  }

  /**
   * Before handing a partition over: waits (bounded) for its commands in flight to become durable and
   * answered, then snapshots it so the next owner replays little. `snapshotMs` bounds the wait for that
   * snapshot (a node's stop, within its grace): past it the hand-over goes on without it, and the next
   * owner replays more of the log (a save that lands later trims nothing: the partition is not owned).
   */
  async drain(tenant: string, timeoutMs = 2000, snapshotMs?: number): Promise<void> {
    const part = this.parts.get(tenant);
    if (!part) return;
    const st = part.state;
    const until = Date.now() + timeoutMs;
    while ((st.unreleased.length > 0 || st.appendsInFlight > 0) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 2));
    }
    if (st.status === 'ready' && st.sinceSnapshot > 0) {
      const saved = this.snapshot(part).then(
        () => true,
        (e) => {
          this.logger?.warn({ err: e, tenant }, 'snapshot before handover failed');
          return true;
        },
      );
      if (snapshotMs === undefined) {
        await saved;
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      const done = await Promise.race([
        saved,
        new Promise<boolean>((r) => {
          timer = setTimeout(() => r(false), snapshotMs);
        }),
      ]);
      clearTimeout(timer);
      if (!done)
        this.logger?.warn(
          { tenant, waitedMs: snapshotMs },
          'snapshot before handover not saved within the shutdown grace: handed over without it (the next owner replays more of the log)',
        );
    }
  }

  /**
   * Voids the partition's pipeline: every unanswered command is rejected with `err`, except, when the
   * partition reloads (`reloading`), a quarantined one: its caller waits in `sealWaiters` for the reload
   * to seal it out of every later replay, since "it changed nothing" is only true from then on (`load`).
   */
  private abandon(part: Part, err: SwitchboardError, reloading: boolean): void {
    const st = part.state;
    st.status = 'failed';
    st.gen++;
    st.clearTimer();
    const notAppended = new Set(st.toAppend);
    for (const p of st.unreleased.splice(0)) {
      const poison = this.quarantine.size > 0 ? this.quarantine.refuses(part.name, p.env.id) : null;
      if (poison && reloading) {
        if (notAppended.has(p)) p.seq = -1; // its append never starts now: not in the log
        st.sealWaiters.push(p);
        continue;
      }
      this.settleError(p, poison?.confirmed ? quarantined(poison) : err);
    }
    if (!reloading) for (const p of st.sealWaiters.splice(0)) this.settleError(p, err);
    st.toAppend = [];
    st.openBatch = null;
    st.resetBarrier();
    // Work for this partition not yet handed to the worker is void: its commands were rejected above.
    const slot = this.slots[part.slot] as Slot;
    for (let i = slot.items.length - 1; i >= 0; i--) {
      const it = slot.items[i] as HostItem;
      if (it.kind === 'apply' && it.partition === part.name) {
        slot.items.splice(i, 1);
        slot.handlers.splice(i, 1);
      }
    }
  }

  private settleError(p: Pending, e: Error): void {
    this.inflight--;
    if (p.timer) clearTimeout(p.timer);
    if (p.settled) return;
    p.settled = true;
    p.reject?.(e);
  }

  /**
   * A slot's thread died. `at` (from the progress cells: `worker-progress.ts`) says which call, item and
   * command it was on; this runs before that call's answer fails, so the command it died on is
   * quarantined before anything could send it to the fresh thread again: the reloads below leave it
   * out of their replays, and its retries are refused (`accept`). Every other command of the call
   * is only a bystander: answered "retry" (`fail`), and replayed if it reached the log.
   */
  private onWorkerReplaced(slotIndex: number, at: LastPosition | null): void {
    this.metrics?.workerRestarts.inc();
    const slot = this.slots[slotIndex] as Slot;
    slot.epoch++;
    const died = at ? diedOn(slot.sent.get(at.call), at) : null;
    this.logger?.error(
      died
        ? { slot: slotIndex, tenant: died.partition, doing: died.kind, commandId: died.env?.id }
        : { slot: slotIndex, doing: 'idle' },
      'partition-host worker died: restoring its partitions on a fresh thread',
    );
    if (died) {
      // Only a command in flight is certainly unacknowledged, so only it may be left out of replays. A
      // logged command a replay died on may have been acknowledged long ago (a partition grown past the
      // thread's memory dies replaying whichever command is next): it stays in, and if loading keeps
      // ending threads the partition is held below, unavailable but whole.
      if (died.env && died.kind === 'apply') {
        this.poison(died.partition, died.env, 'worker_exit', 'the worker thread died while applying it');
      }
      const deaths = this.quarantine.killedBy(died.partition);
      if (deaths >= this.quarantine.maxKills) {
        this.metrics?.poison.inc({ reason: 'partition_held' });
        const until = this.quarantine.heldUntil(died.partition);
        this.logger?.error(
          {
            tenant: died.partition,
            threadsEnded: deaths,
            heldUntil: until === null ? undefined : new Date(until).toISOString(),
          },
          'partition held: its work keeps ending worker threads; it is not loaded again until the hold ends',
        );
      }
    }
    // Test hook: the fresh thread gets the injected bugs first, before any load is sent to it.
    for (const b of this.injectedBugs) {
      if (b.slot !== slotIndex) continue;
      slot.items.unshift(b.item);
      slot.handlers.unshift(() => {});
      this.dirtySlots.add(slot);
      this.scheduleFlush();
    }
    for (const part of this.parts.values()) {
      if (part.slot === slotIndex) this.fail(part, 'worker thread died', 'SB_ERR_UNAVAILABLE');
    }
  }

  /**
   * The replay halted the engine on a logged command that was not quarantined in flight: it may have
   * been acknowledged (typically an engine build with a regression on an old command), so it is never
   * left out or sealed away. The partition is held (its calls answered the retryable UNAVAILABLE) for an
   * operator: roll the engine build back; a restart of the node clears the hold.
   */
  private holdForOperator(partition: string, commandId: string, detail: string): void {
    this.quarantine.hold(partition);
    this.metrics?.poison.inc({ reason: 'partition_held' });
    const until = this.quarantine.heldUntil(partition);
    this.logger?.error(
      {
        tenant: partition,
        commandId,
        detail,
        heldUntil: until === null ? undefined : new Date(until).toISOString(),
        advice:
          'a logged (possibly acknowledged) command halts this engine build: roll the engine build back; it is never left out',
      },
      'partition held: its replay halts the routing engine on a logged command',
    );
  }

  /**
   * Remembers a partition refused for a broken log chain (`load`): the gauge shows it, and the error line
   * is written when the refusal begins or changes, not at every retry.
   */
  private refuse(partition: string, r: Omit<Refusal, 'checkedAt'>): void {
    const before = this.refused.get(partition);
    this.refused.set(partition, { ...r, checkedAt: Date.now() });
    if (
      before &&
      before.snapshotSeq === r.snapshotSeq &&
      before.resumesAfter === r.resumesAfter &&
      before.firstSeq === r.firstSeq &&
      before.damage === r.damage
    )
      return;
    if (r.damage !== undefined) {
      this.logger?.error(
        {
          tenant: partition,
          reason: 'storage_damaged',
          damage: r.damage,
          advice:
            'nothing of it was cut or skipped: restore the file from a backup, or accept losing what follows the damage (RUNBOOK SwitchboardPartitionRefused)',
        },
        'partition refused: its stored state is damaged',
      );
      return;
    }
    this.logger?.error(
      {
        tenant: partition,
        reason: 'log_trimmed_past_snapshot',
        snapshotSeq: r.snapshotSeq,
        logResumesAfterSeq: r.resumesAfter,
        ...(r.firstSeq !== null ? { firstBatchSeq: r.firstSeq } : {}),
        advice:
          "this node's snapshot store lacks the partition's snapshot: point the node at the cluster's snapshot store (--mongo-url) or restore the snapshot; see RUNBOOK SwitchboardPartitionRefused",
      },
      'partition refused: its command log was trimmed past the snapshot this node can load',
    );
  }

  /** Quarantines a command that crashed the engine or its thread (`quarantine.ts`): logged, counted. */
  private poison(partition: string, env: CommandEnvelope, reason: PoisonReason, detail: string): void {
    if (!this.quarantine.add(partition, env, reason)) return;
    this.metrics?.poison.inc({ reason });
    this.logger?.error(
      {
        tenant: partition,
        commandId: env.id,
        commandType: env.cmd.type,
        at: env.at,
        reason,
        detail,
        holdSeconds: Math.round(this.quarantine.holdMs / 1000),
      },
      'command quarantined: it crashed the routing engine; replays leave it out and its retries are refused',
    );
  }

  /**
   * Captures the partition's state on its worker and serialises it there, a slice per round trip, so
   * batches of every other partition on the thread are applied between the slices: the capture's
   * slices first (this partition's applies and queries are held back meanwhile: `Slot.capturing`), then
   * the serialisation's (this partition's work too). Null when `live()` turns false meanwhile (or the
   * worker had nothing to capture). `seconds`: from the request to the state captured.
   */
  /** What a save stores of a capture: with the tenant's incarnation and its batch's event count (resume). */
  private storedOf(
    part: Part,
    seq: number,
    c: { now: number; digest: string; pieces: Uint8Array[] },
  ): StoredSnapshot {
    return storedSnapshot(
      part.name,
      seq,
      c.now,
      c.digest,
      c.pieces,
      part.state.incarnation,
      this.bus.history.eventsOfBatch(part.name, seq),
    );
  }

  private async capture(
    slot: Slot,
    partition: string,
    live: () => boolean,
  ): Promise<{
    now: number;
    seconds: number;
    digest: string;
    pieces: Uint8Array[];
    slices: number;
    longest: number;
  } | null> {
    const t0 = performance.now();
    try {
      const r = await this.call(slot, { kind: 'snapshot', partition });
      if (!live() || r.kind !== 'snapshot') return null;
      const pieces: Uint8Array[] = [];
      let slices = 0;
      let longest = 0;
      let seconds = r.seconds;
      for (;;) {
        const p = await this.call(slot, { kind: 'snapshot_part', partition, budgetMs: SNAPSHOT_SLICE_MS });
        if (p.kind === 'snapshot_part' && p.captured && slot.capturing.has(partition)) {
          // The state is captured: the partition's held work goes now, between the serialising slices.
          seconds = (performance.now() - t0) / 1000;
          this.endCapture(slot, partition);
        }
        if (!live()) return null;
        if (p.kind !== 'snapshot_part') {
          throw new Error(p.kind === 'error' ? p.message : `unexpected ${p.kind} answer`);
        }
        pieces.push(p.bytes);
        slices++;
        longest = Math.max(longest, p.seconds);
        if (p.done) {
          if (p.digest === null) return null;
          // The pieces go to the store as they are: joined into one string on this thread, the text was
          // here twice (pieces and whole) on the heap while the store wrote it.
          return { now: r.now, seconds, digest: p.digest, pieces, slices, longest };
        }
      }
    } finally {
      this.endCapture(slot, partition);
    }
  }

  /** The partition's capture is over (done, or given up): its held work may leave. */
  private endCapture(slot: Slot, partition: string): void {
    if (!slot.capturing.delete(partition)) return;
    if (slot.items.length > 0) {
      this.dirtySlots.add(slot);
      this.scheduleFlush();
    }
  }

  /**
   * Non-blocking snapshot: a barrier after the last command handed to the worker splits the append
   * stream, so the snapshot's seq is exactly that of the batch ending at the barrier. It is saved only
   * once that batch is durable, then the log is trimmed up to it.
   */
  private async snapshot(part: Part): Promise<void> {
    const st = part.state;
    if (st.snapshotting || st.status !== 'ready' || this.fenced !== null) return;
    st.snapshotting = true;
    const gen = st.gen;
    try {
      const durable = st.setBarrier();
      st.sinceSnapshot = 0;
      const slot = this.slots[part.slot] as Slot;
      const c = await this.capture(slot, part.name, () => st.gen === gen);
      if (c === null) return;
      const seq = await durable;
      if (st.gen !== gen || seq === null) return;
      this.logger?.debug(
        {
          tenant: part.name,
          seq,
          captureMs: +(c.seconds * 1000).toFixed(2),
          slices: c.slices,
          longestSliceMs: +(c.longest * 1000).toFixed(2),
        },
        'snapshot serialised',
      );
      await this.ports.snapshots.save(this.storedOf(part, seq, c));
      st.lastSnapshotAt = Date.now();
      st.snapshotFailed = false;
      // Not after losing the partition during the save: the next owner may be reading the log after an
      // older snapshot right now. (Its load also checks for this, since a check here and the trim are
      // not atomic.)
      if (st.gen !== gen || !this.ports.ownership.owns(part.name)) return;
      if (seq > 0) await this.ports.log.trim(part.name, seq);
      this.known.add(part.name);
    } catch (e) {
      if (st.gen === gen) st.snapshotFailed = true;
      this.metrics?.snapshotFailures.inc();
      throw e;
    } finally {
      st.snapshotting = false;
    }
    // Commands that arrived while this snapshot was being written may already warrant the next one.
    if (st.gen === gen && st.sinceSnapshot >= this.snapshotEvery && !this.closing) await this.snapshot(part);
  }

  private snapshotIdle(): void {
    const now = Date.now();
    for (const part of this.parts.values()) {
      const st = part.state;
      const pending = st.sinceSnapshot > 0 || st.snapshotFailed;
      if (st.status === 'ready' && pending && now - st.lastSnapshotAt >= this.snapshotEveryMs) {
        void this.snapshot(part).catch((e) => this.snapshotFailed(part.name, e));
      }
    }
  }
}

/**
 * Whether a command, as a tenant's first, brings the tenant into existence: accepted (not refused, not a
 * repeat) and changing something. A tick and the removal of a customer nobody has change nothing on a
 * blank tenant (only its clock), so they create nothing either.
 */
export function createsTenant(env: CommandEnvelope, r: ApplyResult): boolean {
  if (!r.ok || r.duplicate) return false;
  return env.cmd.type !== 'tick' && env.cmd.type !== 'remove_customer';
}

/** The refusal of a quarantined command: not retryable, and nothing of it was applied. */
/** What callers of a refused partition get (retryable: nothing is lost, it is on another store or node). */
function refusedError(r: Omit<Refusal, 'checkedAt'>): SwitchboardError {
  if (r.damage !== undefined)
    return unavailable(
      "its stored state on this node (command log or snapshot) is damaged: this node does not serve a partial state; the node's operator has to act",
    );
  const after =
    r.firstSeq === null
      ? `the log holds nothing after it but ends at seq ${r.resumesAfter}`
      : `the log resumes after seq ${r.resumesAfter}`;
  return unavailable(
    `its command log was trimmed past the snapshot this node can load (snapshot seq ${r.snapshotSeq}; ${after}): this node's snapshot store does not hold the partition's snapshot, and it does not serve a partial state. Check the node's snapshot store (--mongo-url)`,
  );
}

function quarantined(e: PoisonEntry): SwitchboardError {
  const what =
    e.reason === 'worker_exit' ? 'ended its worker thread' : 'hit an internal error in the routing engine';
  return new SwitchboardError(
    'SB_ERR_COMMAND_QUARANTINED',
    `this ${e.type} command ${what} when it was tried and is refused until ${new Date(e.until).toISOString()}; it changed nothing: do not retry it, report it`,
  );
}

/** The answer to a quarantined command before its seal is durable: retryable, nothing is promised yet. */
function containing(e: PoisonEntry): SwitchboardError {
  return unavailable(
    `this ${e.type} command crashed the routing engine or its worker thread and is being contained; retry shortly`,
  );
}

/** What a thread that died at `at` was doing, from the items of its calls in flight. */
function diedOn(
  items: HostItem[] | undefined,
  at: LastPosition,
): { partition: string; kind: HostItem['kind']; env: CommandEnvelope | null } | null {
  const item = items?.[at.item];
  if (!item) return null;
  // No command in progress (-1), or out of memory (whatever filled the heap, not the command it was
  // on): the partition's work ended the thread, but no command is to blame.
  const blame = at.command >= 0 && !at.outOfMemory;
  switch (item.kind) {
    case 'apply':
      return {
        partition: item.partition,
        kind: item.kind,
        env: blame ? (item.commands[at.command] ?? null) : null,
      };
    case 'load':
      return {
        partition: item.partition,
        kind: item.kind,
        env: blame && at.batch >= 0 ? (item.batches[at.batch]?.[at.command] ?? null) : null,
      };
    case 'query':
    case 'probe':
    case 'snapshot':
    case 'snapshot_part':
    case 'drop':
      return { partition: item.partition, kind: item.kind, env: null };
    default:
      // Test hooks (`crash`, `inject_bug`): no partition's work.
      return null;
  }
}

/**
 * End (exclusive) of the log batch starting at `q[n]` if every command of it has its result, else -1.
 * Cluster mode publishes a batch's events as ONE event-stream message whose id is derived from the batch's
 * seq (`cluster/nats/events.ts`), and a takeover re-derives whole batches: a batch released in two parts
 * (its append acknowledged before the worker answered for all of it) would become two messages that the
 * re-derived one could not dedupe against. Batches are contiguous in `unreleased` (appended in order).
 */
function wholeBatchEnd(q: Pending[], n: number): number {
  const seq = (q[n] as Pending).seq;
  let k = n;
  for (; k < q.length && (q[k] as Pending).seq === seq; k++) if ((q[k] as Pending).result === null) return -1;
  return k;
}

/**
 * The stores write the worker's pieces of UTF-8 JSON text one after another (`snapshotChunks`, never
 * joined); `snapshot` is parsed only if a store asks for the object, so the main thread neither rebuilds
 * nor re-serialises the state on the way to disk.
 */
function storedSnapshot(
  partition: string,
  seq: number,
  takenAt: number,
  digest: string,
  pieces: readonly Uint8Array[],
  incarnation: number | null,
  lastBatchEvents: number | undefined,
): StoredSnapshot {
  let parsed: EngineSnapshot | undefined;
  return {
    partition,
    seq,
    takenAt,
    digest,
    ...(incarnation ? { incarnation } : {}),
    ...(lastBatchEvents !== undefined ? { lastBatchEvents } : {}),
    snapshotChunks: pieces,
    get snapshot(): EngineSnapshot {
      parsed ??= JSON.parse(Buffer.concat(pieces).toString('utf8')) as EngineSnapshot;
      return parsed;
    },
  };
}

function withDeadline<T>(p: Promise<T>, ms: number | undefined): Promise<T> {
  if (ms === undefined || ms > MAX_TIMER_MS) return p;
  return new Promise((resolve, reject) => {
    const t = setTimeout(
      () =>
        reject(
          new SwitchboardError(
            'SB_ERR_DEADLINE_EXCEEDED',
            'the deadline passed before the query was answered',
          ),
        ),
      Math.max(0, ms),
    );
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

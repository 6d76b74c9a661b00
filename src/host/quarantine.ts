/**
 * Poison containment: the commands this node saw crash the routing engine, and the partitions whose
 * commands keep ending worker threads.
 *
 * A command is put here when it halted its engine (an engine bug caught mid-command) or when the worker
 * thread died while applying it (`worker-progress.ts` names the command: out of memory, a native abort).
 * Either way it was in flight, so never acknowledged: the batch holding it was answered "retry", and
 * it was answered `SB_ERR_COMMAND_QUARANTINED`. From then on, for `holdMs`:
 * - the reload's replay leaves it out (it was never acknowledged: the batch holding it was answered
 *   "retry"), and the host seals that with a snapshot before serving again (`PartitionHost.load`), so
 *   no later replay — a restart, another node, an engine that no longer fails on it — brings it back
 *   under answers already given without it;
 * - a retry of it (the same command id: the request id, or the conversation id of an enqueue) is refused
 *   at once with the non-retryable `SB_ERR_COMMAND_QUARANTINED` instead of reaching an engine again.
 *   Whatever it carries: a command accepted under the id would be left out of a replay with it.
 *
 * The replay leaves out the occurrence that crashed, named by its log position (the batch's seq, known
 * from its append) and its id and stamped time (`LoggedCommand`), not every command with the id, nor
 * even with the id and time: a poison that was the retry of an acknowledged command may be stamped with
 * the original's time (a clock behind is clamped to the partition's last time), and must not take the
 * acknowledged original out of the replay with it. A poison whose position is unknown is not left out.
 *
 * A partition whose work ended `maxKills` worker threads within `holdMs` is held (not loaded) until the
 * oldest of those deaths is `holdMs` old: a crash that no command id pins down (a timer's tick is a new
 * command every time; a state only some commands trip over), or a replay that dies on a logged command
 * (which may have been acknowledged, so it is never left out) would otherwise take down every partition
 * on the thread again and again. Only thread deaths count: a halt costs its own partition a reload.
 *
 * Memory only (per node): a node that restarts forgets it. What it decided stays decided — the seal —
 * and a retry reaching the restarted node costs one thread once more before it is quarantined again.
 */
import type { CommandEnvelope } from '../engine/types.js';
import type { LoggedCommand } from './protocol.js';

/** Why a command was quarantined: the engine halted on it, or its worker thread died on it. */
export type PoisonReason = 'engine_halt' | 'worker_exit';

/** One quarantined command. */
export interface PoisonEntry {
  partition: string;
  id: string;
  /** The times it was stamped with when it crashed (one, unless it crashed again after a hold ended). */
  ats: number[];
  /**
   * Where each crashed occurrence (by `at`) is in the log: the seq of the log batch holding it, or -1 =
   * it never reached the log. Absent = not known (its append failed: it may or may not have landed).
   */
  seqs: Map<number, number>;
  type: string;
  reason: PoisonReason;
  /** Epoch ms after which it is forgotten. */
  until: number;
  /**
   * Whether "it changed nothing" is known to hold for good: every crashed occurrence is sealed out of
   * later replays (or never reached the log). Until then its callers and retries are answered the
   * retryable `SB_ERR_UNAVAILABLE`, never `SB_ERR_COMMAND_QUARANTINED`.
   */
  confirmed: boolean;
}

export interface QuarantineOptions {
  /** How long a poison command (and a partition's thread deaths) are remembered, ms (default 15 min). */
  holdMs?: number;
  /** Thread deaths by one partition's work, within `holdMs`, that hold the partition (default 3). */
  maxKills?: number;
  /** Most commands remembered node-wide; the oldest go first (default 10 000). */
  maxEntries?: number;
  now?: () => number;
}

export class Quarantine {
  readonly holdMs: number;
  readonly maxKills: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly byPartition = new Map<string, Map<string, PoisonEntry>>();
  /** Thread deaths per partition (epoch ms), oldest first. */
  private readonly kills = new Map<string, number[]>();
  private count = 0;

  constructor(opts: QuarantineOptions = {}) {
    this.holdMs = opts.holdMs ?? 15 * 60_000;
    this.maxKills = Math.max(1, opts.maxKills ?? 3);
    this.maxEntries = Math.max(1, opts.maxEntries ?? 10_000);
    this.now = opts.now ?? Date.now;
  }

  /** Commands remembered now (expired ones included until they are next looked at). */
  get size(): number {
    return this.count;
  }

  /**
   * Remembers a poison command, as it was handed to the engine (its `at` is the logged one). Returns
   * false if its id was quarantined already (the hold is renewed).
   */
  add(partition: string, env: CommandEnvelope, reason: PoisonReason): boolean {
    let ids = this.byPartition.get(partition);
    if (!ids) {
      ids = new Map();
      this.byPartition.set(partition, ids);
    }
    const known = ids.get(env.id);
    const until = this.now() + this.holdMs;
    if (known) {
      if (!known.ats.includes(env.at)) {
        known.ats.push(env.at);
        known.confirmed = false;
      }
      known.until = until;
      return false;
    }
    if (this.count >= this.maxEntries) this.evictOldest();
    ids.set(env.id, {
      partition,
      id: env.id,
      ats: [env.at],
      type: env.cmd.type,
      reason,
      until,
      confirmed: false,
      seqs: new Map(),
    });
    this.count++;
    return true;
  }

  /** The entry that refuses a command with this id in `partition`, if it is still held. */
  refuses(partition: string, id: string): PoisonEntry | null {
    if (this.count === 0) return null;
    const e = this.byPartition.get(partition)?.get(id);
    if (!e) return null;
    if (e.until <= this.now()) {
      this.drop(e);
      return null;
    }
    return e;
  }

  /** "It changed nothing" now holds for good (sealed, or never logged): see `PoisonEntry.confirmed`. */
  confirm(partition: string, id: string): void {
    const e = this.byPartition.get(partition)?.get(id);
    if (e) e.confirmed = true;
  }

  /** Records where the occurrence of `id` stamped `at` is in the log (`PoisonEntry.seqs`). */
  place(partition: string, id: string, at: number, seq: number): void {
    const e = this.byPartition.get(partition)?.get(id);
    if (e?.ats.includes(at)) e.seqs.set(at, seq);
  }

  /** The commands held for `partition` now. */
  entries(partition: string): PoisonEntry[] {
    const ids = this.byPartition.get(partition);
    if (!ids) return [];
    const now = this.now();
    const out: PoisonEntry[] = [];
    for (const e of [...ids.values()]) {
      if (e.until <= now) this.drop(e);
      else out.push(e);
    }
    return out;
  }

  /** Forgets a command: it is in the log and was replayed after all, so its retries are duplicates. */
  forget(partition: string, id: string): void {
    const e = this.byPartition.get(partition)?.get(id);
    if (e) this.drop(e);
  }

  /**
   * The logged commands a replay of `partition` must leave out, each by its log position: `seqs` = the
   * seqs of the batches the replay reads, in order. An occurrence whose position is not known is not
   * left out: it may be an acknowledged command with the same id and time (a retry is stamped like its
   * original when the clock is clamped), and the replay must never lose one of those.
   */
  skips(partition: string, seqs: readonly number[]): LoggedCommand[] {
    const out: LoggedCommand[] = [];
    for (const e of this.entries(partition)) {
      for (const at of e.ats) {
        const batch = seqs.indexOf(e.seqs.get(at) ?? -1);
        if (batch >= 0) out.push({ id: e.id, at, batch });
      }
    }
    return out;
  }

  /** Counts a worker thread that died on `partition`'s work; returns the deaths within `holdMs`. */
  killedBy(partition: string): number {
    const now = this.now();
    const list = (this.kills.get(partition) ?? []).filter((t) => t > now - this.holdMs);
    list.push(now);
    this.kills.set(partition, list);
    return list.length;
  }

  /**
   * Holds `partition` for the whole window now, as if its work had ended `maxKills` threads: a replay
   * that halts the engine on a logged command (maybe acknowledged) needs an operator, not a retry.
   */
  hold(partition: string): void {
    const now = this.now();
    this.kills.set(
      partition,
      Array.from({ length: this.maxKills }, () => now),
    );
  }

  /** How many partitions are held now (the gauge `switchboard_partitions_held`). */
  heldCount(): number {
    let n = 0;
    for (const partition of [...this.kills.keys()]) if (this.heldUntil(partition) !== null) n++;
    return n;
  }

  /** Until when (epoch ms) `partition` is held after ending too many threads, or null if it is not. */
  heldUntil(partition: string): number | null {
    const list = this.kills.get(partition);
    if (!list) return null;
    const now = this.now();
    const recent = list.filter((t) => t > now - this.holdMs);
    if (recent.length === 0) this.kills.delete(partition);
    else this.kills.set(partition, recent);
    if (recent.length < this.maxKills) return null;
    // Held until enough of the deaths are older than the window to fall below the limit.
    return (recent[recent.length - this.maxKills] as number) + this.holdMs;
  }

  private drop(e: PoisonEntry): void {
    const ids = this.byPartition.get(e.partition);
    if (!ids?.delete(e.id)) return;
    this.count--;
    if (ids.size === 0) this.byPartition.delete(e.partition);
  }

  private evictOldest(): void {
    let oldest: PoisonEntry | null = null;
    for (const ids of this.byPartition.values()) {
      for (const e of ids.values()) if (!oldest || e.until < oldest.until) oldest = e;
    }
    if (oldest) this.drop(oldest);
  }
}

/**
 * Event positions and the embedded node's bounded history of recent events, from which a resumed
 * `WatchEvents` is backfilled (cluster mode reads the durable `SB_EVENTS` stream instead).
 *
 * A position is (`seq`, `index`): the log batch that produced the event and the event's place among all
 * of the tenant's events of that batch (whatever a watcher's filter), so it is the same for every watcher
 * and on every node. The history keeps, per tenant, the events published on this node in position order,
 * and how far back it is complete (`completeAfter`): from the partition's load on this node (events before
 * it were published by an earlier run of the node; a restart refills the history with the events of the
 * log tail its load replays, `refill`), moved forward whenever the node-wide bound evicts a tenant's oldest event. Evicting is first in, first out over all
 * tenants: the bound is the node's, so a busy tenant's history is shorter than a quiet one's in time.
 */
import type { EngineEvent } from '../engine/types.js';
import { SwitchboardError } from '../errors/catalogue.js';
import { matches } from './event-bus.js';
import type { EventFilter, PublishedEvent } from './router.js';

/**
 * Where a resumed watch starts: after event (`seq`, `index`); `index` Infinity = after the whole batch.
 * `incarnation`: the tenant's incarnation the position belongs to (see `checkIncarnation`); absent or 0 =
 * not given (a position in the form before incarnations).
 */
export interface EventPosition {
  seq: number;
  index: number;
  incarnation?: number;
}

/** a < b ? negative : a > b ? positive : 0. */
export function comparePositions(a: EventPosition, b: EventPosition): number {
  if (a.seq !== b.seq) return a.seq - b.seq;
  if (a.index === b.index) return 0;
  return a.index < b.index ? -1 : 1;
}

/** Is event `e` after position `p`? */
export function isAfter(e: { seq: number; index?: number }, p: EventPosition): boolean {
  return e.seq > p.seq || (e.seq === p.seq && (e.index ?? 0) > p.index);
}

export function formatPosition(p: EventPosition): string {
  const at = Number.isFinite(p.index) ? `${p.seq}:${p.index}` : `${p.seq}`;
  return p.incarnation ? `${at}@${p.incarnation}` : at;
}

/**
 * A tenant's incarnation tells its lives apart: DeleteTenant and a re-creation start its log (embedded:
 * its seqs too) again, so a position alone could name an event of the deleted tenant. It is the time
 * (ms epoch) stamped on the first command of the incarnation's log, the same on every node and after
 * every restart: recorded with each snapshot (`StoredSnapshot.incarnation`), read from the first log
 * batch when there is none. 0 = unknown: a tenant whose snapshot predates incarnations.
 *
 * Refuses (SB_ERR_RESUME_POSITION_GONE) a position of another incarnation than `current`, and one that
 * names none once the tenant has one (it may be from before a deletion: ambiguous), unless its seq is at
 * or after `unambiguousFrom` (cluster: the seq of the current life's first stored event). A position
 * with seq 0 (from the start) names no event and is always of the current incarnation.
 */
export function checkIncarnation(after: EventPosition, current: number, unambiguousFrom?: number): void {
  const given = after.incarnation ?? 0;
  if (given === current || (after.seq === 0 && given === 0)) return;
  // Cluster: log seqs only grow across a tenant's lives (one stream sequence), so a position at or after
  // the current life's first stored event cannot be of an earlier one.
  if (given === 0 && unambiguousFrom !== undefined && after.seq >= unambiguousFrom) return;
  if (given === 0)
    throw positionGone(
      after,
      `the position does not name the tenant's incarnation (this one began at ${current}; a position without it may be from before a DeleteTenant): resume with the event id as sent (SSE) or with resume_after_incarnation`,
    );
  throw positionGone(
    after,
    current === 0
      ? `the position is of incarnation ${given} of the tenant, and the tenant's current one is not known (created before incarnations were recorded)`
      : `the position is of another incarnation of the tenant (${given}; the tenant was deleted and created again at ${current})`,
  );
}

/** The answer to a resume position the node cannot serve: resync from the state, watch again without one. */
export function positionGone(p: EventPosition, why: string): SwitchboardError {
  return new SwitchboardError(
    'SB_ERR_RESUME_POSITION_GONE',
    `cannot resume after event ${formatPosition(p)}: ${why}; resync from the current state (GetConversation, ListWaiting, ...) and watch again without a resume position`,
    'resumeAfterSeq',
  );
}

/** Delivers one backfilled event; a promise = wait for it before the next (the watcher's buffer is full). */
export type BackfillSink = (e: PublishedEvent) => undefined | Promise<void>;

/** How a backfill hands its events over. */
export interface BackfillTo {
  sink: BackfillSink;
  /** True once the watcher is gone: the backfill stops. */
  stopped: () => boolean;
  /** Called once the position is checked (servable), before the first event. */
  checked: () => void;
}

interface Entry {
  seq: number;
  index: number;
  at: number;
  event: EngineEvent;
}

/**
 * One tenant's history as a graceful stop saves it (`EventHistory.save`) and the next start gives it back
 * (`refill`): a stop snapshots every partition and so trims its log, and the history could not be
 * re-derived from it. `after` = `completeAfter` (index null = after the whole batch); `entries` are
 * `[seq, index, at, event]`, oldest first.
 */
export interface SavedTenantHistory {
  tenant: string;
  incarnation: number;
  after: [number, number | null];
  latestSeq: number;
  entries: [number, number, number, EngineEvent][];
}

class TenantHistory {
  /** Entries in position order from `head`. */
  entries: Entry[] = [];
  head = 0;
  dead = false;
  /** The tenant's incarnation (0 = unknown). */
  incarnation = 0;
  constructor(
    /** Every event after this position published on this node is in `entries` (or was evicted: moved). */
    public completeAfter: EventPosition,
    /** The newest log seq known (the load's, or the last event's). */
    public latestSeq: number,
  ) {}
  get size(): number {
    return this.entries.length - this.head;
  }
  shift(): Entry | undefined {
    const e = this.entries[this.head];
    if (!e) return undefined;
    this.entries[this.head] = undefined as unknown as Entry;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    return e;
  }
  /** Index in `entries` of the first entry after `p` (entries.length when none). */
  firstAfter(p: EventPosition): number {
    let lo = this.head;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (isAfter(this.entries[mid] as Entry, p)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

/** Node-wide bounded history of the tenants' recent events (see the file comment). */
export class EventHistory {
  private readonly tenants = new Map<string, TenantHistory>();
  /** One reference per entry appended, oldest first: whose entry to evict next (dead ones skipped). */
  private order: TenantHistory[] = [];
  private orderHead = 0;
  private total = 0;
  /** Events evicted to stay within the bound. */
  evicted = 0;

  /** `limit`: events kept at most on the node, all tenants together (0 = none: no resume in embedded mode). */
  constructor(readonly limit: number) {}

  /** Events kept now. */
  get size(): number {
    return this.total;
  }

  /**
   * The partition was loaded on this node with its log at `seq`: events after it are published here from
   * now on. A tenant already known keeps its history (every event since then passed through this node).
   */
  loaded(tenant: string, seq: number, incarnation = 0): void {
    const t = this.tenants.get(tenant);
    if (t) {
      if (seq > t.latestSeq) t.latestSeq = seq;
      if (incarnation !== 0) t.incarnation = incarnation;
      return;
    }
    const n = new TenantHistory({ seq, index: Number.POSITIVE_INFINITY }, seq);
    n.incarnation = incarnation;
    this.tenants.set(tenant, n);
  }

  /**
   * The partition was loaded from a snapshot at `fromSeq` and a log tail up to `seq`, whose replay
   * re-derived the events the tail's batches published (`tail`, in position order; `cut`: the older ones
   * were left out): a tenant this history does not know yet (the node's first load of it since it
   * started) gets them, so a watch resuming after a restart finds what it missed (from the snapshot on).
   * A tenant already known keeps its history instead (`loaded`): every event since then passed through.
   */
  refill(
    tenant: string,
    fromSeq: number,
    seq: number,
    incarnation: number,
    tail: readonly { seq: number; index: number; at: number; events: readonly EngineEvent[] }[],
    cut: boolean,
    saved?: SavedTenantHistory,
    /** Events of batch `fromSeq` (the snapshot's), if known: a position at its last one is complete. */
    fromSeqEvents?: number,
  ): void {
    if (this.tenants.has(tenant)) {
      this.loaded(tenant, seq, incarnation);
      return;
    }
    // What the last graceful stop saved, if it is of this incarnation and reaches the snapshot the load
    // started from (without going past the log's end): it continues with the tail after it.
    const usable =
      saved !== undefined &&
      saved.incarnation === incarnation &&
      saved.latestSeq >= fromSeq &&
      saved.latestSeq <= seq;
    this.loaded(tenant, usable ? saved.latestSeq : fromSeq, incarnation);
    const t = this.tenants.get(tenant) as TenantHistory;
    let from = fromSeq;
    if (fromSeqEvents !== undefined && fromSeq > 0)
      t.completeAfter = { seq: fromSeq, index: fromSeqEvents - 1 };
    if (usable) {
      t.completeAfter = { seq: saved.after[0], index: saved.after[1] ?? Number.POSITIVE_INFINITY };
      for (const [s, i, at, event] of saved.entries) this.add(tenant, s, i, at, event);
      from = saved.latestSeq;
    }
    const first = tail.find((c) => c.seq > from);
    // Older events of the tail were left out: complete only from just before the first one kept.
    if (!usable && cut && first) t.completeAfter = { seq: first.seq, index: first.index - 1 };
    for (const c of tail) {
      if (c.seq <= from) continue;
      for (let i = 0; i < c.events.length; i++)
        this.add(tenant, c.seq, c.index + i, c.at, c.events[i] as EngineEvent);
    }
    if (seq > t.latestSeq) t.latestSeq = seq;
  }

  /**
   * Every tenant's history, for a graceful stop to save (see `SavedTenantHistory`). The next start refills
   * them tenant by tenant as it loads them: its eviction order across tenants starts again from there.
   */
  save(): SavedTenantHistory[] {
    const out: SavedTenantHistory[] = [];
    for (const [tenant, t] of this.tenants) {
      const entries: SavedTenantHistory['entries'] = [];
      for (let i = t.head; i < t.entries.length; i++) {
        const e = t.entries[i] as Entry;
        entries.push([e.seq, e.index, e.at, e.event]);
      }
      const idx = t.completeAfter.index;
      out.push({
        tenant,
        incarnation: t.incarnation,
        after: [t.completeAfter.seq, Number.isFinite(idx) ? idx : null],
        latestSeq: t.latestSeq,
        entries,
      });
    }
    return out;
  }

  /** The tenant's incarnation became known: its log's first batch was appended (see `checkIncarnation`). */
  setIncarnation(tenant: string, incarnation: number): void {
    const t = this.tenants.get(tenant);
    if (t) t.incarnation = incarnation;
  }

  /**
   * How many events batch `seq` of the tenant published, when this history can tell (it is complete
   * from before the batch's first event, or holds some of it); else undefined.
   */
  eventsOfBatch(tenant: string, seq: number): number | undefined {
    const t = this.tenants.get(tenant);
    if (!t || this.limit <= 0 || seq > t.latestSeq) return undefined;
    const i = t.firstAfter({ seq, index: Number.POSITIVE_INFINITY }) - 1;
    const e = i >= t.head ? t.entries[i] : undefined;
    if (e && e.seq === seq) return e.index + 1;
    return comparePositions(t.completeAfter, { seq, index: -1 }) <= 0 ? 0 : undefined;
  }

  /** Whether the tenant has a history here (loaded since the node started, not deleted since). */
  knows(tenant: string): boolean {
    return this.tenants.has(tenant);
  }

  /** The tenant's incarnation (0 = unknown). */
  incarnationOf(tenant: string): number {
    return this.tenants.get(tenant)?.incarnation ?? 0;
  }

  /** An event published on this node (in position order per tenant). */
  add(tenant: string, seq: number, index: number, at: number, event: EngineEvent): void {
    let t = this.tenants.get(tenant);
    if (!t) {
      // Published before any load was reported (tests, or a host without loads): complete from here on.
      t = new TenantHistory({ seq, index: index - 1 }, seq);
      this.tenants.set(tenant, t);
    }
    if (seq > t.latestSeq) t.latestSeq = seq;
    const last = t.entries[t.entries.length - 1];
    // Kept in position order; an event at or before the newest kept one is not kept again.
    if (t.size > 0 && last && !isAfter({ seq, index }, last)) return;
    if (this.limit <= 0) {
      t.completeAfter = { seq, index };
      return;
    }
    t.entries.push({ seq, index, at, event });
    this.order.push(t);
    this.total++;
    while (this.total > this.limit) this.evictOne();
  }

  /** The tenant was deleted: its history goes (a tenant created again starts a new one). */
  drop(tenant: string): void {
    const t = this.tenants.get(tenant);
    if (!t) return;
    this.tenants.delete(tenant);
    t.dead = true;
    this.total -= t.size;
    t.entries = [];
    t.head = 0;
    // References to dead histories are skipped when evicting; drop them once they outnumber the live.
    if (this.order.length - this.orderHead > 2 * this.total + 1024) {
      this.order = this.order.slice(this.orderHead).filter((x) => !x.dead);
      this.orderHead = 0;
    }
  }

  private evictOne(): void {
    while (this.orderHead < this.order.length) {
      const t = this.order[this.orderHead] as TenantHistory;
      this.order[this.orderHead] = undefined as unknown as TenantHistory;
      this.orderHead++;
      if (this.orderHead > 4096 && this.orderHead * 2 > this.order.length) {
        this.order = this.order.slice(this.orderHead);
        this.orderHead = 0;
      }
      if (t.dead) continue;
      const e = t.shift();
      if (!e) continue;
      t.completeAfter = { seq: e.seq, index: e.index };
      this.total--;
      this.evicted++;
      return;
    }
  }

  /**
   * Refuses (SB_ERR_RESUME_POSITION_GONE) a position this history cannot serve: older than it is complete
   * from, or past the tenant's latest seq.
   */
  check(tenant: string, after: EventPosition): void {
    const t = this.tenants.get(tenant);
    if (!t)
      throw positionGone(
        after,
        'this node has no event history of the tenant (not loaded since the node started, or deleted)',
      );
    checkIncarnation(after, t.incarnation);
    if (after.seq > t.latestSeq)
      throw positionGone(
        after,
        `the tenant's log ends at seq ${t.latestSeq} (a position from another incarnation of the tenant?)`,
      );
    if (comparePositions(after, t.completeAfter) < 0)
      throw positionGone(
        after,
        `this node's event history of the tenant starts after ${formatPosition(t.completeAfter)} (--event-history)`,
      );
  }

  /**
   * Delivers the tenant's events matching `filter` after `after`, in position order, up to the newest one
   * kept when each step looks (events added meanwhile are delivered too). Walks by position, so evictions
   * and additions while the sink waits do not disturb it; an eviction past the walk's position refuses.
   */
  async backfill(filter: EventFilter, after: EventPosition, to: BackfillTo): Promise<void> {
    const { sink, stopped } = to;
    this.check(filter.tenant, after);
    to.checked();
    let pos = after;
    for (;;) {
      if (stopped()) return;
      const t = this.tenants.get(filter.tenant);
      if (!t) return; // deleted meanwhile: the live subscription ends the stream
      if (comparePositions(pos, t.completeAfter) < 0)
        throw positionGone(
          after,
          'the events after it were evicted from the history during the backfill (--event-history)',
        );
      const i = t.firstAfter(pos);
      const e = t.entries[i];
      if (!e) return;
      pos = { seq: e.seq, index: e.index };
      if (!matches(filter, e.event)) continue;
      const published: PublishedEvent = {
        tenant: filter.tenant,
        seq: e.seq,
        index: e.index,
        at: e.at,
        event: e.event,
      };
      if (t.incarnation !== 0) published.incarnation = t.incarnation;
      const wait = sink(published);
      if (wait) await wait;
    }
  }
}

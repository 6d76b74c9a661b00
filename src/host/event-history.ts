/**
 * Event positions and the embedded node's bounded history of recent events, from which a resumed
 * `WatchEvents` is backfilled (cluster mode reads the durable `SB_EVENTS` stream instead).
 *
 * A position is (`seq`, `index`): the log batch that produced the event and the event's place among all
 * of the tenant's events of that batch (whatever a watcher's filter), so it is the same for every watcher
 * and on every node. The history keeps, per tenant, the events published on this node in position order,
 * and how far back it is complete (`completeAfter`): from the partition's load on this node (events before
 * it were published by an earlier run of the node and are not kept across a restart), moved forward
 * whenever the node-wide bound evicts a tenant's oldest event. Evicting is first in, first out over all
 * tenants: the bound is the node's, so a busy tenant's history is shorter than a quiet one's in time.
 */
import type { EngineEvent } from '../engine/types.js';
import { SwitchboardError } from '../errors/catalogue.js';
import { matches } from './event-bus.js';
import type { EventFilter, PublishedEvent } from './router.js';

/** Where a resumed watch starts: after event (`seq`, `index`); `index` Infinity = after the whole batch. */
export interface EventPosition {
  seq: number;
  index: number;
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
  return Number.isFinite(p.index) ? `${p.seq}:${p.index}` : `${p.seq}`;
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

class TenantHistory {
  /** Entries in position order from `head`. */
  entries: Entry[] = [];
  head = 0;
  dead = false;
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
  loaded(tenant: string, seq: number): void {
    const t = this.tenants.get(tenant);
    if (t) {
      if (seq > t.latestSeq) t.latestSeq = seq;
      return;
    }
    this.tenants.set(tenant, new TenantHistory({ seq, index: Number.POSITIVE_INFINITY }, seq));
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
      const wait = sink({ tenant: filter.tenant, seq: e.seq, index: e.index, at: e.at, event: e.event });
      if (wait) await wait;
    }
  }
}

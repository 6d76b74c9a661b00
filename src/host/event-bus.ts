/**
 * Live event fan-out on the main thread: subscribers register per tenant with a filter; the host
 * publishes the events of each durable batch once. Filtering is cheap field comparison, so it stays
 * here rather than crossing to the worker.
 */
import type { EngineEvent } from '../engine/types.js';
import { type BackfillTo, EventHistory, type EventPosition } from './event-history.js';
import type { EventFilter, PublishedEvent } from './router.js';

type Subscriber = { filter: EventFilter; fn: (e: PublishedEvent) => void; onEnd?: (() => void) | undefined };

/**
 * Does `event` concern what `filter` asks for? An absent criterion matches everything. A transfer
 * concerns both ends: the agent and queue it left (`fromAgentId`, `fromQueueId`) as well as those it went
 * to, so an agent's desktop watching its own events learns that a conversation was taken away from it.
 * An end or a transfer also concerns every agent it released (`participants`, `fromParticipants`): an
 * escalation helper's desktop must learn that its seat is free.
 */
export function matches(filter: EventFilter, event: EngineEvent): boolean {
  if (filter.types && filter.types.length > 0 && !filter.types.includes(event.type)) return false;
  const e = event as {
    queueId?: string;
    fromQueueId?: string;
    agentId?: string;
    fromAgentId?: string | null;
    toAgentId?: string | null;
    conversationId?: string;
    participants?: readonly string[];
    fromParticipants?: readonly string[];
  };
  const q = filter.queueId;
  if (q !== undefined && e.queueId !== q && e.fromQueueId !== q) return false;
  const a = filter.agentId;
  if (
    a !== undefined &&
    e.agentId !== a &&
    e.fromAgentId !== a &&
    e.toAgentId !== a &&
    !e.participants?.includes(a) &&
    !e.fromParticipants?.includes(a)
  )
    return false;
  if (filter.conversationId !== undefined && e.conversationId !== filter.conversationId) return false;
  return true;
}

/**
 * Tenant-scoped publish/subscribe of engine events. Numbers each event within its batch (`index`: the
 * host publishes a batch's events in order, command by command) and keeps the recent ones in a bounded
 * history (`EventHistory`) for resumed watches.
 */
export class EventBus {
  private readonly byTenant = new Map<string, Set<Subscriber>>();
  /** Per tenant: the seq of the last batch published and the index of its next event. */
  private readonly next = new Map<string, { seq: number; index: number }>();
  readonly history: EventHistory;

  /** `historyLimit`: events kept for resumed watches, node-wide (0 = none). */
  constructor(historyLimit = 0) {
    this.history = new EventHistory(historyLimit);
  }

  /** The partition was loaded with its log at `seq` (see `EventHistory.loaded`). */
  loaded(tenant: string, seq: number, incarnation = 0): void {
    this.history.loaded(tenant, seq, incarnation);
  }

  /** The tenant's events after `after` from the history (see `EventHistory.backfill`). */
  backfill(filter: EventFilter, after: EventPosition, to: BackfillTo): Promise<void> {
    return this.history.backfill(filter, after, to);
  }

  /** `onEnd`: called (once, instead of further events) when the tenant is deleted (`end`). */
  subscribe(filter: EventFilter, fn: (e: PublishedEvent) => void, onEnd?: () => void): () => void {
    let set = this.byTenant.get(filter.tenant);
    if (!set) {
      set = new Set();
      this.byTenant.set(filter.tenant, set);
    }
    const sub = { filter, fn, onEnd };
    set.add(sub);
    return () => {
      set.delete(sub);
      if (set.size === 0 && this.byTenant.get(filter.tenant) === set) this.byTenant.delete(filter.tenant);
    };
  }

  /** The tenant was deleted: every subscription of it ends (`onEnd`) and is dropped. */
  end(tenant: string): void {
    this.history.drop(tenant);
    this.next.delete(tenant);
    const set = this.byTenant.get(tenant);
    if (!set) return;
    this.byTenant.delete(tenant);
    for (const sub of set) {
      try {
        sub.onEnd?.();
      } catch {
        // A broken subscriber must not stop the others from ending.
      }
    }
  }

  hasSubscribers(tenant: string): boolean {
    return this.byTenant.has(tenant);
  }

  /** `rederived`: number of the load that re-derived these events from the log (0 = live). */
  publish(tenant: string, seq: number, at: number, events: readonly EngineEvent[], rederived = 0): void {
    let n = this.next.get(tenant);
    if (!n) {
      n = { seq, index: 0 };
      this.next.set(tenant, n);
    } else if (n.seq !== seq) {
      n.seq = seq;
      n.index = 0;
    }
    const first = n.index;
    n.index += events.length;
    // Re-derived events (a reload after a worker failure) are the orphans' events, never published.
    for (let i = 0; i < events.length; i++)
      this.history.add(tenant, seq, first + i, at, events[i] as EngineEvent);
    const set = this.byTenant.get(tenant);
    if (!set) return;
    const incarnation = this.history.incarnationOf(tenant);
    for (let i = 0; i < events.length; i++) {
      const event = events[i] as EngineEvent;
      const index = first + i;
      let published: PublishedEvent | null = null;
      for (const sub of set) {
        if (!matches(sub.filter, event)) continue;
        if (!published) {
          published = { tenant, seq, index, at, event };
          if (incarnation !== 0) published.incarnation = incarnation;
          if (rederived > 0) published.rederived = rederived;
        }
        try {
          sub.fn(published);
        } catch {
          // A broken subscriber (closed stream) must not stop delivery to the others.
        }
      }
    }
  }
}

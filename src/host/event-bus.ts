/**
 * Live event fan-out on the main thread: subscribers register per tenant with a filter; the host
 * publishes the events of each durable batch once. Filtering is cheap field comparison, so it stays
 * here rather than crossing to the worker.
 */
import type { EngineEvent } from '../engine/types.js';
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

/** Tenant-scoped publish/subscribe of engine events. */
export class EventBus {
  private readonly byTenant = new Map<string, Set<Subscriber>>();

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
    const set = this.byTenant.get(tenant);
    if (!set) return;
    for (const event of events) {
      let published: PublishedEvent | null = null;
      for (const sub of set) {
        if (!matches(sub.filter, event)) continue;
        published ??= rederived > 0 ? { tenant, seq, at, event, rederived } : { tenant, seq, at, event };
        try {
          sub.fn(published);
        } catch {
          // A broken subscriber (closed stream) must not stop delivery to the others.
        }
      }
    }
  }
}

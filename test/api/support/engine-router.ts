/**
 * An in-memory `PartitionRouter` for the API tests: one real engine (`createEngine`) per tenant, applied
 * synchronously, events published to subscribers — the API's whole contract with the partition host,
 * without worker threads or a command log.
 *
 * Knobs for transport tests: `delayMs` (a slow partition, for deadlines), `failNext` and `isReady`.
 */
import type { Engine, Query, QueryResult } from '../../../src/engine/api.js';
import { createEngine } from '../../../src/engine/index.js';
import type { ApplyResult, CommandEnvelope } from '../../../src/engine/types.js';
import { SwitchboardError } from '../../../src/errors/catalogue.js';
import type { EventFilter, PartitionRouter, PublishedEvent } from '../../../src/host/router.js';

type EngineFactory = (partition: string) => Engine;

function matches(f: EventFilter, p: PublishedEvent): boolean {
  if (f.tenant !== p.tenant) return false;
  const e = p.event as { type: string; queueId?: string; agentId?: string; conversationId?: string };
  if (f.types && !f.types.includes(e.type)) return false;
  if (f.queueId !== undefined && e.queueId !== f.queueId) return false;
  if (f.agentId !== undefined && e.agentId !== f.agentId) return false;
  if (f.conversationId !== undefined && e.conversationId !== f.conversationId) return false;
  return true;
}

export class InMemoryRouter implements PartitionRouter {
  readonly engines = new Map<string, Engine>();
  private readonly subscribers = new Set<{ filter: EventFilter; onEvent: (e: PublishedEvent) => void }>();
  private seq = 0;
  delayMs = 0;
  isReady = true;
  /** Errors the next submits throw, one each (a node refusing: overload, a partition moving). */
  readonly failNext: SwitchboardError[] = [];
  /** Every envelope that reached an engine, for idempotency assertions. */
  readonly submitted: CommandEnvelope[] = [];

  constructor(private readonly create: EngineFactory = (p) => createEngine(p)) {}

  engine(tenant: string): Engine {
    let e = this.engines.get(tenant);
    if (e === undefined) {
      e = this.create(tenant);
      this.engines.set(tenant, e);
    }
    return e;
  }

  async submit(tenant: string, env: CommandEnvelope, deadlineMs?: number): Promise<ApplyResult> {
    const refusal = this.failNext.shift();
    if (refusal) throw refusal;
    if (this.delayMs > 0) {
      if (deadlineMs !== undefined && deadlineMs < this.delayMs) {
        await new Promise((r) => setTimeout(r, deadlineMs));
        throw new SwitchboardError(
          'SB_ERR_DEADLINE_EXCEEDED',
          'the deadline passed before the command was durable',
        );
      }
      await new Promise((r) => setTimeout(r, this.delayMs));
    }
    this.submitted.push(env);
    const r = this.engine(tenant).apply(env);
    if (r.ok) {
      const seq = ++this.seq;
      for (const event of r.events) {
        const p: PublishedEvent = { tenant, seq, at: env.at, event };
        for (const s of this.subscribers) if (matches(s.filter, p)) s.onEvent(p);
      }
    }
    return r;
  }

  async query(tenant: string, q: Query): Promise<QueryResult> {
    return this.engine(tenant).query(q, Date.now());
  }

  subscribe(filter: EventFilter, onEvent: (e: PublishedEvent) => void): () => void {
    const s = { filter, onEvent };
    this.subscribers.add(s);
    return () => this.subscribers.delete(s);
  }

  /** Publishes an event to the subscribers as a partition would (to flood a watcher in a test). */
  emit(tenant: string, event: PublishedEvent['event']): void {
    const p: PublishedEvent = { tenant, seq: ++this.seq, at: Date.now(), event };
    for (const s of this.subscribers) if (matches(s.filter, p)) s.onEvent(p);
  }

  /** Live subscriptions (a cancelled watcher must not leave one behind). */
  get subscriberCount(): number {
    return this.subscribers.size;
  }

  ready(): boolean {
    return this.isReady;
  }

  digest(tenant: string): string {
    const r = this.engine(tenant).query({ type: 'digest' }, Date.now());
    return r.type === 'digest' ? r.digest : '';
  }
}

/**
 * Emits ~500-byte alert events to the tenant's watchers, `perTurn` per event-loop turn, until every
 * watcher is gone (cut off by the node) or `max` were sent; returns how many were sent.
 */
export async function floodWatchers(
  router: InMemoryRouter,
  tenant: string,
  max: number,
  perTurn: number,
): Promise<number> {
  const note = 'x'.repeat(400);
  let sent = 0;
  while (router.subscriberCount > 0 && sent < max) {
    for (let i = 0; i < perTurn; i++, sent++) {
      router.emit(tenant, {
        type: 'alert',
        alert: 'queue_over_capacity',
        queueId: note,
        agentId: note,
        value: 1,
      });
    }
    await new Promise((r) => setImmediate(r));
  }
  return sent;
}

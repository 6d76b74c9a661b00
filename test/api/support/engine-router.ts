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
import { EventBus } from '../../../src/host/event-bus.js';
import type { BackfillTo, EventPosition } from '../../../src/host/event-history.js';
import type { EventFilter, PartitionRouter, PublishedEvent } from '../../../src/host/router.js';

type EngineFactory = (partition: string) => Engine;

export class InMemoryRouter implements PartitionRouter {
  readonly engines = new Map<string, Engine>();
  private readonly subscribers = new Set<{ filter: EventFilter; onEvent: (e: PublishedEvent) => void }>();
  /** The node's real event bus and history (embedded mode's resume); replace it for another bound. */
  bus = new EventBus(10_000);
  /** Tenants whose (blank) load was reported to the bus: their history is complete from seq 0. */
  private readonly born = new Set<string>();
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
      if (r.events.length > 0) this.publish(tenant, seq, env.at, r.events);
    }
    return r;
  }

  async query(tenant: string, q: Query): Promise<QueryResult> {
    return this.engine(tenant).query(q, Date.now());
  }

  subscribe(filter: EventFilter, onEvent: (e: PublishedEvent) => void): () => void {
    const s = { filter, onEvent };
    this.subscribers.add(s);
    const off = this.bus.subscribe(filter, onEvent);
    return () => {
      off();
      this.subscribers.delete(s);
    };
  }

  backfill(filter: EventFilter, after: EventPosition, to: BackfillTo): Promise<void> {
    return this.bus.backfill(filter, after, to);
  }

  /** Publishes an event to the subscribers as a partition would (to flood a watcher in a test). */
  emit(tenant: string, event: PublishedEvent['event']): void {
    this.publish(tenant, ++this.seq, Date.now(), [event]);
  }

  /** Publishes one batch of several events (they share a seq, indexed 0, 1, ...); returns its seq. */
  emitBatch(tenant: string, events: PublishedEvent['event'][]): number {
    const seq = ++this.seq;
    this.publish(tenant, seq, Date.now(), events);
    return seq;
  }

  /** As the host does: a tenant is loaded (here: blank, at seq 0) before its first events. */
  private publish(tenant: string, seq: number, at: number, events: PublishedEvent['event'][]): void {
    if (!this.born.has(tenant)) {
      this.born.add(tenant);
      this.bus.loaded(tenant, 0);
    }
    this.bus.publish(tenant, seq, at, events);
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

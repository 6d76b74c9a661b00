/**
 * The event publisher's guarantees that takeover recovery builds on: a log batch's events are one message;
 * a re-published batch (same id) is stored once; `flush(tenant)` waits for exactly the events handed over before it; a snapshot is not
 * saved while its tenant's events cannot be stored (NATS down), and is once they are.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventFlushingSnapshotStore } from '../../src/cluster/nats/event-flushing-snapshots.js';
import {
  type EventBatch,
  EventBatchGatherer,
  JetStreamEventPublisher,
  unpackEventBatch,
} from '../../src/cluster/nats/events.js';
import type { SnapshotStore, StoredSnapshot } from '../../src/cluster/ports.js';
import type { PublishedEvent } from '../../src/host/router.js';
import { storedSnapshot } from '../support/contracts.js';
import { type NatsServer, startNatsServer } from '../support/nats-server.js';

let nats: NatsServer & { cleanup(): Promise<void> };
let nc: NatsConnection;
const stream = `SB_EVENTS_P${process.pid}`;
const subjectPrefix = `sbp${process.pid}.evt`;

beforeAll(async () => {
  // Its own server: the last test stops and restarts it.
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
});

afterAll(async () => {
  await nc?.close().catch(() => {});
  await nats?.cleanup();
});

const ev = (seq: number, agent: string): EventBatch['events'][number] => ({
  at: 1_700_000_000_000 + seq,
  event: { type: 'presence_changed', agentId: agent, presence: 'online', reason: 'agent' } as never,
});
const batch = (seq: number, n: number) => Array.from({ length: n }, (_, i) => ev(seq, `agent-${i}`));

async function messages(): Promise<number> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.info(stream)).state.messages;
}

class MemoryStore implements SnapshotStore {
  saved: StoredSnapshot[] = [];
  async save(s: StoredSnapshot): Promise<void> {
    this.saved.push(s);
  }
  async load(): Promise<StoredSnapshot | null> {
    return null;
  }
  async close(): Promise<void> {}
}

describe('JetStream event publisher', () => {
  it('stores a batch as one message, a re-published batch once, and flushes what was handed over', async () => {
    const pub = await JetStreamEventPublisher.open(nc, { stream, subjectPrefix });
    for (let seq = 1; seq <= 20; seq++) pub.publishBatch('acme', seq, batch(seq, 5));
    expect(pub.pending('acme')).toBeGreaterThan(0);
    await pub.flush('acme');
    expect(pub.pending('acme')).toBe(0);
    expect(await messages()).toBe(20);
    // The next owner re-derives batches 11..20 and publishes them again with the same ids.
    for (let seq = 11; seq <= 20; seq++) pub.publishBatch('acme', seq, batch(seq, 5));
    await pub.flush('acme');
    expect(await messages()).toBe(20);
    expect(pub.published).toBe(30);
    expect(pub.failed).toBe(0);
    // The stored message is the batch: its events in order, under the tenant's subject.
    const jsm = await jetstreamManager(nc);
    const m = await jsm.streams.getMessage(stream, { last_by_subj: `${subjectPrefix}.acme` });
    const stored = m?.json<EventBatch>();
    expect(stored?.seq).toBe(20);
    expect(m?.header.get('Nats-Msg-Id')).toBe('acme:20');
    expect(stored && unpackEventBatch(stored).map((e) => (e.event as { agentId: string }).agentId)).toEqual(
      batch(20, 5).map((e) => (e.event as { agentId: string }).agentId),
    );
    pub.close();
  });

  it('gathers the events a host releases in one run into one batch per log seq', async () => {
    const out: { seq: number; n: number }[] = [];
    const g = new EventBatchGatherer('acme', (_t, seq, evs) => out.push({ seq, n: evs.length }));
    const pe = (seq: number, rederived?: number): PublishedEvent => ({
      tenant: 'acme',
      ...ev(seq, 'agent-1'),
      seq,
      ...(rederived ? { rederived } : {}),
    });
    for (const e of [pe(3), pe(3), pe(4), pe(4), pe(4)]) g.add(e);
    await Promise.resolve();
    // The same seq re-derived by a load is a batch of its own, never merged with the live one.
    for (const e of [pe(4, 1), pe(5, 1)]) g.add(e);
    await Promise.resolve();
    expect(out).toEqual([
      { seq: 3, n: 2 },
      { seq: 4, n: 3 },
      { seq: 4, n: 1 },
      { seq: 5, n: 1 },
    ]);
  });

  it('a snapshot waits for its tenant’s events; with NATS down it is refused, not saved', async () => {
    const pub = await JetStreamEventPublisher.open(nc, { stream, subjectPrefix });
    const inner = new MemoryStore();
    const store = new EventFlushingSnapshotStore(inner, pub, 1500);
    pub.publishBatch('globex', 1, [ev(1, 'agent-1')]);
    await store.save(storedSnapshot('globex', 1));
    expect(inner.saved).toHaveLength(1);
    expect(pub.pending('globex')).toBe(0);

    await nats.kill();
    pub.publishBatch('globex', 2, [ev(2, 'agent-1')]);
    await expect(store.save(storedSnapshot('globex', 2))).rejects.toThrow(/not all stored/);
    expect(inner.saved).toHaveLength(1);

    // Back up: the publisher re-sends on its own and the next snapshot goes through.
    await nats.start();
    await store.save(storedSnapshot('globex', 2));
    expect(inner.saved.map((s) => s.seq)).toEqual([1, 2]);
    expect(pub.failed).toBe(0);
    pub.close();
  }, 30_000);
});

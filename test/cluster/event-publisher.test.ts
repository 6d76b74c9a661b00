/**
 * The event publisher's guarantees that takeover recovery builds on: batches are gathered into few messages
 * and stored in log order, each once, whichever nodes publish them; `flush(tenant)` waits for exactly the events handed over before it; a snapshot is not
 * saved while its tenant's events cannot be stored (NATS down), and is once they are; a deleted tenant's
 * events are purged and none of its unstored ones is sent after.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventFlushingSnapshotStore } from '../../src/cluster/nats/event-flushing-snapshots.js';
import {
  type EventBatch,
  EventBatchGatherer,
  JetStreamEventPublisher,
  purgeTenantEvents,
  subscribeClusterEvents,
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

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

/** Log seqs of the tenant's stored events, one per event batch, in stream order. */
async function storedSeqs(tenant: string): Promise<number[]> {
  const jsm = await jetstreamManager(nc);
  const out: number[] = [];
  const last = (await jsm.streams.info(stream)).state.last_seq;
  for (let seq = 1; seq <= last; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (!m || m.subject !== `${subjectPrefix}.${tenant}`) continue;
    for (const e of unpackEventBatch(m.json<EventBatch>())) if (out.at(-1) !== e.seq) out.push(e.seq);
  }
  return out;
}

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
  async storedSeq(): Promise<number> {
    return 0;
  }
  async close(): Promise<void> {}
}

describe('JetStream event publisher', () => {
  it('gathers batches into few messages, in log order, each batch once — across owners too', async () => {
    const pub = await JetStreamEventPublisher.open(nc, { stream, subjectPrefix });
    for (let seq = 1; seq <= 20; seq++) pub.publishBatch('acme', seq, batch(seq, 5));
    expect(pub.pending('acme')).toBeGreaterThan(0);
    await pub.flush('acme');
    expect(pub.pending('acme')).toBe(0);
    // One in flight per tenant and one per 10 ms: 20 batches handed over at once are a few messages.
    expect(await messages()).toBeLessThan(20);
    expect(await storedSeqs('acme')).toEqual(range(1, 20));
    // A reload on the same node re-derives batches 11..20: dropped, they were handed over already.
    for (let seq = 11; seq <= 20; seq++) pub.publishBatch('acme', seq, batch(seq, 5));
    expect(pub.pending('acme')).toBe(0);
    // The next owner re-derives the tail 11..22 with a fresh publisher: it looks up where the stream
    // ends and sends only 21 and 22.
    const next = await JetStreamEventPublisher.open(nc, { stream, subjectPrefix });
    for (let seq = 11; seq <= 22; seq++) next.publishBatch('acme', seq, batch(seq, 5));
    await next.flush('acme');
    expect(await storedSeqs('acme')).toEqual(range(1, 22));
    expect(next.skipped).toBe(10);
    // The stored message is the gathered batches: their events in order, under the tenant's subject.
    const jsm = await jetstreamManager(nc);
    const m = await jsm.streams.getMessage(stream, { last_by_subj: `${subjectPrefix}.acme` });
    const stored = m?.json<EventBatch>();
    expect(stored?.seq).toBe(22);
    expect(m?.header.get('Nats-Msg-Id')).toBe('acme:22');
    expect(stored && unpackEventBatch(stored).map((e) => (e.event as { agentId: string }).agentId)).toEqual(
      [...batch(21, 5), ...batch(22, 5)].map((e) => (e.event as { agentId: string }).agentId),
    );
    expect(pub.failed + next.failed).toBe(0);
    pub.close();
    next.close();
  });

  it('two nodes publishing one tenant at once (old owner’s last batches, new owner’s tail) store each batch once', async () => {
    const old = await JetStreamEventPublisher.open(nc, { stream, subjectPrefix, coalesceMs: 0 });
    const next = await JetStreamEventPublisher.open(nc, { stream, subjectPrefix, coalesceMs: 0 });
    // What the new owner's snapshot covers (seq 10) the old owner had stored: a snapshot is saved only
    // once its tenant's events are (EventFlushingSnapshotStore). Without that, a new owner that stored
    // its tail first would make the old owner's earlier batches look stored.
    for (let seq = 1; seq <= 10; seq++) old.publishBatch('hooli', seq, batch(seq, 2));
    await old.flush('hooli');
    // Then both at once: the new owner looks up where the stream ends while the old owner appends its
    // last batches (11-30) on top, so the new owner's tail (11-40) is refused once and resumes after 30.
    for (let seq = 11; seq <= 30; seq++) {
      next.publishBatch('hooli', seq, batch(seq, 2));
      old.publishBatch('hooli', seq, batch(seq, 2));
    }
    for (let seq = 31; seq <= 40; seq++) next.publishBatch('hooli', seq, batch(seq, 2));
    await Promise.all([old.flush('hooli'), next.flush('hooli')]);
    expect(await storedSeqs('hooli')).toEqual(range(1, 40));
    expect(old.conflicts + next.conflicts).toBeGreaterThan(0);
    old.close();
    next.close();
  });

  it('live listeners on any node get every batch from the stream subject, the stream stores each once', async () => {
    const pub = await JetStreamEventPublisher.open(nc, { stream, subjectPrefix, coalesceMs: 50 });
    const seen: number[] = [];
    const off = subscribeClusterEvents(nc, { tenant: 'initech' }, (e) => seen.push(e.seq), subjectPrefix);
    await nc.flush();
    pub.publishBatch('initech', 1, batch(1, 1));
    pub.publishBatch('initech', 2, batch(2, 1));
    await pub.flush('initech');
    await nc.flush();
    expect(seen).toEqual([1, 2]);
    expect(await storedSeqs('initech')).toEqual([1, 2]);
    off();
    pub.close();
  });

  it('gathers the events a host releases in one run into one batch per log seq', async () => {
    const out: { seq: number; n: number }[] = [];
    const g = new EventBatchGatherer('acme', (_t, seq, evs) => out.push({ seq, n: evs.length }));
    const pe = (seq: number, rederived?: number): PublishedEvent => ({
      tenant: 'acme',
      ...ev(seq, 'agent-1'),
      seq,
      index: 0,
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

  it('remove (DeleteTenant) purges a tenant’s stored events and sends none of its unstored ones after, others untouched', async () => {
    const pub = await JetStreamEventPublisher.open(nc, { stream, subjectPrefix, coalesceMs: 30 });
    for (let seq = 1; seq <= 5; seq++) pub.publishBatch('initech', seq, batch(seq, 2));
    for (let seq = 1; seq <= 3; seq++) pub.publishBatch('umbrella', seq, batch(seq, 2));
    await pub.flush();
    expect(await storedSeqs('initech')).toEqual(range(1, 5));
    // Handed over and not stored yet (one in flight, the rest gathering) when the deletion purges.
    for (let seq = 6; seq <= 10; seq++) pub.publishBatch('initech', seq, batch(seq, 2));
    expect(pub.pending('initech')).toBeGreaterThan(0);
    await pub.remove('initech');
    expect(pub.pending('initech')).toBe(0);
    await pub.flush();
    await new Promise((r) => setTimeout(r, 300));
    expect(await storedSeqs('initech')).toEqual([]);
    expect(await storedSeqs('umbrella')).toEqual(range(1, 3));
    // Idempotent; and a tenant created again under the same id starts a new event subject.
    await pub.remove('initech');
    pub.publishBatch('initech', 11, batch(11, 1));
    await pub.flush('initech');
    expect(await storedSeqs('initech')).toEqual([11]);
    pub.close();
    // A cluster without the event stream (`--event-stream off` from the start) has nothing to purge.
    await expect(
      purgeTenantEvents(await jetstreamManager(nc), 'initech', { stream: `NO_SUCH_${stream}` }),
    ).resolves.toBeUndefined();
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
    // The attempts NATS missed were retried until stored, once each.
    expect(await storedSeqs('globex')).toEqual([1, 2]);
    pub.close();
  }, 30_000);
});

/**
 * The event publisher's guarantees that takeover recovery builds on: a re-published event (same id) is
 * stored once; `flush(tenant)` waits for exactly the events handed over before it; a snapshot is not
 * saved while its tenant's events cannot be stored (NATS down), and is once they are.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventFlushingSnapshotStore } from '../../src/cluster/nats/event-flushing-snapshots.js';
import { JetStreamEventPublisher } from '../../src/cluster/nats/events.js';
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

const ev = (tenant: string, seq: number, agent: string): PublishedEvent => ({
  tenant,
  seq,
  at: 1_700_000_000_000 + seq,
  event: { type: 'presence_changed', agentId: agent, presence: 'online', reason: 'agent' } as never,
});

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
  it('stores a re-published event once and flushes what was handed over before the flush', async () => {
    const pub = await JetStreamEventPublisher.open(nc, { stream, subjectPrefix });
    for (let i = 0; i < 50; i++) pub.publish(ev('acme', 7, `agent-${i}`), i);
    expect(pub.pending('acme')).toBeGreaterThan(0);
    await pub.flush('acme');
    expect(pub.pending('acme')).toBe(0);
    expect(await messages()).toBe(50);
    // The next owner re-derives batch 7 and publishes it again with the same ids.
    for (let i = 0; i < 50; i++) pub.publish(ev('acme', 7, `agent-${i}`), i);
    await pub.flush('acme');
    expect(await messages()).toBe(50);
    expect(pub.published).toBe(100);
    expect(pub.failed).toBe(0);
    pub.close();
  });

  it('a snapshot waits for its tenant’s events; with NATS down it is refused, not saved', async () => {
    const pub = await JetStreamEventPublisher.open(nc, { stream, subjectPrefix });
    const inner = new MemoryStore();
    const store = new EventFlushingSnapshotStore(inner, pub, 1500);
    pub.publish(ev('globex', 1, 'agent-1'), 0);
    await store.save(storedSnapshot('globex', 1));
    expect(inner.saved).toHaveLength(1);
    expect(pub.pending('globex')).toBe(0);

    await nats.kill();
    pub.publish(ev('globex', 2, 'agent-1'), 0);
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

import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamSnapshotStore } from '../../src/cluster/nats/snapshot-store.js';
import { snapshotStoreContract, storedSnapshot } from '../support/contracts.js';
import { natsForTest } from '../support/nats-server.js';

let nats: Awaited<ReturnType<typeof natsForTest>>;
let nc: NatsConnection;
const stream = `SB_SNAPSHOTS_T${process.pid}`;
const subjectPrefix = `sbt${process.pid}.snap`;

beforeAll(async () => {
  nats = await natsForTest('jetstream-snapshots');
  nc = await connect({ servers: nats.urls });
  console.log(
    '[jetstream-snapshots] SnapshotStore stores under test: JetStreamSnapshotStore (single server)',
  );
});

afterAll(async () => {
  await nc?.close();
  await nats?.cleanup();
});

snapshotStoreContract('JetStream', () => JetStreamSnapshotStore.open(nc, { stream, subjectPrefix }));
snapshotStoreContract('JetStream (tiny chunks)', () =>
  JetStreamSnapshotStore.open(nc, { stream, subjectPrefix, chunkBytes: 64 }),
);

describe('JetStream snapshot chunks', () => {
  it('a snapshot of many waiting conversations spans chunks and loads back exactly', async () => {
    const store = await JetStreamSnapshotStore.open(nc, { stream, subjectPrefix, chunkBytes: 1000 });
    const p = `acme-big-${Date.now()}`;
    const waiting = Array.from({ length: 500 }, (_, i) => ({
      id: `conv-${i}`,
      queue: 'chat-billing',
      priority: i % 10,
    }));
    await store.save(storedSnapshot(p, 7, { waiting }));
    await store.save(storedSnapshot(p, 12, { waiting: waiting.slice(100) }));
    const loaded = await store.load(p);
    expect(loaded?.seq).toBe(12);
    expect(loaded?.snapshot.state).toEqual({ waiting: waiting.slice(100) });
  });
});

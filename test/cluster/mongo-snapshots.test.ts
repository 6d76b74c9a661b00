import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoSnapshotStore } from '../../src/cluster/mongo/snapshot-store.js';
import { storedSnapshot as snap, snapshotStoreContract } from '../support/contracts.js';
import {
  type AvailableMongoTarget,
  mongoTargetName,
  mongoTargets,
  type RunningMongo,
  startMongo,
} from '../support/ferretdb.js';

// Every store available runs the whole file: FerretDB when installed and MONGO_URL when given.
const { available, missing } = mongoTargets();
const targets = available.map((target) => ({ name: mongoTargetName(target), target }));
console.log(
  `[mongo-snapshots] SnapshotStore stores under test: ${targets.map((t) => t.name).join(', ') || 'none'}` +
    (missing.length > 0 ? ` (not run: ${missing.join('; ')})` : ''),
);

const prefix = `t${process.pid}_`;
// Small limits so the chunked path runs with kilobytes, not 16 MB documents.
const chunkedOpts = { prefix, inlineLimitBytes: 1024, chunkBytes: 700 };

describe('MongoSnapshotStore', () => {
  // With no store at all the skip is reported, with the reason, rather than the file holding no tests.
  if (targets.length === 0) it.skip(`needs a MongoDB-wire store: ${missing.join('; ')}`, () => {});
  describe.each(targets)('on $name', ({ name, target }: { name: string; target: AvailableMongoTarget }) => {
    let mongo: RunningMongo | null = null;
    let client: MongoClient | null = null;

    beforeAll(async () => {
      mongo = await startMongo(target);
      client = new MongoClient(mongo.url, { serverSelectionTimeoutMS: 5000 });
      await client.connect();
      console.log(`[mongo-snapshots] running against ${mongo.label}`);
    });

    afterAll(async () => {
      await client
        ?.db('switchboard_test')
        .dropDatabase()
        .catch(() => {});
      await client?.close();
      await mongo?.cleanup();
    });

    const open = (opts = { prefix }) =>
      MongoSnapshotStore.connect(client as MongoClient, { db: 'switchboard_test', ...opts });

    // MongoDB applies a filtered replaceOne atomically per document, which the newest-wins rule relies on;
    // FerretDB v1 on SQLite does not (two concurrent ones: the older seq sometimes overwrites the newer).
    const noAtomicWrites =
      target.kind === 'ferretdb'
        ? 'FerretDB v1 does not apply a filtered replaceOne atomically against a concurrent one (the older seq can win); run with MONGO_URL for this case'
        : undefined;

    snapshotStoreContract(`MongoDB (inline) on ${name}`, () => open(), { noAtomicWrites });
    snapshotStoreContract(`MongoDB (chunked) on ${name}`, () => open(chunkedOpts), {
      noAtomicWrites,
    });

    it('a snapshot larger than one chunk is split, reassembled exactly, and old chunks are removed', async () => {
      const store = await open(chunkedOpts);
      const p = `acme-big-${Date.now()}`;
      const waiting = Array.from({ length: 200 }, (_, i) => ({
        id: `conv-${i}`,
        queue: 'billing',
        priority: i % 10,
      }));
      await store.save(snap(p, 5, { waiting }));
      const chunks = client?.db('switchboard_test').collection(`${prefix}snapshot_chunks`);
      const first = await chunks?.countDocuments({ partition: p, seq: 5 });
      expect(first).toBeGreaterThan(3);
      expect((await store.load(p))?.snapshot.state).toEqual({ waiting });
      await store.save(snap(p, 9, { waiting: waiting.slice(0, 150) }));
      expect(await chunks?.countDocuments({ partition: p, seq: 5 })).toBe(0);
      expect((await store.load(p))?.seq).toBe(9);
    });

    it('a retried save of the stored seq (ack lost) leaves the stored chunked snapshot loadable', async () => {
      const store = await open(chunkedOpts);
      const p = `acme-retry-${Date.now()}`;
      const waiting = Array.from({ length: 120 }, (_, i) => ({ id: `conv-${i}`, queue: 'billing' }));
      await store.save(snap(p, 7, { waiting }));
      await store.save(snap(p, 7, { waiting }));
      expect((await store.load(p))?.snapshot.state).toEqual({ waiting });
      const head = await client
        ?.db('switchboard_test')
        .collection(`${prefix}snapshots`)
        .findOne({ _id: p } as never);
      expect(head?.seq).toBe(7);
    });
  });
});

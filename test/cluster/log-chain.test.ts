/**
 * The command log's chain (found in review): a node whose snapshot store does not hold a partition's
 * snapshot (started without `--mongo-url` beside nodes with it, an emptied or replaced database, a lost
 * snapshot head) loaded "no snapshot" and replayed the log from 0 — but the log had been trimmed below
 * that snapshot, so it served the tenant without everything before the trim ("acknowledged missing 701 of
 * 701", `partition recovered snapshotSeq 0`, no error). Each batch now names the partition's batch before
 * it (`Sb-Prev`); a load whose first batch after its snapshot names a later one refuses the partition.
 * And a node whose snapshot store is not the one the cluster's log records refuses to start.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoSnapshotStore } from '../../src/cluster/mongo/snapshot-store.js';
import { encodeBatch, JetStreamCommandLog } from '../../src/cluster/nats/command-log.js';
import { createClusterPorts } from '../../src/cluster/nats/index.js';
import { LeaseFencedCommandLog } from '../../src/cluster/nats/lease-fenced-log.js';
import { JetStreamSnapshotStore } from '../../src/cluster/nats/snapshot-store.js';
import {
  type Ownership,
  type OwnershipChange,
  type SnapshotStore,
  systemClock,
} from '../../src/cluster/ports.js';
import { agentConfig, conversation, queueConfig } from '../../src/engine/fixtures.js';
import type { Command, CommandEnvelope } from '../../src/engine/types.js';
import { PartitionHost } from '../../src/host/partition-host.js';
import { createWorkerPool } from '../../src/host/worker-pool.js';
import { createNodeMetrics } from '../../src/metrics/index.js';
import { findFerretDb, type RunningMongo, startMongo } from '../support/ferretdb.js';
import { startNatsServer } from '../support/nats-server.js';
import { waitFor } from '../support/wait-for.js';

let nats: Awaited<ReturnType<typeof startNatsServer>>;
let nc: NatsConnection;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
}, 60_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  await nc?.close().catch(() => {});
  await nats?.cleanup();
});

class TestOwnership implements Ownership {
  readonly nodeId = 'n';
  async start() {}
  async acquire() {
    return true;
  }
  owns() {
    return true;
  }
  ownerOf() {
    return this.nodeId;
  }
  onChange(_l: (c: OwnershipChange) => void) {
    return () => {};
  }
  async stop() {}
}

let streams = 0;
function names() {
  const k = `${process.pid}_${++streams}`;
  return {
    log: { stream: `CHAIN_CMD_${k}`, subjectPrefix: `chain${k}.cmd`, storage: 'memory' as const },
    x: { stream: `CHAIN_SNAPX_${k}`, subjectPrefix: `chain${k}.snapx`, storage: 'memory' as const },
    y: { stream: `CHAIN_SNAPY_${k}`, subjectPrefix: `chain${k}.snapy`, storage: 'memory' as const },
  };
}

interface Node {
  host: PartitionHost;
  log: JetStreamCommandLog;
  lines: Record<string, unknown>[];
  registry: Registry;
  stop(): Promise<void>;
}

/** A cluster-mode host over its own connection to the log `logOpts` and the snapshot store given. */
async function node(
  logOpts: ReturnType<typeof names>['log'],
  snapshots: SnapshotStore,
  snapshotEveryCommands = 1_000_000,
): Promise<Node> {
  const conn = await connect({ servers: nats.url });
  const log = await JetStreamCommandLog.open(conn, logOpts);
  const own = new TestOwnership();
  const pool = createWorkerPool({ kind: 'port', threads: 1 });
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l)) });
  const registry = new Registry();
  let host: PartitionHost | null = null;
  const metrics = createNodeMetrics(registry, {
    inflight: () => 0,
    partitionsOwned: () => host?.partitionsOwned ?? 0,
    partitionsRefused: () => host?.partitionsRefused ?? 0,
    queueStats: async () => [],
  });
  host = new PartitionHost({
    ports: {
      mode: 'cluster',
      log: new LeaseFencedCommandLog(log, own),
      snapshots,
      ownership: own,
      clock: systemClock,
      knownPartitions: async () => [],
    },
    pool,
    snapshotEveryCommands,
    metrics,
    logger,
  });
  await host.start();
  const h = host;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await h.stop(200).catch(() => {});
    await log.close();
    await conn.close();
  };
  cleanups.push(stop);
  return { host: h, log, lines, registry, stop };
}

let ids = 0;
const send = (host: PartitionHost, cmd: Command) =>
  host.submit('acme', { id: `c${process.pid}-${++ids}`, at: Date.now(), cmd } as CommandEnvelope);

/** Tenant acme's day so far: a queue, five agents online, then `conversations` conversations. */
function history(conversations: number): Command[] {
  const cmds: Command[] = [{ type: 'upsert_queue', queue: queueConfig('chat') }];
  for (let i = 1; i <= 5; i++) cmds.push({ type: 'upsert_agent', agent: agentConfig(`agent-${i}`) });
  for (let i = 1; i <= 5; i++) cmds.push({ type: 'set_presence', agentId: `agent-${i}`, presence: 'online' });
  for (let i = 1; i <= conversations; i++)
    cmds.push({ type: 'enqueue', conversation: conversation(`conv-${i}`, { queueId: 'chat' }) });
  return cmds;
}

async function digest(host: PartitionHost): Promise<string> {
  const r = await host.query('acme', { type: 'digest' });
  if (r.type !== 'digest') throw new Error('expected a digest');
  return r.digest;
}

async function conversationIds(host: PartitionHost, n: number): Promise<string[]> {
  const found: string[] = [];
  for (let i = 1; i <= n; i++) {
    const r = await host.query('acme', { type: 'conversation', conversationId: `conv-${i}` });
    if (r.type === 'conversation' && r.conversation) found.push(r.conversation.id);
  }
  return found;
}

function gauge(registry: Registry, name: string): Promise<string> {
  return registry.getSingleMetricAsString(name);
}

const ferret = findFerretDb();

describe.each([
  { store: 'JetStream (SB_SNAPSHOTS of another name)', mongo: false },
  { store: 'MongoDB (FerretDB)', mongo: true },
])('a partition whose log was trimmed below a snapshot in $store', ({ mongo }) => {
  let db: RunningMongo | null = null;
  afterAll(async () => {
    await db?.cleanup();
  });

  it.skipIf(mongo && !ferret)(
    'is refused by a node whose store lacks that snapshot (nothing served, error line, gauge), and served whole by a node with it',
    async () => {
      const n = names();
      let storeX: () => Promise<SnapshotStore>;
      if (mongo) {
        db = await startMongo({ kind: 'ferretdb', bin: ferret as string });
        const url = db.url;
        storeX = () => MongoSnapshotStore.connect(url, { db: `chain_${process.pid}` });
      } else {
        storeX = () => JetStreamSnapshotStore.open(nc, n.x);
      }
      // Node A keeps its snapshots in store X, one every 5 commands; each trims the log below it.
      const xA = await storeX();
      cleanups.push(() => xA.close());
      const a = await node(n.log, xA, 5);
      for (const cmd of history(20)) expect((await send(a.host, cmd)).ok).toBe(true);
      await waitFor(async () => (await xA.storedSeq('acme')) > 0, { what: "A's first snapshot" });
      const expected = await digest(a.host);
      await a.stop();
      const lastSeq = await a.log.lastSeq('acme').catch(() => null);
      const tail = await JetStreamCommandLog.open(nc, n.log);
      cleanups.push(() => tail.close());
      const logEnd = await tail.lastSeq('acme');
      expect(lastSeq === null || lastSeq === logEnd).toBe(true);

      // Node B keeps its snapshots elsewhere (store Y: empty for this tenant).
      const y = await JetStreamSnapshotStore.open(nc, n.y);
      const b = await node(n.log, y);
      for (let call = 0; call < 3; call++) {
        await expect(b.host.query('acme', { type: 'digest' })).rejects.toMatchObject({
          code: 'SB_ERR_UNAVAILABLE',
          message: expect.stringMatching(
            /partition acme is unavailable: its command log was trimmed past the snapshot this node can load \(snapshot seq 0; the log resumes after seq \d+\)/,
          ),
        });
      }
      await expect(send(b.host, { type: 'upsert_queue', queue: queueConfig('other') })).rejects.toMatchObject(
        {
          code: 'SB_ERR_UNAVAILABLE',
        },
      );
      // Nothing served, nothing written.
      expect(await tail.lastSeq('acme')).toBe(logEnd);
      const refused = b.lines.filter(
        (l) =>
          l.msg === 'partition refused: its command log was trimmed past the snapshot this node can load',
      );
      // One line for the refusal, not one per call.
      expect(refused).toHaveLength(1);
      expect(refused[0]).toMatchObject({
        level: 50,
        tenant: 'acme',
        reason: 'log_trimmed_past_snapshot',
        snapshotSeq: 0,
        logResumesAfterSeq: expect.any(Number),
      });
      expect(refused[0]?.logResumesAfterSeq as number).toBeGreaterThan(0);
      expect(b.lines.some((l) => l.msg === 'partition recovered')).toBe(false);
      expect(await gauge(b.registry, 'switchboard_partitions_refused')).toMatch(
        /\nswitchboard_partitions_refused 1\n?$/,
      );
      await b.stop();

      // Node C has store X: everything acknowledged is there.
      const xC = await storeX();
      cleanups.push(() => xC.close());
      const c = await node(n.log, xC);
      expect(await digest(c.host)).toBe(expected);
      expect(await conversationIds(c.host, 20)).toHaveLength(20);
      expect(await gauge(c.registry, 'switchboard_partitions_refused')).toMatch(
        /\nswitchboard_partitions_refused 0\n?$/,
      );
      await c.stop();
    },
    90_000,
  );
});

describe('batches written before the chain (no Sb-Prev header)', () => {
  it('load as before; batches appended after them carry the chain and a later trim is checked', async () => {
    const n = names();
    // What an earlier version wrote: the JSON batch, its message id and the fencing expectation only.
    const old = await JetStreamCommandLog.open(nc, n.log);
    cleanups.push(() => old.close());
    const js = jetstream(nc);
    let prev = 0;
    const legacy = history(3);
    for (const [i, cmd] of legacy.entries()) {
      const env = { id: `legacy-${i}`, at: Date.now(), cmd } as CommandEnvelope;
      const ack = await js.publish(old.subject('acme'), encodeBatch([env]), {
        msgID: `legacy:${prev}:${env.id}`,
        expect: { lastSubjectSequence: prev },
      });
      prev = ack.seq;
    }
    const raw = [];
    for await (const b of old.read('acme', 0)) raw.push(b);
    expect(raw).toHaveLength(legacy.length);
    expect(raw.every((b) => b.prev === undefined)).toBe(true);

    // A node of this version loads that log (no snapshot anywhere) as before, and appends on top of it.
    const x = await JetStreamSnapshotStore.open(nc, n.x);
    const a = await node(n.log, x, 5);
    expect(await conversationIds(a.host, 3)).toEqual(['conv-1', 'conv-2', 'conv-3']);
    for (let i = 4; i <= 12; i++) {
      const cmd: Command = { type: 'enqueue', conversation: conversation(`conv-${i}`, { queueId: 'chat' }) };
      expect((await send(a.host, cmd)).ok).toBe(true);
    }
    await waitFor(async () => (await x.storedSeq('acme')) > prev, {
      what: "A's snapshot past the legacy batches",
    });
    const expected = await digest(a.host);
    await a.stop();
    const after = [];
    for await (const b of old.read('acme', prev)) after.push(b);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((b) => b.prev !== undefined)).toBe(true);

    // The trim cut the legacy batches: a node without A's snapshot is refused, one with it is served.
    const b = await node(n.log, await JetStreamSnapshotStore.open(nc, n.y));
    await expect(b.host.query('acme', { type: 'digest' })).rejects.toMatchObject({
      code: 'SB_ERR_UNAVAILABLE',
    });
    await b.stop();
    const c = await node(n.log, x);
    expect(await digest(c.host)).toBe(expected);
    await c.stop();
  }, 60_000);
});

describe('a node whose snapshot store is not the cluster’s', () => {
  it('refuses to start, saying how to fix its configuration; the first node records the store', async () => {
    // Default stream names: this file's own server.
    const ports = await createClusterPorts({ natsUrl: nats.url, nodeId: 'js-1', startupMs: 5000 });
    expect(ports.snapshotBackend).toBe('jetstream');
    await ports.close();
    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.info('SB_COMMANDS')).config.metadata).toMatchObject({
      switchboard_snapshot_store: 'jetstream',
    });
    // A node with --mongo-url stops before it connects to MongoDB (nothing listens at this URL).
    await expect(
      createClusterPorts({
        natsUrl: nats.url,
        nodeId: 'mongo-1',
        mongoUrl: 'mongodb://127.0.0.1:1/',
        startupMs: 5000,
      }),
    ).rejects.toThrow(
      /this node keeps snapshots in MongoDB \(--mongo-url\), but this cluster keeps them in JetStream \(no --mongo-url\) \(recorded in stream SB_COMMANDS\).*remove --mongo-url \(MONGO_URL\) from this node/,
    );
    // The same node without --mongo-url starts.
    const again = await createClusterPorts({ natsUrl: nats.url, nodeId: 'js-2', startupMs: 5000 });
    await again.close();
  }, 60_000);
});

/**
 * Writes a new compatibility corpus (`test/compat/<name>/`, see `corpus.ts`) with this build's real
 * adapters: the embedded data directory through `FileCommandLog` / `FileSnapshotStore`, the cluster's
 * payloads through `JetStreamCommandLog`, `JetStreamSnapshotStore`, `JetStreamEventPublisher`,
 * `KvOwnership` and two `ClusterPartitionRouter`s forwarding to each other on a real `nats-server`, read
 * back from the server as stored, and MongoDB's documents through `MongoSnapshotStore` (FerretDB, or
 * `MONGO_URL`). Run it only when a format changed on purpose (README.md here):
 *
 *   SB_COMPAT_NEW=$(date -u +%F) npx vitest run test/compat
 *
 * It refuses to write into a corpus that exists: corpora are never rewritten.
 */
import { execSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { BSON, MongoClient } from 'mongodb';
import { FileCommandLog } from '../../src/cluster/embedded/file-command-log.js';
import { FileSnapshotStore } from '../../src/cluster/embedded/file-snapshot-store.js';
import { MongoSnapshotStore } from '../../src/cluster/mongo/snapshot-store.js';
import { JetStreamCommandLog } from '../../src/cluster/nats/command-log.js';
import { JetStreamEventPublisher } from '../../src/cluster/nats/events.js';
import { ClusterPartitionRouter } from '../../src/cluster/nats/forwarding.js';
import { KvOwnership } from '../../src/cluster/nats/ownership.js';
import { JetStreamSnapshotStore } from '../../src/cluster/nats/snapshot-store.js';
import type { EngineSnapshot, Query, QueryResult } from '../../src/engine/api.js';
import { createEngine, type Engine } from '../../src/engine/index.js';
import { SNAPSHOT_VERSION } from '../../src/engine/snapshot.js';
import type { ApplyResult, CommandEnvelope, EngineEvent } from '../../src/engine/types.js';
import type {
  DeleteTenantResult,
  EventFilter,
  PartitionRouter,
  PublishedEvent,
} from '../../src/host/router.js';
import { mongoTarget, startMongo } from '../support/ferretdb.js';
import { startNatsServer } from '../support/nats-server.js';
import { waitFor } from '../support/wait-for.js';
import {
  batchesOf,
  COMPAT_ROOT,
  type CorpusManifest,
  corpusQueries,
  encodeMessages,
  headerBytesOf,
  type StoredMessage,
} from './corpus.js';
import { eventLine, kvSummary, rpcSummary } from './read-corpus.js';

/** The corpus tenant: a `.` and a `:` so that subject tokens and file names are escaped. */
export const CORPUS_TENANT = 'acme.eu:support';
const GOLDEN = new URL('../golden/day.commands.jsonl', import.meta.url);

/** The day as a plan: batches, the snapshot point, and the reference engine's states. */
export interface DayPlan {
  batches: CommandEnvelope[][];
  /** Batches folded into the snapshot. */
  snapshotAfter: number;
  snapshot: EngineSnapshot;
  snapshotDigest: string;
  snapshotAt: number;
  finalDigest: string;
  lastAt: number;
  /** Per batch: the events its commands made, with each command's time. */
  events: { at: number; event: EngineEvent }[][];
}

/** Replays `batches` on a fresh engine, snapshotting after half of them. */
export function planDay(batches: CommandEnvelope[][]): DayPlan {
  const engine: Engine = createEngine(CORPUS_TENANT);
  const snapshotAfter = Math.floor(batches.length / 2);
  const events: DayPlan['events'] = [];
  let snap: Pick<DayPlan, 'snapshot' | 'snapshotDigest' | 'snapshotAt'> | null = null;
  let at = 0;
  batches.forEach((b, i) => {
    if (i === snapshotAfter) {
      snap = { snapshot: engine.snapshot(), snapshotDigest: engine.digest(), snapshotAt: at };
    }
    const out: { at: number; event: EngineEvent }[] = [];
    for (const env of b) {
      const r = engine.apply(env);
      if (r.ok && !r.duplicate) for (const event of r.events) out.push({ at: env.at, event });
      at = env.at;
    }
    events.push(out);
  });
  if (!snap) throw new Error('the day is too short for a snapshot');
  return {
    batches,
    snapshotAfter,
    ...(snap as Pick<DayPlan, 'snapshot' | 'snapshotDigest' | 'snapshotAt'>),
    finalDigest: engine.digest(),
    lastAt: at,
    events,
  };
}

/**
 * The embedded data directory as a node leaves it: batches appended, the snapshot after
 * `snapshotAfter` saved, the log trimmed to it (base record + the rest), closed cleanly.
 */
export async function writeEmbedded(
  dataDir: string,
  plan: Pick<DayPlan, 'batches' | 'snapshotAfter' | 'snapshotDigest' | 'snapshotAt'>,
  snapshotJson: string,
  /** `interval` writes the same bytes, only faster (no fsync per append): the rollback check uses it. */
  fsync: 'always' | 'interval' = 'always',
): Promise<void> {
  const log = new FileCommandLog({ dir: join(dataDir, 'log'), fsync, preallocateBytes: 0 });
  const snaps = new FileSnapshotStore(join(dataDir, 'snapshots'));
  let seq = 0;
  for (const [i, b] of plan.batches.entries()) {
    if (i === plan.snapshotAfter) {
      await snaps.save({
        partition: CORPUS_TENANT,
        seq,
        takenAt: plan.snapshotAt,
        digest: plan.snapshotDigest,
        snapshot: JSON.parse(snapshotJson) as EngineSnapshot,
        snapshotJson,
      });
      await log.trim(CORPUS_TENANT, seq);
    }
    seq = await log.append(CORPUS_TENANT, b, seq);
  }
  await log.close();
  await snaps.close();
}

/** The golden day's commands (the corpus copies what it needs: the golden day may be regenerated). */
export function goldenDay(): CommandEnvelope[] {
  return readFileSync(GOLDEN, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as CommandEnvelope);
}

/** Every message a stream holds, as stored. */
async function dumpStream(nc: NatsConnection, stream: string): Promise<StoredMessage[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream);
  const out: StoredMessage[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (!m) continue;
    out.push({ subject: m.subject, seq: m.seq, headerBytes: headerBytesOf(m.header), data: m.data.slice() });
  }
  return out;
}

/** A partition host stand-in backed by a real engine per tenant (the forwarded calls' owner). */
class EngineRouter implements PartitionRouter {
  private readonly engines = new Map<string, Engine>();
  private readonly subs = new Set<{ f: EventFilter; fn: (e: PublishedEvent) => void }>();
  private seq = 0;
  private engine(tenant: string): Engine {
    let e = this.engines.get(tenant);
    if (!e) {
      e = createEngine(tenant);
      this.engines.set(tenant, e);
    }
    return e;
  }
  async submit(tenant: string, env: CommandEnvelope): Promise<ApplyResult> {
    const r = this.engine(tenant).apply(env);
    this.seq++;
    if (r.ok)
      r.events.forEach((event, index) => {
        for (const s of this.subs)
          if (s.f.tenant === tenant) s.fn({ tenant, seq: this.seq, index, at: env.at, event });
      });
    return r;
  }
  async query(tenant: string, q: Query): Promise<QueryResult> {
    return this.engine(tenant).query(q, Date.now());
  }
  async deleteTenant(tenant: string): Promise<DeleteTenantResult> {
    const existed = this.engines.delete(tenant);
    return { existed, openConversations: 0 };
  }
  subscribe(f: EventFilter, fn: (e: PublishedEvent) => void): () => void {
    const s = { f, fn };
    this.subs.add(s);
    return () => this.subs.delete(s);
  }
  ready(): boolean {
    return true;
  }
}

/**
 * MongoDB's documents through `MongoSnapshotStore`, chunked (64 KiB) and inline, in mongodump's `.bson`
 * form (the documents one after another): `<dir>/mongo/{chunked,inline}/{snapshots,snapshot_chunks}.bson`.
 */
export async function writeMongo(
  dir: string,
  plan: Pick<DayPlan, 'snapshotAt' | 'snapshotDigest' | 'snapshot'>,
  snapshotJson: string,
  /** The snapshot's seq: the `SB_COMMANDS` stream seq of its last batch, as in a cluster with MongoDB. */
  seq: number,
): Promise<void> {
  const file = (p: string, data: Uint8Array) => {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), data);
  };
  const target = mongoTarget();
  if (target.kind === 'none') throw new Error(`a new corpus needs a MongoDB-wire server: ${target.reason}`);
  const mongo = await startMongo(target);
  const client = new MongoClient(mongo.url);
  try {
    const db = `sbcompat${process.pid}`;
    const stored = {
      partition: CORPUS_TENANT,
      seq,
      takenAt: plan.snapshotAt,
      digest: plan.snapshotDigest,
      snapshot: plan.snapshot,
      snapshotJson,
    };
    for (const [prefix, opts] of [
      ['chunked', { inlineLimitBytes: 64 * 1024, chunkBytes: 64 * 1024 }],
      ['inline', {}],
    ] as const) {
      const store = await MongoSnapshotStore.connect(mongo.url, { db, prefix: `${prefix}_`, ...opts });
      await store.save(stored);
      await store.close();
      for (const coll of ['snapshots', 'snapshot_chunks']) {
        const docs = await client.db(db).collection(`${prefix}_${coll}`).find({}).sort({ _id: 1 }).toArray();
        if (docs.length > 0)
          file(`mongo/${prefix}/${coll}.bson`, Buffer.concat(docs.map((d) => BSON.serialize(d))));
      }
    }
    await client.db(db).dropDatabase();
  } finally {
    await client.close().catch(() => {});
    await mongo.cleanup();
  }
}

/** Writes `test/compat/<name>/`. */
export async function writeCorpus(name: string): Promise<string> {
  const dir = join(COMPAT_ROOT, name);
  if (existsSync(dir)) throw new Error(`${dir} exists: corpora are never rewritten (test/compat/README.md)`);
  const envs = goldenDay();
  const plan = planDay(batchesOf(envs));
  const snapshotJson = JSON.stringify(plan.snapshot);
  const file = (p: string, data: string | Uint8Array) => {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), data);
  };

  // 1. The embedded data directory.
  await writeEmbedded(join(dir, 'embedded'), plan, snapshotJson);
  // Answers at the snapshot's state (a node started on the snapshot alone gives them, whatever later
  // builds decide on replay), computed by this build's engine.
  const atSnapshot = createEngine(CORPUS_TENANT);
  for (const b of plan.batches.slice(0, plan.snapshotAfter)) for (const e of b) atSnapshot.apply(e);
  const answers = corpusQueries().map((q) => [
    q,
    JSON.parse(JSON.stringify(atSnapshot.query(q, plan.snapshotAt))),
  ]);
  file('answers.json', `${JSON.stringify(answers, null, 1)}\n`);

  // 2. The cluster's payloads, through the real adapters on a real server.
  const server = await startNatsServer();
  const conns: NatsConnection[] = [];
  const nc = await connect({ servers: server.url });
  conns.push(nc);
  const expected: Record<string, unknown> = {};
  try {
    const log = await JetStreamCommandLog.open(nc);
    await log.fence(CORPUS_TENANT);
    let last = 0;
    const seqs: number[] = [];
    for (const b of plan.batches) {
      last = await log.append(CORPUS_TENANT, b, last);
      seqs.push(last);
    }
    const snapSeq = seqs[plan.snapshotAfter - 1] as number;
    const snaps = await JetStreamSnapshotStore.open(nc, { chunkBytes: 64 * 1024 });
    await snaps.save({
      partition: CORPUS_TENANT,
      seq: snapSeq,
      takenAt: plan.snapshotAt,
      digest: plan.snapshotDigest,
      snapshot: plan.snapshot,
      snapshotJson,
    });
    // Trimmed as an owner does after a durable snapshot: the snapshot's own batch and those after it.
    await log.trim(CORPUS_TENANT, snapSeq);
    const events = await JetStreamEventPublisher.open(nc, {});
    const published: string[] = [];
    for (let i = plan.snapshotAfter; i < plan.batches.length; i++) {
      const evs = plan.events[i] as { at: number; event: EngineEvent }[];
      events.publishBatch(CORPUS_TENANT, seqs[i] as number, evs);
      evs.forEach((e, index) => {
        published.push(eventLine(seqs[i] as number, index, e.at, e.event.type));
      });
    }
    await events.flush(CORPUS_TENANT);
    await log.close();
    file('jetstream/commands.msgs', encodeMessages(await dumpStream(nc, 'SB_COMMANDS')));
    file('jetstream/snapshots.msgs', encodeMessages(await dumpStream(nc, 'SB_SNAPSHOTS')));
    file('jetstream/events.msgs', encodeMessages(await dumpStream(nc, 'SB_EVENTS')));
    expected.snapshotSeq = snapSeq;
    expected.events = published;

    // Two nodes forwarding to each other, every message on sb.rpc.> and its answer recorded, and the
    // KV values they write.
    const tap = await connect({ servers: server.url });
    conns.push(tap);
    const rpc: StoredMessage[] = [];
    const replyTo = new Set<string>();
    const record = (m: Msg): void => {
      rpc.push({ subject: m.subject, seq: 0, headerBytes: headerBytesOf(m.headers), data: m.data.slice() });
    };
    tap.subscribe('sb.rpc.>', {
      callback: (_e, m) => {
        if (m.reply) replyTo.add(m.reply);
        record(m);
      },
    });
    tap.subscribe('_INBOX.>', {
      callback: (_e, m) => {
        if (replyTo.has(m.subject)) record(m);
      },
    });
    const kv: StoredMessage[] = [];
    tap.subscribe('$KV.>', {
      callback: (_e, m) => {
        kv.push({ subject: m.subject, seq: 0, headerBytes: headerBytesOf(m.headers), data: m.data.slice() });
      },
    });
    await tap.flush();
    const nodes = [];
    for (const id of ['node-a', 'node-b']) {
      const c = await connect({ servers: server.url });
      conns.push(c);
      const ownership = new KvOwnership(c, { nodeId: id, leaseTtlMs: 2000, settleMs: 60_000 });
      await ownership.start();
      const router = new ClusterPartitionRouter({ nc: c, ownership, local: new EngineRouter() });
      router.start();
      nodes.push({ ownership, router });
    }
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    await waitFor(() => a.ownership.liveNodes().length === 2 && b.ownership.liveNodes().length === 2, {
      what: 'both nodes to see each other',
    });
    const other = a.ownership.desiredOwner(CORPUS_TENANT) === 'node-a' ? b : a;
    // The morning set-up and the first arrivals one by one, then a burst (one batched request).
    for (const env of envs.slice(0, 120)) await other.router.submit(CORPUS_TENANT, env);
    await Promise.all(envs.slice(120, 136).map((env) => other.router.submit(CORPUS_TENANT, env)));
    for (const q of [
      { type: 'queue_stats', queueId: 'sales_chat' },
      { type: 'list_waiting', queueId: 'support_chat', limit: 10 },
      { type: 'agent', agentId: 'agent-03' },
    ] as Query[])
      await other.router.query(CORPUS_TENANT, q);
    await other.router.deleteTenant('tenant-never-created', false);
    await tap.flush();
    await new Promise((r) => setTimeout(r, 200));
    // A graceful stop of one node: its key says `leaving`, then goes.
    await b.ownership.handOver({ withinMs: 2000 });
    for (const n of nodes) {
      await n.router.stop();
      await n.ownership.stop();
    }
    await tap.flush();
    await new Promise((r) => setTimeout(r, 200));
    file('cluster/rpc.msgs', encodeMessages(rpc));
    file('cluster/kv.msgs', encodeMessages(kv));
    expected.rpc = rpcSummary(rpc);
    expected.kv = kvSummary(kv);
  } finally {
    for (const c of conns) await c.close().catch(() => {});
    await server.cleanup();
  }

  // 3. MongoDB's documents.
  await writeMongo(dir, plan, snapshotJson, expected.snapshotSeq as number);

  const commit = (() => {
    try {
      return execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  })();
  const manifest: CorpusManifest = {
    corpus: name,
    writtenBy: {
      version: (
        JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
          version: string;
        }
      ).version,
      commit,
      date: new Date().toISOString(),
    },
    partition: CORPUS_TENANT,
    commands: envs.length,
    batches: plan.batches.length,
    snapshot: {
      seq: plan.snapshotAfter,
      digest: plan.snapshotDigest,
      at: plan.snapshotAt,
      engineVersion: SNAPSHOT_VERSION,
    },
    digest: plan.finalDigest,
    lastAt: plan.lastAt,
  };
  file('manifest.json', `${JSON.stringify(manifest, null, 2)}\n`);
  file('expected.json', `${JSON.stringify(expected, null, 1)}\n`);
  return dir;
}

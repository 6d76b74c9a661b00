import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamCommandLog } from '../../src/cluster/nats/command-log.js';
import type { LogBatch } from '../../src/cluster/ports.js';
import { collect, commandLogContract, envelope as env } from '../support/contracts.js';
import { natsForTest } from '../support/nats-server.js';

let nats: Awaited<ReturnType<typeof natsForTest>>;
let nc: NatsConnection;
// A stream per test file so files can share an external NATS_URL server in parallel.
const stream = `SB_COMMANDS_T${process.pid}`;
const subjectPrefix = `sbt${process.pid}.cmd`;
const shardedStream = `SB_CMDSH_T${process.pid}`;
const shardedPrefix = `sbsh${process.pid}.cmd`;

beforeAll(async () => {
  nats = await natsForTest('jetstream-log');
  nc = await connect({ servers: nats.urls });
  console.log('[jetstream-log] CommandLog stores under test: JetStream (single server, file storage)');
});

afterAll(async () => {
  await nc?.close();
  await nats?.cleanup();
});

const plain = { stream, subjectPrefix };
const shardedNames = { stream: shardedStream, subjectPrefix: shardedPrefix };

/**
 * A log on this file's streams (they share `nc`, closed after all): `streams` > 1 on the sharded names
 * unless `names` says otherwise.
 */
function openLog(streams = 1, names = streams > 1 ? shardedNames : plain): Promise<JetStreamCommandLog> {
  return JetStreamCommandLog.open(nc, { ...names, storage: 'file', replicas: 1, streams });
}

commandLogContract('JetStream (single server, file storage)', openLog);

describe('JetStream command log specifics', () => {
  it('after fence(), pipelined appends land in order; a newer fence shuts the old owner out at once', async () => {
    const oldOwner = await openLog();
    const newOwner = await openLog();
    const p = `acme-fence-${Date.now()}`;
    await oldOwner.append(p, [env()], 0); // written before any fence (subject-seq fencing)
    await oldOwner.fence(p);
    const batches = Array.from({ length: 8 }, () => [env(), env()]);
    // All in flight together; `expected` only names the batch (virtual seqs, as the host issues them).
    const seqs = await Promise.all(batches.map((b, i) => oldOwner.append(p, b, 1000 + i)));
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    await newOwner.fence(p);
    // The stale owner's appends fail whatever they expect, one at a time or pipelined.
    await expect(oldOwner.append(p, [env()], seqs.at(-1) as number)).rejects.toMatchObject({
      code: 'SB_ERR_NOT_OWNER',
    });
    const read = await collect(newOwner.read(p, 0));
    expect(read.map((b) => b.seq)).toEqual([read[0]?.seq, ...seqs]);
    expect(read.slice(1).map((b) => b.commands)).toEqual(batches);
    // The chain, whatever `expected` named: the first after the fence names the last batch before it
    // exactly; the ones sent before an ack came back name a lower bound of theirs (the last acked seq).
    expect(read[0]?.prev).toBe(0);
    expect(read[1]).toMatchObject({ prev: read[0]?.seq });
    expect(read[1]?.prevAtLeast).toBeUndefined();
    for (let i = 2; i < read.length; i++) {
      const b = read[i] as LogBatch;
      if (b.prevAtLeast) expect(b.prev).toBeLessThanOrEqual(read[i - 1]?.seq as number);
      else expect(b.prev).toBe(read[i - 1]?.seq);
    }
    expect(read.some((b) => b.prevAtLeast)).toBe(true);
    // The new owner appends after what it read; the old owner re-fencing would shut it out in turn.
    const s = await newOwner.append(p, [env()], 0);
    expect(s).toBeGreaterThan(seqs.at(-1) as number);
    expect(await newOwner.lastSeq(p)).toBe(s);
    // Its first append after its fence names the old owner's last batch, found when it fenced.
    expect((await collect(newOwner.read(p, seqs.at(-1) as number)))[0]).toMatchObject({
      seq: s,
      prev: seqs.at(-1),
    });
  });

  it('two owners fencing from the same previous fence: exactly one wins', async () => {
    const a = await openLog();
    const b = await openLog();
    const p = `acme-fence-race-${Date.now()}`;
    await a.fence(p);
    const results = await Promise.allSettled([a.fence(p), b.fence(p)]);
    // Both read the same previous fence; the server takes one and rejects the other (or, if they did not
    // overlap, the later one wins and the earlier is shut out on its next append).
    const won = results.filter((r) => r.status === 'fulfilled').length;
    expect(won).toBeGreaterThanOrEqual(1);
    const appends = await Promise.allSettled([a.append(p, [env()], 0), b.append(p, [env()], 0)]);
    expect(appends.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    // The loser stays shut out (no fallback to subject-seq fencing, whatever seq it names).
    const loser = appends[0]?.status === 'fulfilled' ? b : a;
    const last = await a.lastSeq(p);
    for (const expected of [0, last, last + 1]) {
      await expect(loser.append(p, [env()], expected)).rejects.toMatchObject({ code: 'SB_ERR_NOT_OWNER' });
    }
  });

  it('a retried append whose ack was lost is stored once (Nats-Msg-Id dedupe)', async () => {
    const log = await openLog();
    const p = `acme-dedupe-${Date.now()}`;
    const batch = [env(), env()];
    const s1 = await log.append(p, batch, 0);
    // Same batch, same expected seq: what a client does when the first ack timed out.
    const again = await log.append(p, batch, 0);
    expect(again).toBe(s1);
    expect(await collect(log.read(p, 0))).toEqual([{ seq: s1, prev: 0, commands: batch }]);
  });

  it('a later batch that starts with a repeated request id is not swallowed as a duplicate', async () => {
    const log = await openLog();
    const p = `acme-retry-${Date.now()}`;
    const first = env();
    const s1 = await log.append(p, [first], 0);
    const s2 = await log.append(p, [first, env()], s1);
    expect(s2).toBeGreaterThan(s1);
    expect((await collect(log.read(p, 0))).length).toBe(2);
  });

  it('tenant ids with dots, spaces and wildcards map to their own subjects', async () => {
    const log = await openLog();
    const a = `acme.eu ${Date.now()}`;
    const b = `acme>*${Date.now()}`;
    const sa = await log.append(a, [env()], 0);
    await log.append(b, [env()], 0);
    expect(log.subject(a)).not.toContain(' ');
    expect(await log.lastSeq(a)).toBe(sa);
    expect((await collect(log.read(a, 0))).length).toBe(1);
  });

  it('a long log replays completely through the ordered consumer', async () => {
    const log = await openLog();
    const p = `acme-long-${Date.now()}`;
    let last = 0;
    for (let i = 0; i < 300; i++) {
      last = await log.append(p, [env()], last);
    }
    const batches = await collect(log.read(p, 0));
    expect(batches.length).toBe(300);
    expect(batches.at(-1)?.seq).toBe(last);
  });
});

// `streams: 3`: the partitions spread over three streams (their own names, so the suite above is unaffected).
commandLogContract('JetStream, partitions spread over 3 streams', () => openLog(3));

describe('JetStream command log spread over several streams', () => {
  it('each partition lives in one stream of its own shard, with its fence; replay and fencing hold there', async () => {
    const log = await openLog(3);
    const other = await openLog(3);
    // 60 names: the chance that the hash leaves a shard empty is 3 × (2/3)^60 ≈ 1e-10 (with 12 it was
    // 2 %, and it happened); the appends below use the first 12.
    const parts = Array.from({ length: 60 }, (_, i) => `tenant-${i}-${Date.now()}`);
    const streams = new Set(parts.map((p) => log.streamOf(p)));
    expect(streams).toEqual(new Set([shardedStream, `${shardedStream}_1`, `${shardedStream}_2`]));
    const jsm = await jetstreamManager(nc);
    for (const p of parts.slice(0, 12)) {
      const s1 = await log.append(p, [env()], 0);
      const s2 = await log.append(p, [env(), env()], s1);
      // The stream the partition maps to holds both batches on the partition's subject.
      const stored = await jsm.streams.getMessage(log.streamOf(p), { last_by_subj: log.subject(p) });
      expect(stored?.seq).toBe(s2);
      expect((await collect(other.read(p, 0))).map((b) => b.seq)).toEqual([s1, s2]);
      // Subject-sequence fencing still applies within the shard's stream.
      await expect(other.append(p, [env()], s1)).rejects.toMatchObject({ code: 'SB_ERR_NOT_OWNER' });
    }
    // A fence is taken in the partition's own stream and shuts out the earlier owner.
    const p = parts[0] as string;
    await other.fence(p);
    const fenceMsg = await jsm.streams.getMessage(other.streamOf(p), { last_by_subj: other.fenceSubject(p) });
    expect(fenceMsg?.seq).toBeGreaterThan(0);
    await expect(log.fence(p).then(() => other.append(p, [env()], 0))).rejects.toMatchObject({
      code: 'SB_ERR_NOT_OWNER',
    });
  });

  it('a node configured with another number of streams refuses to start, naming the one to use', async () => {
    await openLog(3);
    await expect(openLog(2)).rejects.toThrow(
      /--nats-command-streams 2, but this cluster's log was set up with 3/,
    );
    await expect(openLog(1, shardedNames)).rejects.toThrow(/every node must use 3/);
  });

  it('a node whose snapshot store is not the one the log records refuses to start, saying what to set', async () => {
    const names = { stream: `SB_CMDSTORE_T${process.pid}`, subjectPrefix: `sbst${process.pid}.cmd` };
    const open = (snapshotStore?: 'mongodb' | 'jetstream') =>
      JetStreamCommandLog.open(nc, {
        ...names,
        storage: 'file',
        replicas: 1,
        ...(snapshotStore ? { snapshotStore } : {}),
      });
    // A log set up before the store was recorded (an earlier version) takes the first node's.
    await open();
    await open('mongodb');
    const refused =
      /this node keeps snapshots in JetStream \(no --mongo-url\), but this cluster keeps them in MongoDB \(--mongo-url\) \(recorded in stream SB_CMDSTORE_T\d+\).*Every node must use the same snapshot store: set --mongo-url \(MONGO_URL\) to the cluster's MongoDB on this node/;
    await expect(open('jetstream')).rejects.toThrow(refused);
    await expect(open('jetstream')).rejects.toMatchObject({ code: 'SB_ERR_INVALID_ARGUMENT' });
    // A log opened without a store (tools, tests) checks nothing and keeps what is recorded.
    await open();
    await expect(open('jetstream')).rejects.toThrow(refused);
    await open('mongodb');
  });
});

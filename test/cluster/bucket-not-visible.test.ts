/**
 * A KV bucket's stream that exists can still be answered "stream not found" for a moment: in a cluster
 * the answer may come from a server of the stream's new group that has not set up its copy yet (a fresh
 * R3 bucket, one created by another node a moment before, a loaded server). Seen at start-up in
 * startup-readiness.test.ts under load: `StreamNotFoundError` from `KvOwnership.bucket`, and the node
 * failed to start. Start-up must wait for it like any other not-ready answer, within --nats-startup-ms.
 *
 * Here the server's own "stream not found" answer (asked about a stream that does not exist) is given in
 * place of chosen stream info answers about the bucket, through a connection that redirects them.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KvOwnership } from '../../src/cluster/nats/ownership.js';
import { natsForTest } from '../support/nats-server.js';

let nats: Awaited<ReturnType<typeof natsForTest>>;
let nc: NatsConnection;
const owners: KvOwnership[] = [];
let run = 0;

beforeAll(async () => {
  nats = await natsForTest('bucket-not-visible');
  nc = await connect({ servers: nats.urls });
});
afterEach(async () => {
  for (const o of owners.splice(0)) await o.stop().catch(() => undefined);
});
afterAll(async () => {
  await nc?.close();
  await nats?.cleanup();
});

/**
 * `nc`, except that the stream info requests about `stream` whose numbers (1 = the first) are in
 * `hidden` are asked about a stream that does not exist, so the server answers "stream not found".
 */
function hiding(stream: string, hidden: number[]): { nc: NatsConnection; asked: () => number } {
  let asked = 0;
  const infoSubject = `$JS.API.STREAM.INFO.${stream}`;
  const proxy = new Proxy(nc, {
    get(target, prop) {
      if (prop === 'request')
        return (subject: string, ...rest: unknown[]) => {
          if (subject === infoSubject && hidden.includes(++asked))
            subject = `$JS.API.STREAM.INFO.NO_SUCH_STREAM_${process.pid}`;
          return (target.request as (s: string, ...r: unknown[]) => unknown).call(target, subject, ...rest);
        };
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { nc: proxy, asked: () => asked };
}

function ownership(conn: NatsConnection, logged: string[]): KvOwnership {
  run++;
  const o = new KvOwnership(conn, {
    nodeId: `node-${run}`,
    nodesBucket: `NV_NODES_${process.pid}_${run}`,
    ownersBucket: `NV_OWNERS_${process.pid}_${run}`,
    storage: 'memory',
    leaseTtlMs: 2000,
    startupMs: 10_000,
    log: (msg, fields) => logged.push(`${msg} ${JSON.stringify(fields ?? {})}`),
  });
  owners.push(o);
  return o;
}

describe('start-up on a KV bucket whose stream is not visible yet', () => {
  // Stream info about a new bucket's stream: 1 in `create` (not found: it is added), 2 its status in
  // `bucket`, 3 the node bucket's TTL in `start`. The step retried asks again.
  it.each([
    { bucket: 'nodes', hidden: [2], step: 'node lease bucket' },
    { bucket: 'nodes', hidden: [2, 4], step: 'node lease bucket' },
    { bucket: 'nodes', hidden: [3], step: 'node lease bucket status' },
    { bucket: 'owners', hidden: [2], step: 'owner bucket' },
  ])(
    '$bucket bucket, stream info $hidden "not found": waits at step "$step", then starts',
    async ({ bucket, hidden, step }) => {
      const logged: string[] = [];
      const stream = `KV_NV_${bucket.toUpperCase()}_${process.pid}_${run + 1}`;
      const seam = hiding(stream, hidden);
      const o = ownership(seam.nc, logged);
      await o.start();
      // Every hidden answer was given, and each was waited out as not ready.
      expect(seam.asked()).toBeGreaterThanOrEqual(Math.max(...hidden));
      const retries = logged.filter((l) => l.startsWith('JetStream not ready; retrying'));
      expect(retries).toHaveLength(hidden.length);
      for (const r of retries) {
        expect(r).toContain(`"step":"${step}"`);
        expect(r).toMatch(/stream not found/);
      }
      // And the node works: its lease is registered, it claims a partition.
      expect(o.leaseLosses).toEqual({ fenced: 0, expired: 0, lapsed: 0 });
      expect(await o.acquire('acme')).toBe(true);
    },
  );

  it('a stream that stays invisible fails start-up after --nats-startup-ms, naming it', async () => {
    const stream = `KV_NV_NODES_${process.pid}_${run + 1}`;
    const seam = hiding(
      stream,
      Array.from({ length: 1000 }, (_, i) => i + 2),
    );
    const o = new KvOwnership(seam.nc, {
      nodeId: `node-${++run}`,
      nodesBucket: `NV_NODES_${process.pid}_${run}`,
      ownersBucket: `NV_OWNERS_${process.pid}_${run}`,
      storage: 'memory',
      startupMs: 1000,
    });
    owners.push(o);
    await expect(o.start()).rejects.toThrow(
      new RegExp(`stream ${stream} not visible yet .*stream not found`),
    );
  });
});

import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamCommandLog } from '../../src/cluster/nats/command-log.js';
import { untilReady } from '../../src/cluster/nats/startup.js';
import type { CommandEnvelope } from '../../src/engine/types.js';
import { collect, envelope } from '../support/contracts.js';
import {
  type NatsCluster,
  natsServerVersion,
  requireNatsServer,
  startNatsCluster,
} from '../support/nats-server.js';

let cluster: NatsCluster;
let nc: NatsConnection;

beforeAll(async () => {
  cluster = await startNatsCluster(3);
  console.log(
    `[replication] 3-server JetStream cluster (${natsServerVersion(requireNatsServer())}), R3 command stream`,
  );
  nc = await connect({ servers: cluster.urls, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
}, 60_000);

afterAll(async () => {
  await nc?.close();
  await cluster?.cleanup();
});

async function openR3(): Promise<JetStreamCommandLog> {
  // The meta leader may still be electing right after start: wait for it as a node does.
  return untilReady(
    'R3 command log',
    () => JetStreamCommandLog.open(nc, { replicas: 3, storage: 'file', timeoutMs: 2000 }),
    { until: Date.now() + 20_000 },
  );
}

describe('R3 command log on a 3-server cluster', () => {
  it('appends continue when a server is killed, and no acknowledged batch is lost', async () => {
    const log = await openR3();
    const tenant = 'acme-replicated';
    const acked: { seq: number; commands: CommandEnvelope[] }[] = [];
    let last = 0;
    let failures = 0;
    const append = async () => {
      const batch = [envelope(), envelope()];
      // A failed append (stream leader being re-elected) is retried with the same expected seq: the dedupe id makes a
      // retry of a batch that did land return its seq instead of storing it twice.
      const giveUp = Date.now() + 40_000;
      while (Date.now() < giveUp) {
        try {
          last = await log.append(tenant, batch, last);
          acked.push({ seq: last, commands: batch });
          return;
        } catch (e) {
          if ((e as { code?: string }).code === 'SB_ERR_NOT_OWNER') throw e;
          failures++;
          if (process.env.DBG) console.log('append failed', acked.length, String(e));
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      throw new Error('append did not succeed within 40 s');
    };
    for (let i = 0; i < 50; i++) await append();
    // Kill the stream leader's server if we can tell which one it is, else the first.
    const jsm = await (await import('@nats-io/jetstream')).jetstreamManager(nc);
    const info = await jsm.streams.info('SB_COMMANDS');
    const leader = info.cluster?.leader;
    const victim =
      cluster.servers.find((s) => s.name === leader) ?? (cluster.servers[0] as (typeof cluster.servers)[0]);
    await victim.kill();
    const killedAt = Date.now();
    for (let i = 0; i < 50; i++) await append();
    const afterKillMs = Date.now() - killedAt;
    expect(acked).toHaveLength(100);
    const stored = await collect(log.read(tenant, 0));
    expect(stored.map(({ seq, commands }) => ({ seq, commands }))).toEqual(acked);
    // Each batch names the one before it (the load's check that nothing after a snapshot was trimmed).
    expect(stored.map((b) => b.prev)).toEqual(acked.map((_, i) => (i === 0 ? 0 : acked[i - 1]?.seq)));
    // The killed server comes back and catches up; still nothing lost or duplicated.
    await victim.start();
    for (let i = 0; i < 10; i++) await append();
    const after = await collect(log.read(tenant, 0));
    expect(after.map(({ seq, commands }) => ({ seq, commands }))).toEqual(acked);
    console.log(
      `[replication] killed ${victim.name} (stream leader: ${leader ?? 'unknown'}); 50 more appends took ${afterKillMs} ms with ${failures} retried failures; 110 acked, 110 stored`,
    );
  }, 120_000);
});

/**
 * Nodes started together with their NATS cluster (a fresh deployment, a rolling restart) find JetStream
 * not ready: no meta leader yet, new R3 streams and buckets without a leader. A node must wait for it,
 * saying so in its log, instead of exiting on the first "no responders" (which is what the loadtest's
 * 3-server cluster hit before: `no responders: '$JS.API.DIRECT.GET.KV_SB_NODES…'`, node exited 1).
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { afterEach, describe, expect, it } from 'vitest';
import { type ClusterPorts, createClusterPorts } from '../../src/cluster/nats/index.js';
import { type NatsCluster, startNatsCluster } from '../support/nats-server.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function clusterWithOneServerUp(): Promise<NatsCluster> {
  const cluster = await startNatsCluster(3);
  cleanups.push(() => cluster.cleanup());
  // Two of three down: no JetStream meta leader, nothing R3 can be placed.
  await cluster.servers[1]?.kill();
  await cluster.servers[2]?.kill();
  return cluster;
}

function openNode(cluster: NatsCluster, nodeId: string, startupMs: number, logged: string[]) {
  return createClusterPorts({
    natsUrl: cluster.urls.join(','),
    nodeId,
    replicas: 3,
    leaseTtlMs: 2000,
    startupMs,
    log: (msg, fields) => logged.push(`${msg} ${JSON.stringify(fields ?? {})}`),
  });
}

describe('start-up while JetStream is not ready', () => {
  it('nodes wait for a NATS cluster that is still forming, then start on R3 streams and buckets', async () => {
    const cluster = await clusterWithOneServerUp();
    const logged: string[] = [];
    const starting = ['node-a', 'node-b'].map((id) => openNode(cluster, id, 60_000, logged));
    const settled: (ClusterPorts | Error)[] = [];
    for (const p of starting)
      void p.then(
        (ports) => {
          settled.push(ports);
          cleanups.push(() => ports.close());
        },
        (e: Error) => settled.push(e),
      );
    // A JetStream call without a meta leader fails after its timeout (a few seconds), then is retried.
    const waitingSince = Date.now();
    while (
      !logged.some((l) => l.startsWith('JetStream not ready; retrying')) &&
      Date.now() - waitingSince < 20_000
    )
      await new Promise((r) => setTimeout(r, 100));
    expect(logged.find((l) => l.startsWith('JetStream not ready; retrying'))).toMatch(
      /"step":"command log streams"/,
    );
    // Still waiting, not failed.
    expect(settled).toEqual([]);
    await cluster.servers[1]?.start();
    await cluster.servers[2]?.start();
    const ports = await Promise.all(starting);
    for (const p of ports) {
      expect(p.mode).toBe('cluster');
      // Both registered their node lease in the R3 bucket.
      expect(p.ownership.leaseLosses).toEqual({ fenced: 0, expired: 0, lapsed: 0 });
    }
    const jsm = await jetstreamManager((ports[0] as ClusterPorts).nc);
    expect((await jsm.streams.info('KV_SB_NODES')).config.num_replicas).toBe(3);
  }, 90_000);

  it('gives up after --nats-startup-ms with the not-ready error, instead of waiting for ever', async () => {
    const cluster = await clusterWithOneServerUp();
    const t0 = Date.now();
    await expect(openNode(cluster, 'node-c', 1500, [])).rejects.toThrow(
      /no responders|timeout|temporarily unavailable|no suitable peers/i,
    );
    // The call under way at the deadline runs to its own timeout (a few seconds), then start-up gives up.
    expect(Date.now() - t0).toBeLessThan(15_000);
  }, 60_000);
});

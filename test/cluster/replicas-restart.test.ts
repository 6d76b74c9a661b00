/**
 * `--nats-replicas` (SB_NATS_REPLICAS) applies to every stream and bucket at each start, not only to the
 * ones a node creates: a cluster started with R1 and restarted with R3 must end up with all five at R3.
 * Before, only SB_COMMANDS was updated; SB_EVENTS, SB_SNAPSHOTS, KV_SB_OWNERS and KV_SB_NODES stayed R1
 * without a word.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClusterPorts } from '../../src/cluster/nats/index.js';
import { type NatsCluster, startNatsCluster } from '../support/nats-server.js';
import { waitFor } from '../support/wait-for.js';

const STREAMS = ['SB_COMMANDS', 'SB_EVENTS', 'SB_SNAPSHOTS', 'KV_SB_OWNERS', 'KV_SB_NODES'];

let cluster: NatsCluster;
beforeAll(async () => {
  cluster = await startNatsCluster(3);
}, 60_000);
afterAll(async () => {
  await cluster?.cleanup();
});

/** Starts a node with `replicas`, returns what it logged about stream settings and the streams' replicas. */
async function startAndStop(
  replicas: number,
): Promise<{ changed: string[]; replicas: Record<string, number> }> {
  const changed: string[] = [];
  const ports = await createClusterPorts({
    natsUrl: cluster.urls.join(','),
    nodeId: 'node-a',
    replicas,
    leaseTtlMs: 2000,
    log: (msg, fields) => {
      if (msg === 'stream settings changed') changed.push(JSON.stringify(fields));
    },
  });
  try {
    const jsm = await jetstreamManager(ports.nc);
    const got: Record<string, number> = {};
    for (const s of STREAMS) got[s] = (await jsm.streams.info(s)).config.num_replicas;
    if (replicas > 1) {
      // Really replicated, not only configured: every stream gets its two followers.
      for (const s of STREAMS.filter((s) => got[s] === replicas))
        await waitFor(async () => (await jsm.streams.info(s)).cluster?.replicas?.length === replicas - 1, {
          what: `${s} to have ${replicas - 1} replicas besides its leader`,
          timeoutMs: 30_000,
          intervalMs: 200,
        });
    }
    return { changed, replicas: got };
  } finally {
    await ports.close();
  }
}

describe('--nats-replicas on restart', () => {
  it('brings all five streams and buckets from R1 to R3, logging each change once', async () => {
    const first = await startAndStop(1);
    expect(first.replicas).toEqual(Object.fromEntries(STREAMS.map((s) => [s, 1])));
    expect(first.changed).toEqual([]);

    const second = await startAndStop(3);
    expect(second.replicas).toEqual(Object.fromEntries(STREAMS.map((s) => [s, 3])));
    expect(second.changed.map((l) => JSON.parse(l).stream).sort()).toEqual([...STREAMS].sort());
    for (const l of second.changed)
      expect(JSON.parse(l).changed).toEqual({ num_replicas: { from: 1, to: 3 } });

    // Already at the settings: nothing to change, nothing logged.
    const third = await startAndStop(3);
    expect(third.replicas).toEqual(Object.fromEntries(STREAMS.map((s) => [s, 3])));
    expect(third.changed).toEqual([]);
  }, 120_000);
});

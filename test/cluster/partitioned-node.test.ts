/**
 * One node cut off from NATS while its clients still reach it — the asymmetric network partition. Node A
 * owns the demo tenant and reaches NATS through a TCP proxy that is made a black hole for 1.5 × the lease
 * TTL under a steady stream of enqueues: no byte moves either way, nothing is closed, so A hears of it only
 * from its own timers; node B stays connected. Then the proxy heals and everything A sent during the cut
 * (appends, lease renewals, forwarded calls) reaches the server late, in order. Checks:
 *  - B takes the tenant over during the cut;
 *  - A stops answering from its copy once its lease validity has passed: a read through A during the cut
 *    is refused with a retryable status, never answered (and never a 404 from a stale copy);
 *  - every request A answered 200 is on B; what A refused lands once when retried with the same id;
 *  - A's late appends and renewals are fenced (`switchboard_node_lease_lost_total` on A), it serves again
 *    after the cut and agrees with B;
 *  - `SB_EVENTS` stores no log batch twice.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Answer,
  call,
  demoPair,
  demoWriters,
  enqueueUntilOk,
  expectNothingLost,
  leaseLosses,
  RETRYABLE_HTTP,
} from '../support/demo-calls.js';
import { natsForTest } from '../support/nats-server.js';
import { DEMO_CONVERSATIONS, type NodeProcess, startNodeProcess } from '../support/node-process.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

/** The node's default lease TTL (`DEFAULT_LEASE_TTL_MS`); the cut outlasts it. */
const TTL_MS = 2000;
const CUT_MS = 1.5 * TTL_MS;

let nats: Awaited<ReturnType<typeof natsForTest>>;
let nc: NatsConnection;
let proxy: TcpProxy;
const nodes: NodeProcess[] = [];

beforeAll(async () => {
  nats = await natsForTest('partitioned-node');
  nc = await connect({ servers: nats.urls });
  const first = new URL((nats.urls[0] as string).replace(/^nats:/, 'http:'));
  proxy = await startTcpProxy(first.hostname, Number(first.port || 4222));
}, 60_000);

afterAll(async () => {
  proxy?.heal();
  for (const n of nodes) await n.dispose().catch(() => {});
  await proxy?.close();
  await nc?.close().catch(() => {});
  await nats?.cleanup();
});

describe('a node cut off from NATS (black hole) past its lease', () => {
  it('stops serving from its copy, the other node takes over, nothing A answered 200 is lost, its late writes are fenced', async () => {
    const [a, b] = await demoPair('cut', proxy.url, nats.urls.join(','), async (args) => {
      const n = await startNodeProcess({ args });
      nodes.push(n);
      return n;
    });
    const writers = demoWriters(a);
    await new Promise((r) => setTimeout(r, 300));
    proxy.blackhole();
    const cutAt = Date.now();
    let readDuringCut: Answer;
    try {
      const during = await enqueueUntilOk(b, 'while-cut');
      expect(during.status, JSON.stringify(during.body)).toBe(200);
      console.log(`[partitioned-node] B served the tenant ${Date.now() - cutAt} ms after A was cut off`);
      // A's lease validity (0.4 × TTL) has passed: it may not answer from its copy, which lacks 'while-cut'.
      readDuringCut = await call(a, `${DEMO_CONVERSATIONS}/while-cut`, {
        headers: { 'x-timeout-ms': '1000' },
      });
      await new Promise((r) => setTimeout(r, Math.max(0, cutAt + CUT_MS - Date.now())));
    } finally {
      proxy.heal();
    }
    console.log(`[partitioned-node] read through A during the cut: ${readDuringCut.status}`);
    expect(RETRYABLE_HTTP.has(readDuringCut.status), JSON.stringify(readDuringCut)).toBe(true);
    await new Promise((r) => setTimeout(r, 1500));
    await writers.stop();
    await expectNothingLost('partitioned-node', a, b, writers.answers, ['while-cut'], nc);
    const losses = await leaseLosses(a);
    console.log(`[partitioned-node] A's lease losses: ${JSON.stringify(losses)}`);
    expect(Object.values(losses).reduce((n, x) => n + x, 0)).toBeGreaterThan(0);
  }, 120_000);
});

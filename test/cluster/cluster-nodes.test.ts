/**
 * Two real nodes in cluster mode (built `dist/`, `--nats-url`) on a NATS server this test starts: a
 * conversation enqueued through the node that does not own the tenant is routed by its owner, and after
 * the owner is `kill -9`ed the other node takes the tenant over with the conversation intact.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoOwnerFirst, partitionsOwned } from '../support/demo-calls.js';
import { natsForTest } from '../support/nats-server.js';
import {
  DEMO_CONVERSATIONS,
  demoChatEnqueue,
  type NodeProcess,
  startNodeProcess,
} from '../support/node-process.js';

let nats: Awaited<ReturnType<typeof natsForTest>>;
const nodes: NodeProcess[] = [];

beforeAll(async () => {
  nats = await natsForTest('cluster-nodes');
}, 60_000);

afterAll(async () => {
  for (const n of nodes) await n.dispose().catch(() => {});
  await nats?.cleanup();
});

interface Reply {
  status: number;
  body: { conversation?: { id: string } };
}
const http = (n: NodeProcess, path: string, init?: RequestInit): Promise<Reply> =>
  fetch(`http://127.0.0.1:${n.httpPort}${path}`, init).then(async (r) => ({
    status: r.status,
    body: (await r.json()) as Reply['body'],
  }));

describe('cluster mode with real nodes', () => {
  it('routes through any node and survives kill -9 of the tenant owner with nothing acknowledged lost', async () => {
    const url = nats.urls.join(',');
    // Node A loads the demo tenant, so it claims the lease first, and keeps it when B joins (the ids
    // make A its rendezvous owner): the kill below takes the owner, not a forwarder.
    const [idA, idB] = demoOwnerFirst('nodes');
    const a = await startNodeProcess({
      args: ['--nats-url', url, '--node-id', idA, '--demo'],
    });
    nodes.push(a);
    const b = await startNodeProcess({ args: ['--nats-url', url, '--node-id', idB] });
    nodes.push(b);
    const enqueue = (n: NodeProcess, id: string) => http(n, DEMO_CONVERSATIONS, demoChatEnqueue(id));
    const acked: string[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await enqueue(i % 2 ? a : b, `conv-${i}`);
      expect(r.status).toBe(200);
      acked.push(`conv-${i}`);
    }
    const seen = await http(a, '/v1/tenants/demo/conversations/conv-1');
    expect(seen.body.conversation?.id).toBe('conv-1');
    expect(await partitionsOwned(a)).toBe(1);
    expect(await partitionsOwned(b)).toBe(0);

    await a.kill();
    const t0 = Date.now();
    const after = await enqueue(b, 'conv-after-kill');
    const failoverMs = Date.now() - t0;
    expect(after.status).toBe(200);
    acked.push('conv-after-kill');
    for (const id of acked) {
      const r = await http(b, `/v1/tenants/demo/conversations/${id}`);
      expect(r.status, `${id}: ${JSON.stringify(r.body)}`).toBe(200);
      expect(r.body.conversation?.id).toBe(id);
    }
    // The survivor took the tenant over without losing its own lease; SREs see lease losses by reason.
    const metrics = await fetch(`http://127.0.0.1:${b.httpPort}/metrics`).then((r) => r.text());
    for (const reason of ['fenced', 'expired', 'lapsed'])
      expect(metrics).toContain(`switchboard_node_lease_lost_total{reason="${reason}"} 0`);
    console.log(
      `[cluster-nodes] tenant served again by the surviving node ${failoverMs} ms after kill -9 of its owner`,
    );
  }, 90_000);
});

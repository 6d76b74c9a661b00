/**
 * A node whose NATS connection is gone is not ready once it has been gone for the lease TTL (by then it
 * holds no lease and can forward nothing: every call would be refused), so the load balancer stops
 * sending it calls and `SwitchboardNodeNotReady` can fire; a shorter blip keeps it ready, and it is ready
 * again as soon as it reconnects. Here the NATS server itself goes away (kill -9) and comes back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InProcessNode, startInProcessNode } from '../support/in-process-node.js';
import { type NatsServer, startNatsServer } from '../support/nats-server.js';
import { waitFor } from '../support/wait-for.js';

/** The node's lease TTL, and so the grace of a lost NATS connection. */
const TTL_MS = 2000;

let nats: NatsServer & { cleanup(): Promise<void> };
let node: InProcessNode;

beforeAll(async () => {
  // Its own server, never NATS_URL's: this test kills it.
  nats = await startNatsServer();
  node = await startInProcessNode({ natsUrl: nats.url, nodeId: `outage-${process.pid}`, leaseTtlMs: TTL_MS });
}, 60_000);

afterAll(async () => {
  await nats?.start().catch(() => undefined);
  await node?.stop();
  await nats?.cleanup();
});

const readyz = async () => (await node.http('GET', '/readyz')).status;

describe('readiness and the NATS connection', () => {
  it('/readyz fails once NATS has been gone for the lease TTL, and passes again after the reconnect', async () => {
    expect(await readyz()).toBe(200);
    await nats.kill();
    const lostAt = Date.now();
    // Within the grace: still ready (a blip does not empty the load balancer).
    expect(await readyz()).toBe(200);
    await waitFor(async () => (await readyz()) === 503, {
      what: '/readyz to fail',
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    const unreadyAfter = Date.now() - lostAt;
    console.log(`[nats-outage-readiness] /readyz 503 ${unreadyAfter} ms after NATS went away`);
    expect(unreadyAfter).toBeGreaterThanOrEqual(TTL_MS - 100);
    expect((await node.http('GET', '/readyz')).body).toEqual({ status: 'not_ready' });
    // Still alive: only readiness says it cannot serve.
    expect((await node.http('GET', '/healthz')).status).toBe(200);

    await nats.start();
    const backAt = Date.now();
    await waitFor(async () => (await readyz()) === 200, {
      what: '/readyz to pass after the reconnect',
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    console.log(`[nats-outage-readiness] /readyz 200 again ${Date.now() - backAt} ms after NATS came back`);
    const lines = node.lines.map((l) => String(l.msg));
    expect(lines.some((m) => m.startsWith('NATS connection lost'))).toBe(true);
    expect(lines).toContain('NATS connection back');
    // The lease renewals that failed meanwhile: counted, and logged once when they started and once when
    // they went through again (not on every renewal).
    await waitFor(() => node.lines.some((l) => l.msg === 'node lease renewals go through again'), {
      what: 'lease renewals to go through again',
    });
    expect(await node.metric('switchboard_node_lease_renewal_failures_total')).toBeGreaterThan(0);
    expect(node.lines.filter((l) => String(l.msg).startsWith('node lease renewal failed'))).toHaveLength(1);
  }, 60_000);
});

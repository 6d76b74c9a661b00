/**
 * A node whose wall clock is wrong must not move other nodes' tenants in time. Node B's clock runs 30 s
 * ahead (an injected `Clock`, as libfaketime would make it); node A, with a correct clock, owns tenant
 * `clk`. A call through B is forwarded to A, and A stamps the command with its own clock: the stored time
 * is A's, and an offer made afterwards on `clk` times out after its 2 s, not 2 s + 30 s (the time B's
 * stamp would have dragged the tenant's clock to, while A arms its timers on its own clock).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rendezvousOwner } from '../../src/cluster/nats/rendezvous.js';
import { chatDesk, chatEnqueue, type InProcessNode, startInProcessNode } from '../support/in-process-node.js';
import { natsForTest } from '../support/nats-server.js';
import { waitFor } from '../support/wait-for.js';

const SKEW_MS = 30_000;
const TENANT = 'clk';

let nats: Awaited<ReturnType<typeof natsForTest>>;
const nodes: InProcessNode[] = [];

beforeAll(async () => {
  nats = await natsForTest('skewed-clock');
}, 60_000);

afterAll(async () => {
  for (const n of nodes) await n.stop();
  await nats?.cleanup();
});

/** Ids for two nodes such that rendezvous hashing gives `tenant` to the first. */
function ownerFirst(label: string, tenant: string): [string, string] {
  for (let k = 0; ; k++) {
    const ids: [string, string] = [`${label}-a${k}-${process.pid}`, `${label}-b${k}-${process.pid}`];
    if (rendezvousOwner(tenant, ids) === ids[0]) return ids;
  }
}

describe('a node whose clock runs ahead', () => {
  it('forwards to the owner, which stamps the command with its own clock: offer timeouts fire on time', async () => {
    const url = nats.urls.join(',');
    const [idA, idB] = ownerFirst('skew', TENANT);
    const a = await startInProcessNode({ natsUrl: url, nodeId: idA });
    nodes.push(a);
    const b = await startInProcessNode(
      { natsUrl: url, nodeId: idB },
      { clock: { now: () => Date.now() + SKEW_MS } },
    );
    nodes.push(b);
    await chatDesk(a, TENANT, { offerTimeoutSeconds: 2, agents: 2 });
    // One lease TTL: B is a member, and the tenant stays with A (its rendezvous owner).
    await new Promise((r) => setTimeout(r, 2000));
    expect(await a.metric('switchboard_partitions_owned')).toBe(1);
    expect(await b.metric('switchboard_partitions_owned')).toBe(0);

    // Through B, forwarded to A.
    const before = Date.now();
    const y = await chatEnqueue(b, TENANT, 'Y');
    expect(y.status, JSON.stringify(y.body)).toBe(200);
    const stored = await a.http('GET', `/v1/tenants/${TENANT}/conversations/Y`);
    const createdAt = Number((stored.body.conversation as { createdAtMs?: string }).createdAtMs);
    console.log(`[skewed-clock] Y stored at real time ${createdAt - before} ms after it was sent via B`);
    expect(createdAt).toBeGreaterThanOrEqual(before - 5);
    expect(createdAt).toBeLessThan(Date.now() + 1000);

    // Through the owner: offered, then the 2 s offer timeout passes.
    const t0 = Date.now();
    const w = await chatEnqueue(a, TENANT, 'W');
    expect(w.status, JSON.stringify(w.body)).toBe(200);
    expect(w.body.status).toBe('ENQUEUE_STATUS_OFFERED');
    const offeredTo = w.body.agentId as string;
    // Timed out: the offer to that agent is gone (W is queued again, or offered to the other agent).
    const endedAfter = await waitFor(
      async () => {
        const c = await a.http('GET', `/v1/tenants/${TENANT}/conversations/W`);
        const conv = c.body.conversation as { offeredTo?: string[] };
        return conv.offeredTo?.includes(offeredTo) ? 0 : Date.now() - t0;
      },
      { what: "W's 2 s offer to time out", timeoutMs: 15_000, intervalMs: 100 },
    );
    console.log(`[skewed-clock] W's 2 s offer ended after ${endedAfter} ms`);
    expect(endedAfter).toBeLessThan(4000);
  }, 90_000);
});

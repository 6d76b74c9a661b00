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
/** A: correct clock, owner of `clk`. B: clock 30 s ahead. */
let a: InProcessNode;
let b: InProcessNode;

beforeAll(async () => {
  nats = await natsForTest('skewed-clock');
  const url = nats.urls.join(',');
  const [idA, idB] = ownerFirst('skew', TENANT);
  a = await startInProcessNode({ natsUrl: url, nodeId: idA });
  nodes.push(a);
  b = await startInProcessNode({ natsUrl: url, nodeId: idB }, { clock: { now: () => Date.now() + SKEW_MS } });
  nodes.push(b);
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

  it('a tenant taken over from it runs ahead of the new owner’s clock: exported as a gauge and logged once', async () => {
    // A tenant B owns: its commands carry B's time.
    const ids = [a.node.nodeId, b.node.nodeId];
    let tenant = '';
    for (let k = 0; !tenant; k++) if (rendezvousOwner(`ahead-${k}`, ids) === ids[1]) tenant = `ahead-${k}`;
    await chatDesk(b, tenant, { offerTimeoutSeconds: 2, agents: 1 });
    expect(await a.metric('switchboard_partition_time_ahead_seconds')).toBe(0);
    // B leaves (hands its tenants over); A takes the tenant, whose time is B's: 30 s ahead of A's clock.
    await b.stop();
    await waitFor(async () => (await chatEnqueue(a, tenant, 'after-handover')).status === 200, {
      what: `A to serve ${tenant}`,
      timeoutMs: 20_000,
      intervalMs: 200,
    });
    const ahead = await a.metric('switchboard_partition_time_ahead_seconds');
    console.log(`[skewed-clock] after the handover, A exports partition time ${ahead} s ahead of its clock`);
    expect(ahead).toBeGreaterThan(SKEW_MS / 1000 - 5);
    expect(ahead).toBeLessThanOrEqual(SKEW_MS / 1000);
    await a.metric('switchboard_partition_time_ahead_seconds'); // another scrape: no second line
    const warned = a.lines.filter((l) => /partition time runs ahead/.test(String(l.msg)));
    expect(warned.map((l) => l.tenant)).toEqual([tenant]);
    expect(Number(warned[0]?.aheadMs)).toBeGreaterThan(SKEW_MS - 5000);
  }, 90_000);
});

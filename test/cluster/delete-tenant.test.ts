/**
 * DeleteTenant in a cluster (two in-process nodes on the test's own NATS): served by the tenant's owner
 * whichever node is asked, it leaves nothing in NATS (no command-log or fence subject, no snapshot, no
 * owner key, and no node claims the tenant back afterwards), ends watchers on the other node, and the
 * tenant stays gone when its owner stops and another node serves. A deletion stopped after its tombstone
 * (a crash) leaves a tenant that reads as no tenant, and the next DeleteTenant finishes it.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatDesk, chatEnqueue, type InProcessNode, startInProcessNode } from '../support/in-process-node.js';
import { natsForTest } from '../support/nats-server.js';
import { waitFor } from '../support/wait-for.js';

let nats: Awaited<ReturnType<typeof natsForTest>>;
let url: string;
let nc: NatsConnection;
const nodes: InProcessNode[] = [];
const run = `${process.pid}`;
let started = 0;

async function addNode(): Promise<InProcessNode> {
  const n = await startInProcessNode({ natsUrl: url, nodeId: `del-${++started}-${run}` });
  nodes.push(n);
  return n;
}

beforeAll(async () => {
  nats = await natsForTest('delete-tenant');
  url = nats.urls.join(',');
  nc = await connect({ servers: nats.urls });
  await addNode();
  await addNode();
}, 60_000);

afterAll(async () => {
  for (const n of nodes) await n.stop();
  await nc?.close();
  await nats?.cleanup();
});

/** Every trace of tenant `t` in NATS: its log and fence subjects, snapshot subjects, owner key. */
async function traces(t: string): Promise<string[]> {
  const jsm = await jetstreamManager(nc);
  const found: string[] = [];
  for (const stream of ['SB_COMMANDS', 'SB_SNAPSHOTS']) {
    const info = await jsm.streams.info(stream, { subjects_filter: '>' }).catch(() => null);
    for (const s of Object.keys(info?.state.subjects ?? {}))
      if (s.split('.').includes(t)) found.push(`${stream} ${s}`);
  }
  const owners = await new Kvm(nc).open('SB_OWNERS');
  for await (const k of await owners.keys()) if (k === t) found.push(`SB_OWNERS ${k}`);
  return found;
}

async function ownerOf(t: string): Promise<InProcessNode> {
  const n = await waitFor(
    async () => {
      for (const x of nodes) if (x.node.host.slotOf(t) !== null) return x;
      return null;
    },
    { what: `an owner of ${t}` },
  );
  return n as InProcessNode;
}

function del(n: InProcessNode, t: string, force = false) {
  return n.http('DELETE', `/v1/tenants/${t}`, force ? { force: true } : undefined);
}

describe('DeleteTenant in a cluster', () => {
  it('through the node that does not own it: nothing left in NATS, watchers elsewhere end, nobody claims it back', async () => {
    const t = `del${run}a`;
    const [n0, n1] = nodes as [InProcessNode, InProcessNode];
    await chatDesk(n0, t, { offerTimeoutSeconds: 20, agents: 1 });
    const owner = await ownerOf(t);
    const other = owner === n0 ? n1 : n0;
    await owner.node.host.drain(t); // a snapshot too
    expect((await traces(t)).length).toBeGreaterThanOrEqual(3);

    // A watcher on the node that does not own the tenant (cluster event stream).
    const sse = await fetch(`http://127.0.0.1:${other.node.httpPort}/v1/tenants/${t}/events`);
    expect(sse.status).toBe(200);
    const sseText = sse.text();
    await new Promise((r) => setTimeout(r, 200));

    // Open conversation: refused without force.
    const c = await chatEnqueue(other, t, 'c1');
    expect(c.status, JSON.stringify(c.body)).toBe(200);
    const refused = await del(other, t);
    expect(refused.status, JSON.stringify(refused.body)).toBe(409);
    expect((refused.body.error as { code: string }).code).toBe('SB_ERR_TENANT_HAS_OPEN_CONVERSATIONS');

    const r = await del(other, t, true);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toEqual({ existed: true, openConversations: 1 });
    expect(await sseText).toContain('event: end');
    expect(await traces(t)).toEqual([]);
    for (const n of nodes) expect(n.node.host.slotOf(t)).toBeNull();

    // A lease TTL later nobody has claimed it back, and it reads as no tenant from both nodes.
    await new Promise((res) => setTimeout(res, 2500));
    expect(await traces(t)).toEqual([]);
    for (const n of nodes) {
      const q = await n.http('GET', `/v1/tenants/${t}/queues/q1`);
      expect(q.status).toBe(404);
    }
    expect(await traces(t)).toEqual([]);
    const again = await del(other, t);
    expect(again.body).toEqual({});
    expect(again.status).toBe(200);
  }, 60_000);

  it('stays gone when its owner stops and another node serves', async () => {
    const t = `del${run}b`;
    await chatDesk(nodes[0] as InProcessNode, t, { offerTimeoutSeconds: 20, agents: 1 });
    const owner = await ownerOf(t);
    await owner.node.host.drain(t);
    const r = await del(owner, t);
    expect(r.body).toEqual({ existed: true });
    nodes.splice(nodes.indexOf(owner), 1);
    await owner.stop();
    const fresh = await addNode();
    for (const n of nodes) {
      const q = await n.http('GET', `/v1/tenants/${t}/queues/q1`);
      expect(q.status).toBe(404);
    }
    await new Promise((res) => setTimeout(res, 2500));
    expect(await traces(t)).toEqual([]);
    expect(fresh.node.host.slotOf(t)).toBeNull();
  }, 60_000);

  it('a deletion stopped after its tombstone: the tenant reads as no tenant, and the next DeleteTenant finishes it', async () => {
    const t = `del${run}c`;
    try {
      await chatDesk(nodes[0] as InProcessNode, t, { offerTimeoutSeconds: 20, agents: 1 });
    } catch (e) {
      for (const n of nodes)
        for (const l of n.lines)
          if (JSON.stringify(l).includes(t)) console.log(n.node.nodeId, JSON.stringify(l));
      throw e;
    }
    const owner = await ownerOf(t);
    await owner.node.host.drain(t);
    // Every node stops (a graceful stop hands the tenant over to the others, so all go, and the last hands
    // it to nobody); then the tombstone its deletion would have written is all that lands, with nothing
    // hosting the tenant: as after a node that crashed right after DeleteTenant's first step.
    for (const n of nodes.splice(0)) await n.stop();
    const h = headers();
    h.set('Sb-Tombstone', '1');
    await jetstream(nc).publish(`sb.cmd.${t}`, new TextEncoder().encode('[]'), { headers: h });
    await addNode();
    await addNode();
    for (const n of nodes) {
      const q = await n.http('GET', `/v1/tenants/${t}/queues/q1`);
      expect(q.status, JSON.stringify(q.body)).toBe(404);
      const w = await chatEnqueue(n, t, 'x');
      expect(w.status).toBe(404);
    }
    const r = await del(nodes[0] as InProcessNode, t);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toEqual({});
    expect(await traces(t)).toEqual([]);
  }, 60_000);
});

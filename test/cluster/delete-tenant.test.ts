/**
 * DeleteTenant in a cluster (two in-process nodes on the test's own NATS): served by the tenant's owner
 * whichever node is asked, it leaves nothing in NATS (no command-log or fence subject, no event message
 * in `SB_EVENTS`, no snapshot, no owner key, and no node claims the tenant back afterwards) while other
 * tenants' events stay, ends watchers on the other node, and the tenant stays gone when its owner stops
 * and another node serves. A deletion stopped after its tombstone (a crash) leaves a tenant that reads as
 * no tenant, and the next DeleteTenant (on another node) finishes it, its events included. With the log
 * spread over several command streams (`--nats-command-streams 3`) the same holds.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeleteFaults } from '../../src/host/partition-host.js';
import { chatDesk, chatEnqueue, type InProcessNode, startInProcessNode } from '../support/in-process-node.js';
import { type NatsServer, natsForTest, startNatsServer } from '../support/nats-server.js';
import { waitFor } from '../support/wait-for.js';

let nats: Awaited<ReturnType<typeof natsForTest>>;
let url: string;
let nc: NatsConnection;
const nodes: InProcessNode[] = [];
const run = `${process.pid}`;
let started = 0;
/** The tenant whose next deletion stops right after its snapshot is removed (as if its node crashed). */
let crashAfterSnapshot: string | null = null;
const faults: DeleteFaults = {
  afterSnapshotRemoved(t) {
    if (t !== crashAfterSnapshot) return;
    crashAfterSnapshot = null;
    throw new Error(`test: crash deleting ${t} after its snapshot was removed`);
  },
};

async function addNode(): Promise<InProcessNode> {
  const n = await startInProcessNode(
    { natsUrl: url, nodeId: `del-${++started}-${run}` },
    { deleteFaults: faults },
  );
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

/**
 * Every trace of tenant `t` in NATS: its subjects in any stream (command-log shards, fences, events,
 * snapshots), and its owner key.
 */
async function traces(t: string, conn: NatsConnection = nc): Promise<string[]> {
  const jsm = await jetstreamManager(conn);
  const found: string[] = [];
  for await (const si of jsm.streams.list()) {
    const stream = si.config.name;
    if (stream.startsWith('KV_')) continue; // the buckets: their keys below
    const info = await jsm.streams.info(stream, { subjects_filter: '>' }).catch(() => null);
    for (const s of Object.keys(info?.state.subjects ?? {}))
      if (s.split('.').includes(t)) found.push(`${stream} ${s}`);
  }
  const owners = await new Kvm(conn).open('SB_OWNERS');
  for await (const k of await owners.keys()) if (k === t) found.push(`SB_OWNERS ${k}`);
  return found;
}

/** Messages stored on tenant `t`'s event subject in `SB_EVENTS`. */
async function storedEvents(t: string, conn: NatsConnection = nc): Promise<number> {
  const jsm = await jetstreamManager(conn);
  const info = await jsm.streams.info('SB_EVENTS', { subjects_filter: `sb.evt.${t}` });
  return info.state.subjects?.[`sb.evt.${t}`] ?? 0;
}

/** Waits until tenant `t` has event messages stored, and returns how many. */
function eventsStored(t: string, conn: NatsConnection = nc): Promise<number> {
  return waitFor(async () => storedEvents(t, conn), { what: `stored events of ${t}` });
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

    // Another tenant with events of its own, which must stay.
    const bystander = `del${run}keep`;
    await chatDesk(n0, bystander, { offerTimeoutSeconds: 20, agents: 1 });
    expect((await chatEnqueue(n0, bystander, 'k1')).status).toBe(200);
    await waitFor(async () => (await storedEvents(t)) >= 2, { what: `the events of ${t}'s enqueue` });
    // Its events leave gathered (at most one message per 10 ms), so count them once all are stored: a
    // drain flushes the publisher. Counted earlier, a late one made `kept` one short (CI, session 13).
    await (await ownerOf(bystander)).node.host.drain(bystander);
    const kept = await eventsStored(bystander);
    expect(await traces(t)).toContain(`SB_EVENTS sb.evt.${t}`);

    const r = await del(other, t, true);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toEqual({ existed: true, openConversations: 1 });
    expect(await sseText).toContain('event: end');
    expect(await traces(t)).toEqual([]);
    expect(await storedEvents(t)).toBe(0);
    expect(await storedEvents(bystander)).toBe(kept);
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
    await eventsStored(t);
    const r = await del(owner, t);
    expect(r.body).toEqual({ existed: true });
    expect(await storedEvents(t)).toBe(0);
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

  it('a deletion that crashed after its tombstone and snapshot removal: another node finishes it, events purged too', async () => {
    const t = `del${run}d`;
    const bystander = `del${run}dkeep`;
    await chatDesk(nodes[0] as InProcessNode, t, { offerTimeoutSeconds: 20, agents: 1 });
    await chatDesk(nodes[0] as InProcessNode, bystander, { offerTimeoutSeconds: 20, agents: 1 });
    const owner = await ownerOf(t);
    await owner.node.host.drain(t);
    await (await ownerOf(bystander)).node.host.drain(bystander); // all its events stored: see above
    const before = await eventsStored(t);
    const kept = await eventsStored(bystander);
    crashAfterSnapshot = t;
    const failed = await del(owner, t);
    expect(failed.status, JSON.stringify(failed.body)).not.toBe(200);
    expect(crashAfterSnapshot).toBeNull();
    // Stopped half-way: the tombstone and the events are still there, the snapshot is gone.
    const left = await traces(t);
    expect(left).toContain(`SB_COMMANDS sb.cmd.${t}`);
    expect(left.some((x) => x.startsWith('SB_SNAPSHOTS'))).toBe(false);
    expect(await storedEvents(t)).toBe(before);
    // Its node goes; another finishes the deletion when asked.
    nodes.splice(nodes.indexOf(owner), 1);
    await owner.stop();
    const other = nodes[0] as InProcessNode;
    const r = await del(other, t);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(await traces(t)).toEqual([]);
    expect(await storedEvents(t)).toBe(0);
    expect(await storedEvents(bystander)).toBe(kept);
    if (nodes.length < 2) await addNode();
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
    await eventsStored(t);
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
    // The two fresh nodes' rebalance may have claimed the tombstoned tenant's lease just before (seen in
    // a full run: only `SB_OWNERS <t>` left); a lease of an absent tenant is given up after 1 s
    // (docs/ARCHITECTURE.md, "Deletion"), so it must be gone within a few seconds, never kept.
    await waitFor(async () => (await traces(t)).length === 0, {
      what: `no trace of ${t} left`,
      timeoutMs: 5000,
    }).catch(async (e) => {
      expect(await traces(t), (e as Error).message).toEqual([]);
    });
    expect(await storedEvents(t)).toBe(0);
  }, 60_000);
});

describe('DeleteTenant with the log over three command streams', () => {
  // Always a server of its own: an external one (NATS_URL) already has a log with one command stream.
  let nats3: NatsServer & { cleanup(): Promise<void> };
  let nc3: NatsConnection;
  let node: InProcessNode;

  beforeAll(async () => {
    nats3 = await startNatsServer();
    nc3 = await connect({ servers: nats3.url });
    node = await startInProcessNode({
      natsUrl: nats3.url,
      nodeId: `del-k3-${run}`,
      natsCommandStreams: 3,
    });
  }, 60_000);

  afterAll(async () => {
    await node?.stop();
    await nc3?.close();
    await nats3?.cleanup();
  });

  it('purges the tenant from its command-stream shard and from SB_EVENTS, other tenants untouched', async () => {
    // On shards 2, 0, 1, 0 of three (FNV-1a of the id, `command-log.ts`).
    const tenants = ['k3a', 'k3b', 'k3c', 'k3d'];
    for (const t of tenants) await chatDesk(node, t, { offerTimeoutSeconds: 20, agents: 1 });
    for (const t of tenants) await node.node.host.drain(t);
    const counts = new Map<string, number>();
    for (const t of tenants) counts.set(t, await eventsStored(t, nc3));
    const shards = new Set<string>();
    for (const t of tenants)
      for (const x of await traces(t, nc3))
        if (x.startsWith('SB_COMMANDS')) shards.add(x.split(' ')[0] as string);
    expect(shards.size).toBeGreaterThan(1); // the tenants are spread over more than one stream
    const [gone, ...rest] = tenants as [string, ...string[]];
    const r = await node.http('DELETE', `/v1/tenants/${gone}`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(await traces(gone, nc3)).toEqual([]);
    expect(await storedEvents(gone, nc3)).toBe(0);
    for (const t of rest) {
      expect(await storedEvents(t, nc3)).toBe(counts.get(t));
      expect((await traces(t, nc3)).length).toBeGreaterThanOrEqual(3);
    }
  }, 60_000);
});

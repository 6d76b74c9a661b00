import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toQueueConfig } from '../../src/api/validate/queue.js';
import { type EventBatch, JetStreamEventPublisher } from '../../src/cluster/nats/events.js';
import { ClusterPartitionRouter } from '../../src/cluster/nats/forwarding.js';
import { KvOwnership } from '../../src/cluster/nats/ownership.js';
import { eventSubject, rpcSubject } from '../../src/cluster/nats/subjects.js';
import type { Clock } from '../../src/cluster/ports.js';
import type { Query, QueryResult } from '../../src/engine/api.js';
import type { ApplyResult, CommandEnvelope } from '../../src/engine/types.js';
import type { EventFilter, PartitionRouter, PublishedEvent } from '../../src/host/router.js';
import { chatQueue } from '../api/support/fixtures.js';
import { envelope } from '../support/contracts.js';
import { natsForTest } from '../support/nats-server.js';
import { waitFor } from '../support/wait-for.js';

let nats: Awaited<ReturnType<typeof natsForTest>>;
const conns: NatsConnection[] = [];
const stops: (() => Promise<void>)[] = [];
let n = 0;

beforeAll(async () => {
  nats = await natsForTest('forwarding');
});
afterAll(async () => {
  for (const s of stops.reverse()) await s().catch(() => {});
  for (const c of conns) await c.close().catch(() => {});
  await nats?.cleanup();
});

/** A stand-in for the partition host: records which node applied what, emits one event per command. */
class RecordingHost implements PartitionRouter {
  readonly applied: { tenant: string; id: string; at: number }[] = [];
  private readonly subs = new Set<{ f: EventFilter; fn: (e: PublishedEvent) => void }>();
  private seq = 0;
  constructor(readonly nodeId: string) {}
  async submit(tenant: string, env: CommandEnvelope): Promise<ApplyResult> {
    // The router's warm-up tick on gaining a partition is not a client command.
    if (!env.id.startsWith('gain:')) this.applied.push({ tenant, id: env.id, at: env.at });
    this.seq++;
    const event = {
      type: 'presence_changed',
      agentId: 'agent-1',
      presence: 'online',
      reason: 'agent',
    } as never;
    for (const s of this.subs)
      if (s.f.tenant === tenant) s.fn({ tenant, seq: this.seq, index: 0, at: env.at, event });
    return { ok: true, reply: { kind: 'ok' }, events: [event] };
  }
  async query(_tenant: string, q: Query): Promise<QueryResult> {
    // A page bigger than NATS's max_payload (8 MB in the test servers): a big tenant's agents.
    if (q.type === 'list_agents') return { type: 'digest', digest: 'x'.repeat(9 * 1024 * 1024) };
    return { type: 'digest', digest: this.nodeId };
  }
  subscribe(f: EventFilter, fn: (e: PublishedEvent) => void): () => void {
    const s = { f, fn };
    this.subs.add(s);
    return () => this.subs.delete(s);
  }
  ready(): boolean {
    return true;
  }
}

async function clusterNode(
  name: string,
  buckets: { nodesBucket: string; ownersBucket: string },
  clock?: Clock,
  leaseTtlMs = 1000,
) {
  // Node ids are unique per test: they name the request subject `sb.rpc.<nodeId>` on the shared server.
  const nodeId = `${name}-${n}`;
  const nc = await connect({ servers: nats.urls });
  conns.push(nc);
  const ownership = new KvOwnership(nc, { nodeId, leaseTtlMs, settleMs: 60_000, ...buckets });
  await ownership.start();
  const host = new RecordingHost(nodeId);
  const events = await JetStreamEventPublisher.open(nc, {
    stream: `SB_EVENTS_T${process.pid}`,
    subjectPrefix: `sbt${process.pid}.evt`,
  });
  const router = new ClusterPartitionRouter({
    nc,
    ownership,
    local: host,
    events,
    eventSubjectPrefix: `sbt${process.pid}.evt`,
    defaultDeadlineMs: 5000,
    ...(clock ? { clock } : {}),
  });
  router.start();
  stops.push(async () => {
    await router.stop();
    await ownership.stop();
  });
  return { nc, ownership, host, router };
}

function buckets() {
  n++;
  return { nodesBucket: `F${process.pid}_NODES_${n}`, ownersBucket: `F${process.pid}_OWNERS_${n}` };
}

/**
 * Two routers sharing fresh membership/lease buckets, once each has seen the other join. Lease TTL 1 s
 * unless given: a test that needs the owner to keep its lease throughout on a busy machine asks for
 * longer (at 1 s a starved process lapses it 400 ms after its last renewal, and the calls move).
 */
async function twoRouters(clocks: { a?: Clock; b?: Clock } = {}, leaseTtlMs = 1000) {
  const b = buckets();
  const a = await clusterNode('router-a', b, clocks.a, leaseTtlMs);
  const c = await clusterNode('router-b', b, clocks.b, leaseTtlMs);
  const ids = [a.ownership.nodeId, c.ownership.nodeId];
  await waitFor(() => [a, c].every((x) => ids.every((id) => x.ownership.liveNodes().includes(id))), {
    what: `${ids.join(' and ')} to see each other as live members`,
  });
  return { a, c };
}

describe('forwarding to the lease holder', () => {
  it('a command sent to any router is applied once, on the tenant’s owner', async () => {
    const { a, c } = await twoRouters();
    const tenant = 'acme';
    const owner = a.ownership.desiredOwner(tenant);
    const [winner, other] = owner === a.ownership.nodeId ? [a, c] : [c, a];
    await other.router.submit(tenant, envelope());
    await winner.router.submit(tenant, envelope());
    await other.router.submit(tenant, envelope());
    expect(winner.host.applied.filter((x) => x.tenant === tenant)).toHaveLength(3);
    expect(other.host.applied).toHaveLength(0);
    expect(winner.ownership.owns(tenant)).toBe(true);
    expect(await other.router.query(tenant, { type: 'digest' })).toEqual({
      type: 'digest',
      digest: winner.host.nodeId,
    });
    expect(other.router.forwarded).toBeGreaterThanOrEqual(3);
  });

  it('the owner stamps every command it serves with its own clock, forwarded or not', async () => {
    // Router a's clock runs an hour ahead, b's an hour behind; neither stamp may reach the other's host.
    const { a, c } = await twoRouters({
      a: { now: () => Date.now() + 3_600_000 },
      b: { now: () => Date.now() - 3_600_000 },
    });
    const tenant = 'stamped';
    const owner = a.ownership.desiredOwner(tenant);
    const [winner, other] = owner === a.ownership.nodeId ? [a, c] : [c, a];
    const skew = winner === a ? 3_600_000 : -3_600_000;
    const sent = [envelope(), envelope()];
    // The envelopes come stamped by whichever node received the call (here: far from either clock).
    for (const e of sent) e.at = 1_000;
    await other.router.submit(tenant, sent[0] as CommandEnvelope);
    await winner.router.submit(tenant, sent[1] as CommandEnvelope);
    const applied = winner.host.applied.filter((x) => x.tenant === tenant);
    expect(applied.map((x) => x.id)).toEqual(sent.map((e) => e.id));
    for (const x of applied) expect(Math.abs(x.at - (Date.now() + skew))).toBeLessThan(5000);
  });

  it('an answer too large for NATS fails that call with PAYLOAD_TOO_LARGE; the owner carries on', async () => {
    const { a, c } = await twoRouters();
    const tenant = 'big-tenant';
    const owner = a.ownership.desiredOwner(tenant);
    const [winner, other] = owner === a.ownership.nodeId ? [a, c] : [c, a];
    await winner.router.submit(tenant, envelope()); // the owner claims it
    await expect(other.router.query(tenant, { type: 'list_agents' })).rejects.toMatchObject({
      code: 'SB_ERR_PAYLOAD_TOO_LARGE',
    });
    // Still serving, locally and forwarded.
    expect(await other.router.query(tenant, { type: 'digest' })).toEqual({
      type: 'digest',
      digest: winner.host.nodeId,
    });
    await other.router.submit(tenant, envelope());
    expect(winner.host.applied.filter((x) => x.tenant === tenant)).toHaveLength(2);
  });

  it('calls forwarded in one turn travel as one NATS request and are applied in the order sent', async () => {
    const { a, c } = await twoRouters({}, 3000);
    const tenant = 'umbrella';
    const owner = a.ownership.desiredOwner(tenant);
    const [winner, other] = owner === a.ownership.nodeId ? [a, c] : [c, a];
    await other.router.submit(tenant, envelope()); // claims the lease
    const before = other.router.forwardRequests;
    const envs = Array.from({ length: 10 }, () => envelope());
    const results = await Promise.all(envs.map((e) => other.router.submit(tenant, e)));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(other.router.forwardRequests - before).toBe(1);
    const applied = winner.host.applied.filter((x) => x.tenant === tenant).map((x) => x.id);
    expect(applied.slice(-10)).toEqual(envs.map((e) => e.id));
    // A query in the same turn as commands is answered on its own terms.
    const [q, r] = await Promise.all([
      other.router.query(tenant, { type: 'digest' }),
      other.router.submit(tenant, envelope()),
    ]);
    expect(q).toEqual({ type: 'digest', digest: winner.host.nodeId });
    expect(r.ok).toBe(true);
  });

  it('when the owner is cut off, calls through another router wait out the lease and succeed there', async () => {
    const { a, c } = await twoRouters();
    const tenant = 'globex';
    expect(await a.ownership.acquire(tenant)).toBe(true);
    await c.router.submit(tenant, envelope());
    expect(a.host.applied).toHaveLength(1);
    await a.nc.close(); // the owner vanishes without handing over
    const t0 = Date.now();
    await c.router.submit(tenant, envelope(), 5000);
    const ms = Date.now() - t0;
    expect(c.host.applied).toHaveLength(1);
    expect(c.ownership.owns(tenant)).toBe(true);
    console.log(
      `[forwarding] call during owner loss answered by the new owner after ${ms} ms (lease TTL 1000 ms)`,
    );
  });

  it('a call whose deadline runs out while the owner is unreachable fails with DEADLINE_EXCEEDED', async () => {
    const { a, c } = await twoRouters();
    const tenant = 'hooli';
    expect(await a.ownership.acquire(tenant)).toBe(true);
    await c.router.submit(tenant, envelope());
    await a.nc.close(); // gone; its lease still looks alive for 0.5 × TTL (500 ms)
    const t0 = Date.now();
    // (The last attempt may also be one the server still routed to the closed connection: then it is
    // the attempt that ran out, "did not answer before the deadline".)
    await expect(c.router.submit(tenant, envelope(), 150)).rejects.toMatchObject({
      code: 'SB_ERR_DEADLINE_EXCEEDED',
    });
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(c.host.applied).toHaveLength(0);
  });

  it('the owner does not serve a forwarded call that reached it after its budget, however the clocks disagree', async () => {
    const { a, c } = await twoRouters();
    const tenant = 'late-calls';
    const owner = a.ownership.desiredOwner(tenant);
    const [winner, other] = owner === a.ownership.nodeId ? [a, c] : [c, a];
    await winner.router.submit(tenant, envelope()); // the owner claims it
    // Forwarded calls as another node sends them, from a process whose monotonic clock reads an hour
    // behind this one's: `sent` is on its clock, `ms` the caller's time left.
    const offset = 3_600_000;
    const rpc = async (env: CommandEnvelope, ms: number, heldBackMs: number) => {
      const body = {
        kind: 'submit',
        tenant,
        env,
        hops: 1,
        ms,
        sent: performance.timeOrigin + performance.now() - offset - heldBackMs,
        from: 'elsewhere:1',
      };
      const m = await other.nc.request(rpcSubject(winner.ownership.nodeId), JSON.stringify(body), {
        timeout: 5000,
      });
      return m.json<{ ok: boolean; code?: string; message?: string }>();
    };
    const [onTime, first, late, slowButInBudget] = [envelope(), envelope(), envelope(), envelope()];
    expect(await rpc(first, 50, 0)).toMatchObject({ ok: true }); // the first call: the reference
    expect(await rpc(onTime, 50, 0)).toMatchObject({ ok: true });
    // Held back 600 ms (an owner stopped, a connection stalled) with a 50 ms budget: not served.
    const r = await rpc(late, 50, 600);
    expect(r).toMatchObject({ ok: false, code: 'SB_ERR_DEADLINE_EXCEEDED' });
    expect(r.message).toMatch(/reached the owner \d+ ms late, past its 50 ms budget: not applied/);
    // Held back as long, with budget to spare: served.
    expect(await rpc(slowButInBudget, 5000, 600)).toMatchObject({ ok: true });
    const applied = winner.host.applied.filter((x) => x.tenant === tenant).map((x) => x.id);
    expect(applied).toContain(onTime.id);
    expect(applied).toContain(slowButInBudget.id);
    expect(applied).not.toContain(late.id);
    expect(winner.router.forwardedTooLate).toBe(1);
  });

  it('the owner refuses a forwarded call the API would have refused (a forged one: any NATS client can publish)', async () => {
    const { a, c } = await twoRouters();
    const tenant = 'forged-calls';
    const owner = a.ownership.desiredOwner(tenant);
    const [winner, other] = owner === a.ownership.nodeId ? [a, c] : [c, a];
    await winner.router.submit(tenant, envelope()); // the owner claims it
    const rpc = async (body: unknown) => {
      const m = await other.nc.request(rpcSubject(winner.ownership.nodeId), JSON.stringify(body), {
        timeout: 5000,
      });
      return m.json<{ ok: boolean; code?: string; message?: string }>();
    };
    const badQueue = envelope({
      type: 'upsert_queue',
      queue: { ...toQueueConfig(chatQueue('q')), id: 'has space/and slash', name: 'x'.repeat(100_000) },
    });
    expect(await rpc({ kind: 'submit', tenant, env: badQueue, hops: 1 })).toMatchObject({
      ok: false,
      code: 'SB_ERR_INVALID_ARGUMENT',
    });
    const weird = '../../weird tenant';
    expect(await rpc({ kind: 'submit', tenant: weird, env: envelope(), hops: 1 })).toMatchObject({
      ok: false,
      code: 'SB_ERR_INVALID_ARGUMENT',
      message: expect.stringMatching(/^tenant: /),
    });
    // In a batch too, each call on its own.
    const good = envelope();
    const batch = await other.nc.request(
      rpcSubject(winner.ownership.nodeId),
      JSON.stringify({
        kind: 'batch',
        calls: [
          { kind: 'submit', tenant, env: good, hops: 1 },
          { kind: 'submit', tenant, env: badQueue, hops: 1 },
        ],
      }),
      { timeout: 5000 },
    );
    expect(batch.json<{ batch: { ok: boolean }[] }>().batch.map((r) => r.ok)).toEqual([true, false]);
    const applied = winner.host.applied.map((x) => ({ tenant: x.tenant, id: x.id }));
    expect(applied).toContainEqual({ tenant, id: good.id });
    expect(applied.some((x) => x.id === badQueue.id || x.tenant === weird)).toBe(false);
    expect(winner.router.forwardedRefused).toBe(3);
  });

  it('events of an owned tenant are stored in the events stream under its subject and reach other routers', async () => {
    const { a, c } = await twoRouters();
    const tenant = `initech.${Date.now()}`;
    const seen: PublishedEvent[] = [];
    const off = c.router.subscribe({ tenant, agentId: 'agent-1' }, (e) => seen.push(e));
    // A core NATS subscription: the server has it once a round trip on the same connection is done.
    await c.nc.flush();
    await a.router.submit(tenant, envelope());
    try {
      await waitFor(() => seen.length > 0, { what: 'the event to reach the other router' });
    } finally {
      off();
    }
    expect(seen[0]?.tenant).toBe(tenant);
    const js = jetstream(a.nc);
    const subject = eventSubject(tenant).replace(/^sb\.evt/, `sbt${process.pid}.evt`);
    const consumer = await js.consumers.get(`SB_EVENTS_T${process.pid}`, {
      filter_subjects: [subject],
      deliver_policy: DeliverPolicy.All,
    });
    const m = await consumer.next({ expires: 2000 });
    const stored = m?.json<EventBatch>();
    expect(stored?.tenant).toBe(tenant);
    expect(stored?.events.some((e) => (e.event as { agentId?: string }).agentId === 'agent-1')).toBe(true);
    expect(subject).toMatch(/\.initech=2e\d+$/);
  });
});

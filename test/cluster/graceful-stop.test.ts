/**
 * A graceful stop in cluster mode hands the stopping node's tenants over one by one, and their calls go
 * on through the other nodes: three in-process nodes on this test's NATS server, several tenants owned
 * by node A, steady calls to them sent through node B, then A stops (SIGTERM's path: `node.stop()`).
 *
 * 1. Measured: no call fails with a non-retryable error, every call is eventually answered (a gateway
 *    retries retryable answers with the same conversation id), and every acknowledged conversation is
 *    there afterwards. The figures (longest call, retryable answers) are printed, not asserted.
 * 2. A tenant's final snapshot held by the store: the stopping node still serves, or has already handed
 *    over, every other tenant meanwhile. Before, it stopped answering forwarded calls first and released
 *    the leases only after every final snapshot, so one slow snapshot kept all its tenants unreachable.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { boundedAssignment, rendezvousOwner } from '../../src/cluster/nats/rendezvous.js';
import type { SnapshotStore, StoredSnapshot } from '../../src/cluster/ports.js';
import { ERRORS } from '../../src/errors/catalogue.js';
import { chatDesk, chatEnqueue, type InProcessNode, startInProcessNode } from '../support/in-process-node.js';
import { natsForTest } from '../support/nats-server.js';
import { waitFor } from '../support/wait-for.js';

/** Conversations waiting in each tenant before the stop. */
const WAITING = 500;

const servers: Awaited<ReturnType<typeof natsForTest>>[] = [];
const nodes: InProcessNode[] = [];

afterAll(async () => {
  for (const n of nodes) await n.stop();
  for (const s of servers) await s.cleanup();
});

/** Three node ids and `count` tenants whose rendezvous owner among the three is the first node. */
/**
 * `count` tenants the bounded spread places on node A, and twice as many fillers it places on B and C:
 * the spread caps a node at ⌈1.25 × tenants / nodes⌉, so A keeps all of its tenants only beside others
 * (4 tenants alone on 3 nodes: at most 2 per node).
 */
function layout(
  label: string,
  count: number,
): { ids: [string, string, string]; tenants: string[]; fillers: string[] } {
  const ids: [string, string, string] = [
    `${label}-a-${process.pid}`,
    `${label}-b-${process.pid}`,
    `${label}-c-${process.pid}`,
  ];
  for (let round = 0; ; round++) {
    const tenants: string[] = [];
    const fillers: string[] = [];
    for (let k = 0; tenants.length < count; k++) {
      const t = `${label}-${round}-t${k}`;
      if (rendezvousOwner(t, ids) === ids[0]) tenants.push(t);
    }
    for (let k = 0; fillers.length < 2 * count; k++) {
      const t = `${label}-${round}-f${k}`;
      if (rendezvousOwner(t, ids) !== ids[0]) fillers.push(t);
    }
    const want = boundedAssignment([...tenants, ...fillers], ids);
    if (tenants.every((t) => want.get(t) === ids[0]) && fillers.every((t) => want.get(t) !== ids[0]))
      return { ids, tenants, fillers };
  }
}

async function startThree(
  label: string,
  count: number,
  wrapA?: (s: SnapshotStore) => SnapshotStore,
): Promise<{ a: InProcessNode; b: InProcessNode; c: InProcessNode; tenants: string[] }> {
  const { ids, tenants, fillers } = layout(label, count);
  // A NATS server of its own: no partition, lease or member of another case is in its buckets.
  const nats = await natsForTest(`graceful-stop ${label}`);
  servers.push(nats);
  const url = nats.urls.join(',');
  // The whole grace for the hand-over: the test's calls, not the grace, decide what is measured.
  const over = { natsUrl: url, shutdownGraceMs: 20_000 };
  const a = await startInProcessNode({ ...over, nodeId: ids[0] }, wrapA ? { wrapSnapshots: wrapA } : {});
  nodes.push(a);
  const b = await startInProcessNode({ ...over, nodeId: ids[1] });
  nodes.push(b);
  const c = await startInProcessNode({ ...over, nodeId: ids[2] });
  nodes.push(c);
  // Every node sees the other two (one lease TTL), so B forwards each tenant to A, which claims it.
  await new Promise((r) => setTimeout(r, 2000));
  for (const t of fillers) await chatDesk(b, t, { offerTimeoutSeconds: 60, agents: 1 });
  for (const t of tenants) await chatDesk(b, t, { offerTimeoutSeconds: 60, agents: 5 });
  await waitFor(async () => (await a.metric('switchboard_partitions_owned')) === count, {
    what: `node A to own the ${count} tenants`,
    // A busy machine can let a lease lapse; the tenants then come back to A, where the spread wants them.
    timeoutMs: 30_000,
  });
  // Some weight for the final snapshots: conversations waiting in each tenant (sent to A, their owner).
  for (const t of tenants) {
    for (let i = 0; i < WAITING; i += 50) {
      const batch = Array.from({ length: 50 }, (_, k) => chatEnqueue(a, t, `${label}-w${i + k}`, 10_000));
      for (const r of await Promise.all(batch)) expect(r.status, JSON.stringify(r.body)).toBe(200);
    }
  }
  return { a, b, c, tenants };
}

/** Stops the nodes still running, so the next case's nodes are the only members. */
async function stopAll(): Promise<void> {
  for (const n of nodes.splice(0)) await n.stop();
}

interface CallLog {
  acked: Map<string, string>;
  /** Retryable answers seen, by code. */
  retried: Map<string, number>;
  /** Non-retryable answers: must stay empty. */
  fatal: string[];
  /** First send to final answer, ms, per call, with its tenant and the time it started. */
  calls: { tenant: string; startedAt: number; ms: number }[];
}

/**
 * One gateway per tenant: enqueues conversation after conversation through `via`, each with a 1 s deadline
 * and retried with the same id after a retryable answer (as gateways are told to), until `stop()`.
 */
function steadyCalls(via: InProcessNode, tenants: string[], label: string) {
  const log: CallLog = { acked: new Map(), retried: new Map(), fatal: [], calls: [] };
  let running = true;
  const loops = tenants.map(async (t) => {
    for (let i = 0; running; i++) {
      const id = `${label}-${t}-${i}`;
      const startedAt = Date.now();
      for (;;) {
        const r = await chatEnqueue(via, t, id, 1000).catch((e: unknown) => ({
          status: 0,
          body: { error: { code: 'TRANSPORT', message: String(e) } } as Record<string, unknown>,
        }));
        if (r.status === 200) break;
        const err = (r.body.error ?? {}) as { code?: string; message?: string };
        const code = err.code ?? `HTTP_${r.status}`;
        const retryable = (ERRORS as Record<string, { retryable: boolean }>)[code]?.retryable === true;
        if (!retryable) {
          log.fatal.push(`${t}/${id}: ${r.status} ${code} ${err.message ?? ''}`);
          break;
        }
        log.retried.set(code, (log.retried.get(code) ?? 0) + 1);
        await new Promise((res) => setTimeout(res, 20));
      }
      log.calls.push({ tenant: t, startedAt, ms: Date.now() - startedAt });
      log.acked.set(id, t);
      await new Promise((res) => setTimeout(res, 10));
    }
  });
  return {
    log,
    async stop(): Promise<void> {
      running = false;
      await Promise.all(loops);
    },
  };
}

describe('graceful stop in cluster mode', () => {
  it('hands the stopping node’s tenants over while their calls go on through another node: none fails for good, none is lost', async () => {
    const { a, b, tenants } = await startThree('gstop', 4);
    const load = steadyCalls(b, tenants, 'm');
    await new Promise((r) => setTimeout(r, 1500));
    const stopAt = Date.now();
    await a.stop();
    const stopMs = Date.now() - stopAt;
    await new Promise((r) => setTimeout(r, 1500));
    await load.stop();
    const { log } = load;
    expect(log.fatal).toEqual([]);
    // Every acknowledged conversation is there, wherever its tenant went.
    for (const [id, t] of log.acked) {
      const r = await b.http('GET', `/v1/tenants/${t}/conversations/${id}`, undefined, 5000);
      expect(r.status, `${t}/${id}: ${JSON.stringify(r.body)}`).toBe(200);
    }
    const during = log.calls.filter((c) => c.startedAt + c.ms >= stopAt && c.startedAt <= stopAt + stopMs);
    const max = (xs: { ms: number }[]) => xs.reduce((m, c) => Math.max(m, c.ms), 0);
    const before = log.calls.filter((c) => c.startedAt + c.ms < stopAt);
    // Each tenant's gateway waits for its own gap: the longest of its calls overlapping the stop.
    const perTenant = tenants.map((t) => max(during.filter((c) => c.tenant === t)));
    console.log(
      `[graceful-stop] ${tenants.length} tenants, ${log.calls.length} calls (${log.acked.size} acknowledged, all found); ` +
        `stop took ${stopMs} ms; longest call before the stop ${max(before)} ms, overlapping the stop ${max(during)} ms ` +
        `(${during.length} calls; per tenant ${perTenant.join('/')} ms); retryable answers ${JSON.stringify(Object.fromEntries(log.retried))}`,
    );
    await stopAll();
  }, 180_000);

  it('one tenant’s final snapshot held by the store: the stopping node’s other tenants are served meanwhile', async () => {
    let hold: { tenant: string; reached: () => void; gate: Promise<void> } | null = null;
    const wrap = (inner: SnapshotStore): SnapshotStore => ({
      async save(s: StoredSnapshot) {
        const h = hold;
        if (h && s.partition === h.tenant) {
          h.reached();
          await h.gate;
        }
        return inner.save(s);
      },
      load: (p) => inner.load(p),
      storedSeq: (p) => inner.storedSeq(p),
      close: () => inner.close(),
    });
    const { a, b, tenants } = await startThree('ghold', 3, wrap);
    // Each tenant has something no snapshot holds yet, so each gets a final snapshot at the stop.
    for (const t of tenants) expect((await chatEnqueue(b, t, `${t}-first`)).status).toBe(200);
    const [held, ...others] = tenants as [string, ...string[]];
    let open!: () => void;
    let reached!: () => void;
    const atSave = new Promise<void>((r) => {
      reached = r;
    });
    hold = { tenant: held, reached, gate: new Promise<void>((r) => (open = r)) };
    const stopping = a.stop();
    await atSave;
    // While the held tenant's final snapshot waits, every other tenant answers through B.
    for (const t of others) {
      const r = await chatEnqueue(b, t, `${t}-while-held`, 3000);
      expect(r.status, `${t}: ${JSON.stringify(r.body)}`).toBe(200);
    }
    open();
    await stopping;
    const r = await chatEnqueue(b, held, `${held}-after`, 5000);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    for (const t of tenants) {
      for (const id of [`${t}-first`, t === held ? `${t}-after` : `${t}-while-held`]) {
        const g = await b.http('GET', `/v1/tenants/${t}/conversations/${id}`, undefined, 5000);
        expect(g.status, `${t}/${id}: ${JSON.stringify(g.body)}`).toBe(200);
      }
    }
    await stopAll();
  }, 180_000);
});

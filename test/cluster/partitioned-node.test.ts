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
  comparable,
  demoEnqueue,
  demoGet,
  demoOwnerFirst,
  enqueueUntilOk,
  firstStepBack,
  partitionsOwned,
  RETRYABLE_HTTP,
  storedDemoEventSeqs,
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
    const [idA, idB] = demoOwnerFirst('cut');
    const a = await startNodeProcess({
      args: ['--nats-url', proxy.url, '--node-id', idA, '--demo'],
    });
    nodes.push(a);
    const b = await startNodeProcess({
      args: ['--nats-url', nats.urls.join(','), '--node-id', idB],
    });
    nodes.push(b);
    for (let i = 0; i < 5; i++) expect((await demoEnqueue(a, `before-${i}`)).status).toBe(200);
    // A holds the tenant (the ids make it A's by rendezvous, so B's joining does not move it).
    await new Promise((r) => setTimeout(r, TTL_MS));
    expect(await partitionsOwned(a)).toBe(1);
    expect(await partitionsOwned(b)).toBe(0);

    const answers = new Map<string, Answer>();
    let writing = true;
    const writers = Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; writing; i++) answers.set(`w${w}-${i}`, await demoEnqueue(a, `w${w}-${i}`));
    });
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
    expect(RETRYABLE_HTTP.has(readDuringCut.status), JSON.stringify(readDuringCut)).toBe(true);
    await new Promise((r) => setTimeout(r, 1500));
    writing = false;
    await Promise.all(writers);

    const ok = [...answers].filter(([, x]) => x.status === 200).map(([id]) => id);
    const refused = [...answers].filter(([, x]) => x.status !== 200);
    console.log(
      `[partitioned-node] writers to A: ${ok.length} answered 200, ${refused.length} refused (${[...new Set(refused.map(([, x]) => x.status))].join(', ') || 'none'}); read through A during the cut: ${readDuringCut.status}`,
    );
    expect(ok.length).toBeGreaterThan(4);
    for (const [id, x] of refused)
      expect(RETRYABLE_HTTP.has(x.status), `${id}: ${JSON.stringify(x)}`).toBe(true);
    for (const [id] of refused) expect((await enqueueUntilOk(b, id)).status).toBe(200);

    const all = ['while-cut', ...Array.from({ length: 5 }, (_, i) => `before-${i}`), ...answers.keys()];
    for (const id of all) {
      const onB = await demoGet(b, id);
      expect(onB.status, `${id} on B: ${JSON.stringify(onB.body)}`).toBe(200);
      const onA = await demoGet(a, id);
      expect(onA.status, `${id} on A: ${JSON.stringify(onA.body)}`).toBe(200);
      expect(comparable(onA)).toEqual(comparable(onB));
    }
    const metrics = await fetch(`http://127.0.0.1:${a.httpPort}/metrics`).then((r) => r.text());
    const losses = [...metrics.matchAll(/switchboard_node_lease_lost_total\{reason="(\w+)"\} (\d+)/g)];
    console.log(`[partitioned-node] A's lease losses: ${losses.map((m) => `${m[1]} ${m[2]}`).join(', ')}`);
    expect(losses.reduce((n, m) => n + Number(m[2]), 0)).toBeGreaterThan(0);

    const seqs = await storedDemoEventSeqs(nc);
    expect(seqs.length).toBeGreaterThan(0);
    const back = firstStepBack(seqs);
    expect(back, `seq ${seqs[back]} stored after ${seqs[back - 1]}`).toBe(-1);
  }, 120_000);
});

/**
 * A whole node frozen past its lease — a stop-the-world pause, a VM suspended, a `SIGSTOP` — is the case
 * lease-based routers get wrong: the process wakes up believing it still owns its tenants, with requests
 * half done, appends unsent and acks unread. Here node A owns the demo tenant and takes a steady stream of
 * enqueues when it is `SIGSTOP`ped for 1.5 × its lease TTL; node B must take the tenant over meanwhile,
 * and when A is `SIGCONT`ed:
 *  - every request A answered 200, before or after the freeze, is in the tenant's state on B;
 *  - a request A holds over the freeze is never answered from its stale state: on waking A drops the
 *    tenant (its lease lapsed) and forwards the request to B,
 *    or refuses it with a retryable status (then a retry with the same id lands once) — a read of a
 *    conversation B took during the freeze, sent to A while frozen, is answered as B has it;
 *  - A knows it was fenced (`switchboard_node_lease_lost_total{reason="fenced"}`), then serves again and
 *    answers as B does;
 *  - `SB_EVENTS` stores no log batch twice: A's event messages held over the freeze are refused.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Answer,
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
import { type NodeProcess, startNodeProcess } from '../support/node-process.js';

/** The node's default lease TTL (`DEFAULT_LEASE_TTL_MS`); the freeze outlasts it. */
const TTL_MS = 2000;
const FROZEN_MS = 1.5 * TTL_MS;

let nats: Awaited<ReturnType<typeof natsForTest>>;
let nc: NatsConnection;
const nodes: NodeProcess[] = [];

beforeAll(async () => {
  nats = await natsForTest('frozen-node');
  nc = await connect({ servers: nats.urls });
}, 60_000);

afterAll(async () => {
  for (const n of nodes) {
    // A test that failed mid-freeze must not leave a stopped process behind.
    if (n.child.exitCode === null) n.child.kill('SIGCONT');
    await n.dispose().catch(() => {});
  }
  await nc?.close().catch(() => {});
  await nats?.cleanup();
});

describe('a node frozen past its lease', () => {
  it('is fenced out: the other node takes over, nothing A answered 200 is lost, nothing lands twice, and A serves again after waking', async () => {
    const [idA, idB] = demoOwnerFirst('frozen');
    const url = nats.urls.join(',');
    const a = await startNodeProcess({
      args: ['--nats-url', url, '--node-id', idA, '--demo'],
    });
    nodes.push(a);
    const b = await startNodeProcess({ args: ['--nats-url', url, '--node-id', idB] });
    nodes.push(b);
    for (let i = 0; i < 5; i++) expect((await demoEnqueue(a, `before-${i}`)).status).toBe(200);
    // A holds the tenant (the ids make it A's by rendezvous, so B's joining does not move it).
    await new Promise((r) => setTimeout(r, TTL_MS));
    expect(await partitionsOwned(a)).toBe(1);
    expect(await partitionsOwned(b)).toBe(0);

    // Four writers keep one enqueue each in flight at A, so the freeze catches some mid-way.
    const answers = new Map<string, Answer>();
    let writing = true;
    const writers = Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; writing; i++) answers.set(`w${w}-${i}`, await demoEnqueue(a, `w${w}-${i}`));
    });
    await new Promise((r) => setTimeout(r, 300));
    process.kill(a.pid, 'SIGSTOP');
    const frozenAt = Date.now();
    let readHeldOverFreeze: Promise<Answer> = Promise.resolve({ status: 0, body: {} });
    try {
      const during = await enqueueUntilOk(b, 'while-frozen');
      expect(during.status, JSON.stringify(during.body)).toBe(200);
      console.log(`[frozen-node] B served the tenant ${Date.now() - frozenAt} ms after A froze`);
      // Waits in A's socket; on waking A must not answer it from its copy, which lacks 'while-frozen'.
      // (Linux ends a stopped process's epoll_wait with EINTR, so A's timers run first and drop the
      // tenant; a loop stalled from within, by a long GC or a blocking task, reads it first, and only the
      // lease check against the clock stops it: ownership.test.ts covers that.)
      readHeldOverFreeze = demoGet(a, 'while-frozen');
      await new Promise((r) => setTimeout(r, Math.max(0, frozenAt + FROZEN_MS - Date.now())));
    } finally {
      process.kill(a.pid, 'SIGCONT');
    }
    const held = await readHeldOverFreeze;
    expect(held.status, `read held over the freeze: ${JSON.stringify(held.body)}`).toBe(200);
    expect(comparable(held)).toEqual(comparable(await demoGet(b, 'while-frozen')));
    await new Promise((r) => setTimeout(r, 1000));
    writing = false;
    await Promise.all(writers);

    const ok = [...answers].filter(([, x]) => x.status === 200).map(([id]) => id);
    const refused = [...answers].filter(([, x]) => x.status !== 200);
    console.log(
      `[frozen-node] writers to A: ${ok.length} answered 200, ${refused.length} refused (${[...new Set(refused.map(([, x]) => x.status))].join(', ') || 'none'})`,
    );
    expect(ok.length).toBeGreaterThan(4);
    // A dropped the tenant on waking, by the clock, before anything else.
    expect(a.lines().some((l) => l.includes('"partition lost"') && l.includes('"partition":"demo"'))).toBe(
      true,
    );
    // Refused means "try again", never a verdict on the conversation.
    for (const [id, x] of refused)
      expect(RETRYABLE_HTTP.has(x.status), `${id}: ${JSON.stringify(x)}`).toBe(true);
    for (const [id] of refused) expect((await enqueueUntilOk(b, id)).status).toBe(200);

    const all = ['while-frozen', ...Array.from({ length: 5 }, (_, i) => `before-${i}`), ...answers.keys()];
    for (const id of all) {
      const onB = await demoGet(b, id);
      expect(onB.status, `${id} on B: ${JSON.stringify(onB.body)}`).toBe(200);
      // A, awake again, serves (owning the tenant again or forwarding to B) and agrees with B.
      const onA = await demoGet(a, id);
      expect(onA.status, `${id} on A: ${JSON.stringify(onA.body)}`).toBe(200);
      expect(comparable(onA)).toEqual(comparable(onB));
    }
    const metrics = await fetch(`http://127.0.0.1:${a.httpPort}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/switchboard_node_lease_lost_total\{reason="fenced"\} [1-9]/);

    // Each log batch's events are stored once, in log order: a seq never goes back.
    const seqs = await storedDemoEventSeqs(nc);
    expect(seqs.length).toBeGreaterThan(0);
    const back = firstStepBack(seqs);
    expect(back, `seq ${seqs[back]} stored after ${seqs[back - 1]}`).toBe(-1);
  }, 120_000);
});

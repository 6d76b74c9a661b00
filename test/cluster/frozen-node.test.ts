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
  demoGet,
  demoPair,
  demoWriters,
  enqueueUntilOk,
  expectNothingLost,
  leaseLosses,
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
    const url = nats.urls.join(',');
    const [a, b] = await demoPair('frozen', url, url, async (args) => {
      const n = await startNodeProcess({ args });
      nodes.push(n);
      return n;
    });
    const writers = demoWriters(a);
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
    await writers.stop();
    // A dropped the tenant on waking, by the clock, before anything else.
    expect(a.lines().some((l) => l.includes('"partition lost"') && l.includes('"partition":"demo"'))).toBe(
      true,
    );
    await expectNothingLost('frozen-node', a, b, writers.answers, ['while-frozen'], nc);
    expect((await leaseLosses(a)).fenced).toBeGreaterThan(0);
  }, 120_000);
});

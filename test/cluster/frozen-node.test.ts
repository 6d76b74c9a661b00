/**
 * A whole node frozen past its lease — a stop-the-world pause, a VM suspended, a `SIGSTOP` — is the case
 * lease-based routers get wrong: the process wakes up believing it still owns its tenants, with requests
 * half done, appends unsent and acks unread. Here node A owns the demo tenant and takes a steady stream of
 * enqueues when it is `SIGSTOP`ped for 1.5 × its lease TTL; node B must take the tenant over meanwhile,
 * and when A is `SIGCONT`ed:
 *  - every request A answered 200, before or after the freeze, is in the tenant's state on B;
 *  - a request A holds over the freeze is never answered from its stale state: on waking A drops the
 *    tenant (its lease lapsed) and forwards the request to B, or refuses it with a retryable status
 *    (then a retry with the same id lands once);
 *  - A knows it was fenced (`switchboard_node_lease_lost_total{reason="fenced"}`), then serves again and
 *    answers as B does;
 *  - `SB_EVENTS` stores no log batch twice: A's event messages held over the freeze are refused.
 */
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EventBatch, unpackEventBatch } from '../../src/cluster/nats/events.js';
import { EVENTS_STREAM } from '../../src/cluster/nats/subjects.js';
import { natsForTest } from '../support/nats-server.js';
import {
  DEMO_CONVERSATIONS,
  demoChatEnqueue,
  type NodeProcess,
  startNodeProcess,
} from '../support/node-process.js';

/** The node's default lease TTL (`DEFAULT_LEASE_TTL_MS`); the freeze outlasts it. */
const TTL_MS = 2000;
const FROZEN_MS = 1.5 * TTL_MS;
/** Statuses a node answers while a tenant changes hands: the client retries with the same id. */
const RETRYABLE_HTTP = new Set([409, 429, 503, 504]);

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

interface Answer {
  status: number;
  body: { conversation?: { id: string; status?: string; estimatedWaitMs?: number }; code?: string };
}

async function call(n: NodeProcess, path: string, init?: RequestInit, timeoutMs = 20_000): Promise<Answer> {
  const r = await fetch(`http://127.0.0.1:${n.httpPort}${path}`, {
    ...init,
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: r.status, body: (await r.json()) as Answer['body'] };
}

const enqueue = (n: NodeProcess, id: string) => call(n, DEMO_CONVERSATIONS, demoChatEnqueue(id));
const get = (n: NodeProcess, id: string) => call(n, `${DEMO_CONVERSATIONS}/${id}`);

/** Retries an enqueue with the same id while the answer is retryable (the tenant is changing hands). */
async function enqueueUntilOk(n: NodeProcess, id: string, deadlineMs = 15_000): Promise<Answer> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const a = await enqueue(n, id);
    if (!RETRYABLE_HTTP.has(a.status) || Date.now() > until) return a;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Log seqs of the demo tenant's stored events, in stream order. */
async function storedEventSeqs(): Promise<number[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(EVENTS_STREAM);
  const consumer = await jetstream(nc).consumers.get(EVENTS_STREAM, {
    filter_subjects: ['sb.evt.demo'],
    deliver_policy: DeliverPolicy.All,
  });
  const seqs: number[] = [];
  const msgs = await consumer.consume();
  const timer = setTimeout(() => void msgs.close(), 5000);
  for await (const m of msgs) {
    for (const e of unpackEventBatch(m.json<EventBatch>())) seqs.push(e.seq);
    if (m.seq >= info.state.last_seq || m.info.pending === 0) break;
  }
  clearTimeout(timer);
  await msgs.close();
  return seqs;
}

describe('a node frozen past its lease', () => {
  it('is fenced out: the other node takes over, nothing A answered 200 is lost, nothing lands twice, and A serves again after waking', async () => {
    const url = nats.urls.join(',');
    const a = await startNodeProcess({
      args: ['--nats-url', url, '--node-id', `a-${process.pid}`, '--demo'],
    });
    nodes.push(a);
    const b = await startNodeProcess({ args: ['--nats-url', url, '--node-id', `b-${process.pid}`] });
    nodes.push(b);
    for (let i = 0; i < 5; i++) expect((await enqueue(a, `before-${i}`)).status).toBe(200);

    // Four writers keep one enqueue each in flight at A, so the freeze catches some mid-way.
    const answers = new Map<string, Answer>();
    let writing = true;
    const writers = Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; writing; i++) {
        const id = `w${w}-${i}`;
        answers.set(id, await enqueue(a, id).catch((e: Error) => ({ status: 0, body: { code: e.message } })));
      }
    });
    await new Promise((r) => setTimeout(r, 300));
    process.kill(a.pid, 'SIGSTOP');
    const frozenAt = Date.now();
    try {
      const during = await enqueueUntilOk(b, 'while-frozen');
      expect(during.status, JSON.stringify(during.body)).toBe(200);
      console.log(`[frozen-node] B served the tenant ${Date.now() - frozenAt} ms after A froze`);
      await new Promise((r) => setTimeout(r, Math.max(0, frozenAt + FROZEN_MS - Date.now())));
    } finally {
      process.kill(a.pid, 'SIGCONT');
    }
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
      const onB = await get(b, id);
      expect(onB.status, `${id} on B: ${JSON.stringify(onB.body)}`).toBe(200);
      // A, awake again, serves (owning the tenant again or forwarding to B) and agrees with B.
      const onA = await get(a, id);
      expect(onA.status, `${id} on A: ${JSON.stringify(onA.body)}`).toBe(200);
      // (Bar the estimated wait, which moves with the clock.)
      const { estimatedWaitMs: _wa, ...seenByA } = onA.body.conversation ?? {};
      const { estimatedWaitMs: _wb, ...seenByB } = onB.body.conversation ?? {};
      expect(seenByA).toEqual(seenByB);
    }
    const metrics = await fetch(`http://127.0.0.1:${a.httpPort}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/switchboard_node_lease_lost_total\{reason="fenced"\} [1-9]/);

    // Each log batch's events are stored once, in log order: a seq never goes back.
    const seqs = await storedEventSeqs();
    expect(seqs.length).toBeGreaterThan(0);
    const back = seqs.findIndex((s, i) => i > 0 && s < (seqs[i - 1] as number));
    expect(back, `seq ${seqs[back]} stored after ${seqs[back - 1]}`).toBe(-1);
  }, 120_000);
});

/**
 * Events lost between the log ack and their publish are recovered by the partition's next owner.
 *
 * Node A owns the tenant but connects as a NATS user that may not publish to `sb.evt.>`: every batch
 * it acknowledges is in the command log, none of its events reaches `SB_EVENTS` — the state a `kill -9`
 * right after the log ack leaves, made deterministic. A is then killed; node B takes the tenant over,
 * replays the log tail, finds none of its events stored and publishes them. Then B is killed and C
 * replays the same tail: it finds them stored and must not store any event twice.
 */
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EventBatch, unpackEventBatch } from '../../src/cluster/nats/events.js';
import { EVENTS_STREAM } from '../../src/cluster/nats/subjects.js';
import type { PublishedEvent } from '../../src/host/router.js';
import { type NatsServer, startNatsServer } from '../support/nats-server.js';
import {
  DEMO_CONVERSATIONS,
  demoChatEnqueue,
  type NodeProcess,
  startNodeProcess,
} from '../support/node-process.js';

let nats: NatsServer & { cleanup(): Promise<void> };
let nc: NatsConnection;
const nodes: NodeProcess[] = [];

beforeAll(async () => {
  nats = await startNatsServer({
    extraConfig: `authorization {
  users: [
    { user: full, password: pw }
    { user: noevents, password: pw, permissions: { publish: { deny: ["sb.evt.>"] } } }
  ]
}
`,
  });
  nc = await connect({ servers: nats.url, user: 'full', pass: 'pw' });
}, 60_000);

afterAll(async () => {
  for (const n of nodes) await n.dispose().catch(() => {});
  await nc?.close().catch(() => {});
  await nats?.cleanup();
});

const urlAs = (user: string) => nats.url.replace('nats://', `nats://${user}:pw@`);

function enqueue(n: NodeProcess, id: string): Promise<number> {
  return fetch(`http://127.0.0.1:${n.httpPort}${DEMO_CONVERSATIONS}`, demoChatEnqueue(id)).then(async (r) => {
    await r.text();
    return r.status;
  });
}

interface Stored {
  msgId: string;
  /** First event of its message (a message holds one log batch's events). */
  first: boolean;
  event: PublishedEvent;
}

/** Every event of SB_EVENTS for tenant `demo`, in stream order, with the id of its message. */
async function storedEvents(): Promise<Stored[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(EVENTS_STREAM).catch(() => null);
  if (!info || info.state.messages === 0) return [];
  const js = jetstream(nc);
  const consumer = await js.consumers.get(EVENTS_STREAM, {
    filter_subjects: ['sb.evt.demo'],
    deliver_policy: DeliverPolicy.All,
  });
  const out: Stored[] = [];
  const last = info.state.last_seq;
  const msgs = await consumer.consume();
  const timer = setTimeout(() => void msgs.close(), 5000);
  for await (const m of msgs) {
    const msgId = m.headers?.get('Nats-Msg-Id') ?? '';
    for (const [i, event] of unpackEventBatch(m.json<EventBatch>()).entries()) {
      out.push({ msgId, first: i === 0, event });
    }
    if (m.seq >= last || m.info.pending === 0) break;
  }
  clearTimeout(timer);
  await msgs.close();
  return out;
}

const conversationsIn = (events: Stored[]): Set<string> =>
  new Set(
    events
      .map((s) => (s.event.event as { conversationId?: string }).conversationId)
      .filter((c): c is string => c !== undefined),
  );

async function waitFor<T>(what: string, f: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  const until = Date.now() + 20_000;
  for (;;) {
    const v = await f();
    if (ok(v)) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Starts `name` as a full-rights node, kills `prev`, and waits until `name` owns the tenant (enqueue 200). */
async function takeOver(name: string, prev: NodeProcess, conversationId: string): Promise<NodeProcess> {
  const next = await startNodeProcess({
    args: ['--nats-url', urlAs('full'), '--node-id', `${name}-${process.pid}`],
  });
  nodes.push(next);
  await prev.kill();
  expect(
    await waitFor(
      `takeover by ${name}`,
      () => enqueue(next, conversationId),
      (s) => s === 200,
    ),
  ).toBe(200);
  return next;
}

describe('event recovery after the owner dies between log ack and publish', () => {
  it('the next owner publishes the missing tail it replays; the stream keeps each event once', async () => {
    const a = await startNodeProcess({
      args: ['--nats-url', urlAs('noevents'), '--node-id', `a-${process.pid}`, '--demo'],
    });
    nodes.push(a);
    const acked: string[] = [];
    for (let i = 0; i < 20; i++) {
      expect(await enqueue(a, `conv-${i}`)).toBe(200);
      acked.push(`conv-${i}`);
    }
    // A's events were all refused by the server: acknowledged, logged, not in the stream.
    expect(conversationsIn(await storedEvents()).size).toBe(0);

    const b = await takeOver('b', a, 'conv-b');
    acked.push('conv-b');

    const afterB = await waitFor('re-published events', storedEvents, (ev) => {
      const seen = conversationsIn(ev);
      return acked.every((c) => seen.has(c));
    });
    const ids = afterB.filter((s) => s.first).map((s) => s.msgId);
    expect(new Set(ids).size).toBe(ids.length);
    // Ids are derived from the log: `<tenant>:<seq of the last log batch in the message>`.
    for (const s of afterB) expect(Number(s.msgId.split(':')[1])).toBeGreaterThanOrEqual(s.event.seq);
    // The stream holds the tenant's batches in log order, each once.
    const seqs = afterB.map((s) => s.event.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));

    // C replays the same tail after B dies: nothing is stored twice.
    await takeOver('c', b, 'conv-c');
    acked.push('conv-c');
    const afterC = await waitFor('events of conv-c', storedEvents, (ev) => conversationsIn(ev).has('conv-c'));
    const idsC = afterC.filter((s) => s.first).map((s) => s.msgId);
    expect(new Set(idsC).size).toBe(idsC.length);
    // Every event stored after B's takeover is still there once, and only conv-c's batch (plus any
    // takeover tick) was added.
    const before = new Set(ids);
    const added = afterC.filter((s) => !before.has(s.msgId));
    for (const s of added) {
      const conv = (s.event.event as { conversationId?: string }).conversationId;
      if (conv !== undefined) expect(conv).toBe('conv-c');
    }
    const perConv = new Map<string, number>();
    for (const s of afterC) {
      const e = s.event.event as { type: string; conversationId?: string };
      if (e.conversationId && (e.type === 'assigned' || e.type === 'queued')) {
        perConv.set(e.conversationId, (perConv.get(e.conversationId) ?? 0) + 1);
      }
    }
    for (const conv of acked) expect(perConv.get(conv), conv).toBe(1);
    // One incarnation throughout, whichever owner stored the message: each new owner derives it from the
    // log's first batch or the snapshot it loads, so resume positions stay valid across takeovers.
    const incarnations = new Set(afterC.map((s) => s.event.incarnation));
    expect(incarnations.size).toBe(1);
    expect([...incarnations][0]).toBeGreaterThan(0);
    console.log(
      `[event-recovery] ${acked.length} acknowledged conversations; ${afterB.length} events re-published by B, ${added.length} added after C's takeover, no duplicates`,
    );
  }, 120_000);
});

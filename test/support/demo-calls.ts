/**
 * HTTP calls on the `--demo` tenant of a spawned node, and a reader of its stored events, for the cluster
 * tests that take a node away (freeze it, cut it off) and check what it answered against the survivor.
 */
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { expect } from 'vitest';
import { type EventBatch, unpackEventBatch } from '../../src/cluster/nats/events.js';
import { rendezvousOwner } from '../../src/cluster/nats/rendezvous.js';
import { EVENTS_STREAM } from '../../src/cluster/nats/subjects.js';
import { DEMO_CONVERSATIONS, demoChatEnqueue, type NodeProcess } from './node-process.js';

/** Statuses a node answers while a tenant changes hands: the client retries with the same id. */
export const RETRYABLE_HTTP = new Set([409, 429, 503, 504]);

export interface Answer {
  /** 0 when the call itself failed (connection, client timeout); `body.code` says why. */
  status: number;
  body: { conversation?: { id: string; status?: string; estimatedWaitMs?: number }; code?: string };
}

export async function call(
  n: NodeProcess,
  path: string,
  init?: RequestInit,
  timeoutMs = 20_000,
): Promise<Answer> {
  try {
    const r = await fetch(`http://127.0.0.1:${n.httpPort}${path}`, {
      ...init,
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: r.status, body: (await r.json()) as Answer['body'] };
  } catch (e) {
    return { status: 0, body: { code: (e as Error).message } };
  }
}

export const demoEnqueue = (n: NodeProcess, id: string): Promise<Answer> =>
  call(n, DEMO_CONVERSATIONS, demoChatEnqueue(id));
export const demoGet = (n: NodeProcess, id: string): Promise<Answer> =>
  call(n, `${DEMO_CONVERSATIONS}/${id}`);

/** Retries an enqueue with the same id while the answer is retryable (the tenant is changing hands). */
export async function enqueueUntilOk(n: NodeProcess, id: string, deadlineMs = 15_000): Promise<Answer> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const a = await demoEnqueue(n, id);
    if (!RETRYABLE_HTTP.has(a.status) || Date.now() > until) return a;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A conversation as a node shows it, bar the estimated wait (which moves with the clock). */
export function comparable(
  a: Answer,
): Omit<NonNullable<Answer['body']['conversation']>, 'estimatedWaitMs'> | undefined {
  if (!a.body.conversation) return undefined;
  const { estimatedWaitMs: _, ...rest } = a.body.conversation;
  return rest;
}

/** Log seqs of the demo tenant's stored events (`SB_EVENTS`, subject `sb.evt.demo`), in stream order. */
export async function storedDemoEventSeqs(nc: NatsConnection): Promise<number[]> {
  const info = await (await jetstreamManager(nc)).streams.info(EVENTS_STREAM);
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

/** Index of the first seq smaller than the one before it (a log batch stored again, or out of order), or -1. */
export const firstStepBack = (seqs: number[]): number =>
  seqs.findIndex((s, i) => i > 0 && s < (seqs[i - 1] as number));

/**
 * Ids for two nodes such that rendezvous hashing gives the demo tenant to the first: otherwise the first
 * would hand it over as soon as the second joined, and a test that takes the first away would take away
 * a mere forwarder.
 */
export function demoOwnerFirst(label: string): [string, string] {
  for (let k = 0; ; k++) {
    const ids: [string, string] = [`${label}-a${k}-${process.pid}`, `${label}-b${k}-${process.pid}`];
    if (rendezvousOwner('demo', ids) === ids[0]) return ids;
  }
}

/** The node's `switchboard_partitions_owned` (tenants it holds now). */
export async function partitionsOwned(n: NodeProcess): Promise<number> {
  const text = await fetch(`http://127.0.0.1:${n.httpPort}/metrics`).then((r) => r.text());
  const m = /^switchboard_partitions_owned(?:\{[^}]*\})? (\d+)/m.exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

/**
 * Two cluster nodes for the demo tenant: A (which loads it and, by the ids chosen, keeps it when B
 * joins) and B; checks A holds it once membership has settled.
 */
export async function demoPair(
  label: string,
  urlA: string,
  urlB: string,
  start: (args: string[]) => Promise<NodeProcess>,
): Promise<[NodeProcess, NodeProcess]> {
  const [idA, idB] = demoOwnerFirst(label);
  const a = await start(['--nats-url', urlA, '--node-id', idA, '--demo']);
  const b = await start(['--nats-url', urlB, '--node-id', idB]);
  for (let i = 0; i < 5; i++) expect((await demoEnqueue(a, `before-${i}`)).status).toBe(200);
  await new Promise((r) => setTimeout(r, 2000)); // one lease TTL: B is a member, nothing moves
  expect(await partitionsOwned(a)).toBe(1);
  expect(await partitionsOwned(b)).toBe(0);
  return [a, b];
}

/** Four writers keeping one enqueue each in flight at `n` (so a fault catches some mid-way) until stopped. */
export function demoWriters(n: NodeProcess): { answers: Map<string, Answer>; stop(): Promise<void> } {
  const answers = new Map<string, Answer>();
  let writing = true;
  const writers = Array.from({ length: 4 }, async (_, w) => {
    for (let i = 0; writing; i++) answers.set(`w${w}-${i}`, await demoEnqueue(n, `w${w}-${i}`));
  });
  return {
    answers,
    async stop() {
      writing = false;
      await Promise.all(writers);
    },
  };
}

/**
 * After A was taken away and came back: every request A answered 200 is on B; what A refused was
 * refused retryably and lands once when retried through B; A serves again and agrees with B on every
 * conversation; `SB_EVENTS` stores each log batch once, in log order.
 */
export async function expectNothingLost(
  label: string,
  a: NodeProcess,
  b: NodeProcess,
  answers: Map<string, Answer>,
  extraIds: string[],
  nc: NatsConnection,
): Promise<void> {
  const ok = [...answers].filter(([, x]) => x.status === 200).map(([id]) => id);
  const refused = [...answers].filter(([, x]) => x.status !== 200);
  console.log(
    `[${label}] writers to A: ${ok.length} answered 200, ${refused.length} refused (${[...new Set(refused.map(([, x]) => x.status))].join(', ') || 'none'})`,
  );
  expect(ok.length).toBeGreaterThan(4);
  // Refused means "try again", never a verdict on the conversation.
  for (const [id, x] of refused)
    expect(RETRYABLE_HTTP.has(x.status), `${id}: ${JSON.stringify(x)}`).toBe(true);
  for (const [id] of refused) expect((await enqueueUntilOk(b, id)).status).toBe(200);
  const all = [...extraIds, ...Array.from({ length: 5 }, (_, i) => `before-${i}`), ...answers.keys()];
  for (const id of all) {
    const onB = await demoGet(b, id);
    expect(onB.status, `${id} on B: ${JSON.stringify(onB.body)}`).toBe(200);
    // A, back again, serves (owning the tenant again or forwarding to B) and agrees with B.
    const onA = await demoGet(a, id);
    expect(onA.status, `${id} on A: ${JSON.stringify(onA.body)}`).toBe(200);
    expect(comparable(onA)).toEqual(comparable(onB));
  }
  const seqs = await storedDemoEventSeqs(nc);
  expect(seqs.length).toBeGreaterThan(0);
  const back = firstStepBack(seqs);
  expect(back, `seq ${seqs[back]} stored after ${seqs[back - 1]}`).toBe(-1);
}

/** A node's `switchboard_node_lease_lost_total` by reason. */
export async function leaseLosses(n: NodeProcess): Promise<Record<string, number>> {
  const text = await fetch(`http://127.0.0.1:${n.httpPort}/metrics`).then((r) => r.text());
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/switchboard_node_lease_lost_total\{reason="(\w+)"\} (\d+)/g)) {
    out[m[1] as string] = Number(m[2]);
  }
  return out;
}

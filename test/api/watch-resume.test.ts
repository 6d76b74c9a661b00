/**
 * Resumed WatchEvents (embedded mode: the node's bounded event history). A gateway that reconnects with
 * the position of the last event it processed gets exactly the events it missed, then live ones, with no
 * gap and no repeat at the seam; a position the node cannot serve is refused with
 * SB_ERR_RESUME_POSITION_GONE (OUT_OF_RANGE / 410) so the client resyncs. Before, WatchEvents streamed only
 * from the moment of the call and a reconnecting gateway silently missed the `assigned` events of the gap.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, expect, it } from 'vitest';
import type { EngineEvent } from '../../src/engine/types.js';
import { type Event, WatchEventsRequest } from '../../src/gen/switchboard/v1/events.js';
import { EventBus } from '../../src/host/event-bus.js';
import { InMemoryRouter } from './support/engine-router.js';
import { bearer, type Harness, http, startHarness, TOKENS } from './support/harness.js';

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

const alert = (queueId: string, value = 1): EngineEvent => ({
  type: 'alert',
  alert: 'sla_at_risk',
  queueId,
  value,
});

type Pos = { seq: number; index: number; queue: string };
const pos = (e: Event): Pos => ({ seq: Number(e.seq), index: e.index, queue: e.alert?.queueId ?? '' });

/** A gRPC watch that collects its events; `headers` settles when the stream says "subscribed". */
function watch(req: Partial<WatchEventsRequest>) {
  const got: Event[] = [];
  const stream = h!.events.watchEvents(
    WatchEventsRequest.fromPartial({ tenant: 'acme', ...req }),
    bearer(TOKENS.acme),
  );
  const headers = new Promise<void>((resolve) => stream.on('metadata', () => resolve()));
  const error = new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
  stream.on('data', (e: Event) => got.push(e));
  return { stream, got, headers, error };
}

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

it('a watcher that reconnects with its last position gets exactly the events it missed, then live ones', async () => {
  h = await startHarness();
  const router = h.router;
  const first = watch({});
  await first.headers;
  router.emitBatch('acme', [alert('a1')]);
  router.emitBatch('acme', [alert('a2'), alert('a3')]);
  await until('the first events', () => first.got.length === 3);
  const last = first.got[2] as Event;
  expect(pos(last)).toMatchObject({ index: 1 });
  first.stream.cancel();
  await until('the watcher to go', () => router.subscriberCount === 0);
  // The gap: events nobody watches.
  router.emitBatch('acme', [alert('m1')]);
  router.emitBatch('acme', [alert('m2'), alert('m3'), alert('m4')]);
  router.emitBatch('globex', [alert('other-tenant')]);
  const again = watch({ resumeAfterSeq: last.seq, resumeAfterIndex: last.index });
  await again.headers;
  await until('the missed events', () => again.got.length === 4);
  router.emitBatch('acme', [alert('live')]);
  await until('the live event', () => again.got.length === 5);
  expect(again.got.map((e) => e.alert?.queueId)).toEqual(['m1', 'm2', 'm3', 'm4', 'live']);
  expect(again.got.map((e) => e.index)).toEqual([0, 0, 1, 2, 0]);
  again.stream.cancel();
});

it('a client that saw half a batch resumes within it (resume_after_index); without an index, after the whole batch', async () => {
  h = await startHarness();
  const seq = h.router.emitBatch('acme', [alert('b0'), alert('b1'), alert('b2'), alert('b3')]);
  h.router.emitBatch('acme', [alert('next')]);
  const half = watch({ resumeAfterSeq: BigInt(seq), resumeAfterIndex: 1 });
  await until('the rest of the batch', () => half.got.length === 3);
  expect(half.got.map((e) => e.alert?.queueId)).toEqual(['b2', 'b3', 'next']);
  half.stream.cancel();
  const whole = watch({ resumeAfterSeq: BigInt(seq) });
  await until('what follows the batch', () => whole.got.length === 1);
  expect(whole.got.map((e) => e.alert?.queueId)).toEqual(['next']);
  whole.stream.cancel();
});

it('the filter applies to the backfill too, and positions stay those of the unfiltered batch', async () => {
  h = await startHarness();
  const seq = h.router.emitBatch('acme', [alert('x'), alert('billing'), alert('x'), alert('billing')]);
  const w = watch({ resumeAfterSeq: BigInt(seq - 1), queueId: 'billing' });
  await until('the matching events', () => w.got.length === 2);
  expect(w.got.map(pos)).toEqual([
    { seq, index: 1, queue: 'billing' },
    { seq, index: 3, queue: 'billing' },
  ]);
  w.stream.cancel();
});

it('a position older than the history, past the latest, or of a deleted tenant is refused (OUT_OF_RANGE, no headers); a bad one is INVALID_ARGUMENT naming the field', async () => {
  const router = new InMemoryRouter();
  router.bus = new EventBus(3);
  h = await startHarness({ router });
  for (let i = 0; i < 5; i++) router.emitBatch('acme', [alert(`e${i}`)]);
  // Kept: the last 3 (seqs 3..5); resuming after 2 is fine, after 1 is not (seq 2 was evicted).
  const ok = watch({ resumeAfterSeq: 2n });
  await until('the kept events', () => ok.got.length === 3);
  ok.stream.cancel();
  for (const [req, why] of [
    [{ resumeAfterSeq: 1n }, 'event history of the tenant starts after 2'],
    [{ resumeAfterSeq: 99n }, 'log ends at seq 5'],
  ] as const) {
    const w = watch(req);
    let headers = false;
    void w.headers.then(() => {
      headers = true;
    });
    const err = await w.error;
    expect(err.code).toBe(grpc.status.OUT_OF_RANGE);
    expect(err.metadata.get('sb-error-code')).toEqual(['SB_ERR_RESUME_POSITION_GONE']);
    expect(err.details).toContain(why);
    expect(err.details).toContain('resync');
    expect(headers).toBe(false);
  }
  // Deleted: its history goes with it.
  router.bus.end('acme');
  const gone = await watch({ resumeAfterSeq: 4n }).error;
  expect(gone.code).toBe(grpc.status.OUT_OF_RANGE);
  for (const [req, field] of [
    [{ resumeAfterSeq: -1n }, 'resumeAfterSeq'],
    [{ resumeAfterIndex: 2 }, 'resumeAfterIndex'],
    [{ resumeAfterSeq: 3n, resumeAfterIndex: -1 }, 'resumeAfterIndex'],
  ] as const) {
    const err = await watch(req).error;
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.metadata.get('sb-field')).toEqual([field]);
  }
  // Refused watchers are not left subscribed or counted.
  await until('no watcher left', () => router.subscriberCount === 0);
});

it('the seam: events published while the backfill runs are delivered once each, in order, none lost', async () => {
  const router = new InMemoryRouter();
  // A backfill that yields after every event, so live events land in the middle of it.
  const slow = router.bus.backfill.bind(router.bus);
  router.bus.backfill = (filter, after, to) =>
    slow(filter, after, {
      ...to,
      sink: (e) => {
        const wait = to.sink(e);
        return (wait ?? Promise.resolve()).then(() => new Promise<void>((r) => setImmediate(r)));
      },
    });
  h = await startHarness({ router });
  for (let i = 0; i < 200; i++) router.emitBatch('acme', [alert(`old${i}`), alert(`old${i}b`)]);
  const w = watch({ resumeAfterSeq: 50n, resumeAfterIndex: 0 });
  // Live events meanwhile, one batch per turn of the event loop, until the backfill has long finished.
  let live = 0;
  const emitter = setInterval(() => {
    if (live < 300) router.emitBatch('acme', [alert(`live${live++}`), alert(`live${live}b`)]);
  }, 0);
  await until('every event', () => w.got.length === 1 + 150 * 2 + 300 * 2, 20_000);
  clearInterval(emitter);
  await new Promise((r) => setTimeout(r, 50));
  const seen = w.got.map((e) => `${e.seq}:${e.index}`);
  expect(new Set(seen).size).toBe(seen.length);
  const expected: string[] = ['50:1'];
  for (let s = 51; s <= 200 + 300; s++) expected.push(`${s}:0`, `${s}:1`);
  expect(seen).toEqual(expected);
  w.stream.cancel();
});

it('a large backfill to a slow reader is paced by its buffer, not cut off, and stays within the node budget', async () => {
  const router = new InMemoryRouter();
  router.bus = new EventBus(20_000);
  h = await startHarness({
    router,
    watchBufferBytes: 16 * 1024,
    watcherLimits: { bufferBudgetBytes: 256 * 1024 },
  });
  for (let i = 0; i < 5000; i++) router.emitBatch('acme', [alert(`q${i}`, i)]);
  let peak = 0;
  const meter = setInterval(() => {
    peak = Math.max(peak, h!.api.service.watchBudget.inUse);
  }, 1);
  const w = watch({ resumeAfterSeq: 0n });
  let failed: grpc.ServiceError | null = null;
  void w.error.then((e) => {
    failed = e;
  });
  await until('the whole backfill', () => w.got.length === 5000 || failed !== null, 30_000);
  clearInterval(meter);
  expect(failed).toBeNull();
  expect(w.got.length).toBe(5000);
  // Half the watcher's own limit plus one event at most, far below the node's budget.
  expect(peak).toBeLessThanOrEqual(16 * 1024);
  w.stream.cancel();
});

it('SSE: every event has an id; a reconnect with Last-Event-ID gets the missed events, then live ones; a bad or expired id is refused', async () => {
  const router = new InMemoryRouter();
  router.bus = new EventBus(100);
  h = await startHarness({ router });
  const port = h.httpPort;
  router.emitBatch('acme', [alert('s1'), alert('s2')]);
  const ids: string[] = [];
  const read = async (headers: Record<string, string>, want: number, during?: () => void) => {
    const ac = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/v1/tenants/acme/events`, {
      headers: { authorization: `Bearer ${TOKENS.acme}`, ...headers },
      signal: ac.signal,
    });
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    const events: { id: string; queue: string }[] = [];
    during?.();
    while (events.length < want) {
      const { value } = await reader.read();
      text += Buffer.from(value as Uint8Array).toString();
      let cut = text.indexOf('\n\n');
      while (cut >= 0) {
        const block = text.slice(0, cut);
        text = text.slice(cut + 2);
        const id = /^id: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (id && data) events.push({ id, queue: JSON.parse(data).alert.queueId });
        cut = text.indexOf('\n\n');
      }
    }
    ac.abort();
    return events;
  };
  const first = await read({ 'last-event-id': '0' }, 2);
  expect(first).toEqual([
    { id: '1:0', queue: 's1' },
    { id: '1:1', queue: 's2' },
  ]);
  ids.push(...first.map((e) => e.id));
  router.emitBatch('acme', [alert('s3'), alert('s4')]);
  const resumed = await read({ 'last-event-id': '1:1' }, 3, () => {
    setTimeout(() => router.emitBatch('acme', [alert('s5')]), 20);
  });
  expect(resumed).toEqual([
    { id: '2:0', queue: 's3' },
    { id: '2:1', queue: 's4' },
    { id: '3:0', queue: 's5' },
  ]);
  const bad = await http(h, 'GET', '/v1/tenants/acme/events', undefined, TOKENS.acme, {
    'last-event-id': 'x:1',
  });
  expect(bad.status).toBe(400);
  expect(bad.body).toMatchObject({ error: { code: 'SB_ERR_INVALID_ARGUMENT', field: 'Last-Event-ID' } });
  const ahead = await http(h, 'GET', '/v1/tenants/acme/events?resumeAfterSeq=42', undefined, TOKENS.acme);
  expect(ahead.status).toBe(410);
  expect(ahead.body).toMatchObject({
    error: { code: 'SB_ERR_RESUME_POSITION_GONE', field: 'resumeAfterSeq' },
  });
  const badQuery = await http(h, 'GET', '/v1/tenants/acme/events?resumeAfterSeq=-3', undefined, TOKENS.acme);
  expect(badQuery.status).toBe(400);
  expect(badQuery.body).toMatchObject({ error: { field: 'resumeAfterSeq' } });
});

it('a token revoked by a reload while the backfill runs ends the stream before the next backfilled event', async () => {
  const router = new InMemoryRouter();
  let delivered = 0;
  const inner = router.bus.backfill.bind(router.bus);
  router.bus.backfill = (filter, after, to) =>
    inner(filter, after, {
      ...to,
      sink: (e) => {
        const wait = to.sink(e);
        delivered++;
        // After the second event the tokens file is reloaded without acme's token.
        if (delivered === 2) h!.api.service.setAuth({ tokens: { globex: [TOKENS.globex] } });
        return wait;
      },
    });
  h = await startHarness({ router });
  for (let i = 0; i < 10; i++) router.emitBatch('acme', [alert(`r${i}`)]);
  const w = watch({ resumeAfterSeq: 0n });
  const err = await w.error;
  expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
  expect(w.got.map((e) => e.alert?.queueId)).toEqual(['r0', 'r1']);
  await until('the watcher to go', () => router.subscriberCount === 0);
});

it('positions name the tenant incarnation (Event.incarnation, SSE id <seq>:<index>@<incarnation>): another one, or none once the tenant has one, is refused', async () => {
  const router = new InMemoryRouter();
  router.bus = new EventBus(100);
  h = await startHarness({ router });
  // As the host does for a tenant whose incarnation is known (its log's first command at 1234).
  router.bus.loaded('acme', 0, 1234);
  router.emitBatch('acme', [alert('i1'), alert('i2')]);
  router.emitBatch('acme', [alert('i3')]);
  const all = watch({ resumeAfterSeq: 0n });
  await until('the events', () => all.got.length === 3);
  expect(all.got.map((e) => e.incarnation)).toEqual([1234n, 1234n, 1234n]);
  all.stream.cancel();
  const ok = watch({ resumeAfterSeq: 1n, resumeAfterIndex: 0, resumeAfterIncarnation: 1234n });
  await until('the rest', () => ok.got.length === 2);
  expect(ok.got.map((e) => e.alert?.queueId)).toEqual(['i2', 'i3']);
  ok.stream.cancel();
  for (const [req, why] of [
    [{ resumeAfterSeq: 1n, resumeAfterIndex: 0, resumeAfterIncarnation: 999n }, 'another incarnation'],
    [{ resumeAfterSeq: 1n, resumeAfterIndex: 0 }, 'does not name the tenant'],
  ] as const) {
    const err = await watch(req).error;
    expect(err.code).toBe(grpc.status.OUT_OF_RANGE);
    expect(err.details).toContain(why);
  }
  const invalid = await watch({ resumeAfterIncarnation: 1234n }).error;
  expect(invalid.code).toBe(grpc.status.INVALID_ARGUMENT);
  expect(invalid.metadata.get('sb-field')).toEqual(['resumeAfterIncarnation']);

  // SSE: the id carries it, and a Last-Event-ID as sent resumes; another incarnation or none is 410.
  const sse = async (lastEventId: string) => {
    const ac = new AbortController();
    const res = await fetch(`http://127.0.0.1:${h!.httpPort}/v1/tenants/acme/events`, {
      headers: { authorization: `Bearer ${TOKENS.acme}`, 'last-event-id': lastEventId },
      signal: ac.signal,
    });
    if (res.status !== 200) return { status: res.status, ids: [] as string[] };
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while ((text.match(/^id: /gm) ?? []).length < 2) {
      const { value } = await reader.read();
      text += Buffer.from(value as Uint8Array).toString();
    }
    ac.abort();
    return { status: 200, ids: [...text.matchAll(/^id: (.*)$/gm)].map((m) => m[1]).slice(0, 2) };
  };
  expect(await sse('0')).toEqual({ status: 200, ids: ['1:0@1234', '1:1@1234'] });
  expect(await sse('1:0@1234')).toEqual({ status: 200, ids: ['1:1@1234', '2:0@1234'] });
  expect((await sse('1:1@1233')).status).toBe(410);
  expect((await sse('1:1')).status).toBe(410);
  const q = await http(
    h,
    'GET',
    '/v1/tenants/acme/events?resumeAfterSeq=1&resumeAfterIndex=1&resumeAfterIncarnation=7',
    undefined,
    TOKENS.acme,
  );
  expect(q.status).toBe(410);
});

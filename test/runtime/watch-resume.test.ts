/**
 * Resumed WatchEvents on an embedded node (the real host, worker thread and file log): the node's event
 * history (`--event-history`) is complete from the partition's load, so a watcher that reconnects with
 * its last position gets exactly what a watcher that never left got after that position. Across a
 * restart: a graceful stop saves the history (its final snapshots trim the logs), a crash restart
 * re-derives it from the log tail after the snapshot; either way the positions are the ones served
 * before, and a position older than what came back is refused (resync). A position names the tenant's
 * incarnation: one of a deleted tenant is refused by the tenant created again under the same name.
 */
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { expect, it } from 'vitest';
import { SwitchboardService } from '../../src/api/service.js';
import { conversation } from '../../src/engine/fixtures.js';
import type { SwitchboardError } from '../../src/errors/catalogue.js';
import type { EventPosition } from '../../src/host/event-history.js';
import type { PartitionHost } from '../../src/host/partition-host.js';
import { LocalPartitionRouter, type PublishedEvent } from '../../src/host/router.js';
import { billingDesk, type Harness, hostsOfThisFile } from './harness.js';

const start = hostsOfThisFile();
const T = 'acme';

function service(host: PartitionHost): SwitchboardService {
  return new SwitchboardService({
    router: new LocalPartitionRouter(host),
    clock: { now: () => Date.now() },
    auth: { tokens: { acme: 'tok' } },
    registry: new Registry(),
    logger: pino({ level: 'silent' }),
  });
}

function watch(s: SwitchboardService, after?: EventPosition) {
  const got: PublishedEvent[] = [];
  let gone: SwitchboardError | null = null;
  const stop = s.subscribe(
    { tenant: T },
    { token: 'tok', deadline: Number.POSITIVE_INFINITY },
    (e) => got.push(e),
    () => {},
    () => {},
    after && {
      after,
      wait: () => undefined,
      checked: () => {},
      onGone: (e) => {
        gone = e;
      },
    },
  );
  return { got, stop, gone: () => gone as SwitchboardError | null };
}

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const key = (e: PublishedEvent) =>
  `${e.seq}:${e.index}:${e.event.type}:${(e.event as { conversationId?: string }).conversationId ?? ''}`;

async function enqueue(h: Harness, ids: string[]): Promise<void> {
  for (const id of ids)
    await h.send(T, { type: 'enqueue', conversation: conversation(id, { queueId: 'chat-billing' }) });
}

const pos = (e: PublishedEvent): EventPosition => ({
  seq: e.seq,
  index: e.index,
  incarnation: e.incarnation,
});
const after = (got: PublishedEvent[], p: EventPosition) =>
  got.filter((e) => e.seq > p.seq || (e.seq === p.seq && e.index > p.index));

it('a watcher that reconnects with its last position gets exactly what a watcher that stayed got', async () => {
  const h = await start({ eventHistory: 1000 });
  const s = service(h.host);
  const stayed = watch(s);
  await billingDesk(h, T, 2);
  const left = watch(s);
  await enqueue(h, ['c1', 'c2']);
  await until('the first assignments', () => left.got.some((e) => e.event.type === 'assigned'));
  left.stop();
  const last = left.got.at(-1) as PublishedEvent;
  expect(last.incarnation).toBeGreaterThan(0);
  // The gap: two more assigned, two queued (both agents busy).
  await enqueue(h, ['c3', 'c4', 'c5']);
  const back = watch(s, pos(last));
  await enqueue(h, ['c6']);
  await until(
    'the resumed watcher to catch up',
    () =>
      back.got.length >= after(stayed.got, last).length &&
      stayed.got.some((e) => (e.event as { conversationId?: string }).conversationId === 'c6'),
  );
  expect(back.gone()).toBeNull();
  expect(back.got.map(key)).toEqual(after(stayed.got, last).map(key));
  expect(back.got.map((e) => e.event.type)).toEqual(expect.arrayContaining(['queued']));
  // Every event names the incarnation; a position without it (or with another) is refused.
  expect(new Set([...stayed.got, ...back.got].map((e) => e.incarnation))).toEqual(
    new Set([last.incarnation]),
  );
  for (const p of [
    { seq: last.seq, index: last.index },
    { seq: last.seq, index: last.index, incarnation: (last.incarnation as number) + 1 },
  ]) {
    const w = watch(s, p);
    await until('the refusal', () => w.gone() !== null);
    expect(w.gone()?.code).toBe('SB_ERR_RESUME_POSITION_GONE');
  }
  stayed.stop();
  back.stop();
  expect(h.host.eventHistoryStats().events).toBeGreaterThan(0);
  await h.stop();

  // A restart without the saved history (no file): the final snapshot trimmed the log, so the history
  // starts again at the load; a position from before is refused, a new one served.
  const again = await start({ dir: h.dir, eventHistory: 1000 });
  const s2 = service(again.host);
  await enqueue(again, ['c7']);
  const old = watch(s2, pos(last));
  await until('the refusal', () => old.gone() !== null);
  expect(old.gone()?.code).toBe('SB_ERR_RESUME_POSITION_GONE');
  const live = watch(s2);
  await enqueue(again, ['c8']);
  await until('c8', () => live.got.length > 0);
  const first = live.got[0] as PublishedEvent;
  expect(first.incarnation).toBe(last.incarnation);
  const resumed = watch(s2, { ...pos(first), seq: first.seq - 1, index: Number.POSITIVE_INFINITY });
  await until('c8 again', () => resumed.got.length === live.got.length);
  expect(resumed.got.map(key)).toEqual(live.got.map(key));
  live.stop();
  resumed.stop();
});

it('a graceful restart keeps the history (saved by the stop): a gateway resumes from before it with the same positions', async () => {
  const file = (dir: string) => join(dir, 'event-history.jsonl');
  const h0 = await start({ eventHistory: 1000 });
  const opts = { dir: h0.dir, eventHistory: 1000, eventHistoryFile: file(h0.dir) };
  await h0.crash();
  const h = await start(opts);
  const s = service(h.host);
  const stayed = watch(s);
  await billingDesk(h, T, 2);
  await enqueue(h, ['c1', 'c2', 'c3']);
  await until('c3 queued', () =>
    stayed.got.some((e) => (e.event as { conversationId?: string }).conversationId === 'c3'),
  );
  const mark = stayed.got[2] as PublishedEvent;
  await enqueue(h, ['c4']);
  await until('c4', () =>
    stayed.got.some((e) => (e.event as { conversationId?: string }).conversationId === 'c4'),
  );
  const before = stayed.got.slice();
  stayed.stop();
  await h.stop();

  const again = await start(opts);
  const s2 = service(again.host);
  const back = watch(s2, pos(mark));
  await enqueue(again, ['c5']);
  await until('c5', () =>
    back.got.some((e) => (e.event as { conversationId?: string }).conversationId === 'c5'),
  );
  expect(back.gone()).toBeNull();
  // Exactly what was published after the mark before the stop, at the same positions, then c5.
  const n = after(before, mark).length;
  expect(back.got.slice(0, n).map(key)).toEqual(after(before, mark).map(key));
  expect(back.got.slice(n).every((e) => e.seq > (before.at(-1) as PublishedEvent).seq)).toBe(true);
  // From the very start too (the whole log's events fit in the history).
  const all = watch(s2, { seq: 0, index: Number.POSITIVE_INFINITY });
  await until('the backfill', () => all.got.length >= before.length);
  expect(all.got.slice(0, before.length).map(key)).toEqual(before.map(key));
  back.stop();
  all.stop();
  await again.stop();
});

it('a crash restart refills the history from the log tail after the snapshot: the same positions; older ones are refused', async () => {
  const h = await start({ eventHistory: 1000 });
  const s = service(h.host);
  const stayed = watch(s);
  await billingDesk(h, T, 2);
  await enqueue(h, ['c1', 'c2', 'c3']);
  await until('c3', () =>
    stayed.got.some((e) => (e.event as { conversationId?: string }).conversationId === 'c3'),
  );
  // A snapshot (it trims the log), then the tail the restart replays: c4 and c5.
  await h.host.drain(T);
  const snapped = stayed.got.slice();
  await enqueue(h, ['c4', 'c5']);
  await until('c5', () =>
    stayed.got.some((e) => (e.event as { conversationId?: string }).conversationId === 'c5'),
  );
  const before = stayed.got.slice();
  stayed.stop();
  await h.crash();

  const again = await start({ dir: h.dir, eventHistory: 1000 });
  const tail = before.slice(snapped.length);
  expect(tail.length).toBeGreaterThan(0);
  expect(again.host.eventHistoryStats().events).toBe(tail.length);
  const s2 = service(again.host);
  // From the snapshot's last event on: exactly the tail, at the same positions, with the incarnation.
  const mark = snapped.at(-1) as PublishedEvent;
  const back = watch(s2, pos(mark));
  await until('the backfill', () => back.got.length >= tail.length);
  await new Promise((r) => setTimeout(r, 50));
  expect(back.gone()).toBeNull();
  expect(back.got.map(key)).toEqual(tail.map(key));
  expect(back.got.map((e) => e.incarnation)).toEqual(tail.map((e) => e.incarnation));
  // Within the tail too.
  const mid = watch(s2, pos(tail[0] as PublishedEvent));
  await until('the backfill', () => mid.got.length >= tail.length - 1);
  expect(mid.got.map(key)).toEqual(tail.slice(1).map(key));
  // Before the snapshot: not in the log any more, gone.
  const older = snapped.at(-2) as PublishedEvent;
  const gone = watch(s2, pos(older));
  await until('the refusal', () => gone.gone() !== null);
  expect(gone.gone()?.code).toBe('SB_ERR_RESUME_POSITION_GONE');
  back.stop();
  mid.stop();
  await again.stop();
});

it('a position of a deleted tenant is refused by the tenant created again under its name, even where its seqs overlap', async () => {
  const h = await start({ eventHistory: 1000 });
  const s = service(h.host);
  const first = watch(s);
  await billingDesk(h, T, 2);
  await enqueue(h, ['c1', 'c2', 'c3']);
  await until('c3', () =>
    first.got.some((e) => (e.event as { conversationId?: string }).conversationId === 'c3'),
  );
  const old = first.got[1] as PublishedEvent;
  first.stop();
  await h.host.deleteTenant(T, true);
  // Created again: its log starts at seq 1 again, and passes the old position's seq.
  await new Promise((r) => setTimeout(r, 5));
  const second = watch(s);
  await billingDesk(h, T, 2);
  await enqueue(h, ['d1', 'd2', 'd3', 'd4']);
  await until('d4', () =>
    second.got.some((e) => (e.event as { conversationId?: string }).conversationId === 'd4'),
  );
  const now = second.got.at(-1) as PublishedEvent;
  expect(now.seq).toBeGreaterThan(old.seq);
  expect(now.incarnation).toBeGreaterThan(old.incarnation as number);
  // The old position (with its incarnation, or without one) is refused; the new incarnation's resumes.
  for (const p of [pos(old), { seq: old.seq, index: old.index }]) {
    const w = watch(s, p);
    await until('the refusal', () => w.gone() !== null);
    expect(w.gone()?.code).toBe('SB_ERR_RESUME_POSITION_GONE');
    expect(w.got).toEqual([]);
  }
  const ok = watch(s, { ...pos(old), incarnation: now.incarnation as number });
  await until('the backfill', () => ok.got.some((e) => e.seq === now.seq && e.index === now.index));
  expect(ok.gone()).toBeNull();
  // The incarnation outlives a restart (recorded with the snapshot, the log's first batch trimmed).
  second.stop();
  ok.stop();
  await h.stop();
  const again = await start({ dir: h.dir, eventHistory: 1000 });
  const s2 = service(again.host);
  const live = watch(s2);
  await enqueue(again, ['d5']);
  await until('d5', () => live.got.length > 0);
  expect(live.got.every((e) => e.incarnation === now.incarnation)).toBe(true);
  live.stop();
  await again.stop();
});

/**
 * Resumed WatchEvents on an embedded node (the real host, worker thread and file log): the node's event
 * history (`--event-history`) is complete from the partition's load, so a watcher that reconnects with
 * its last position gets exactly what a watcher that never left got after that position; after a node
 * restart the history starts again at the load, and an older position is refused (resync).
 */
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
  // The gap: two more assigned, two queued (both agents busy).
  await enqueue(h, ['c3', 'c4', 'c5']);
  const back = watch(s, { seq: last.seq, index: last.index });
  await enqueue(h, ['c6']);
  const after = stayed.got.filter((e) => e.seq > last.seq || (e.seq === last.seq && e.index > last.index));
  await until(
    'the resumed watcher to catch up',
    () =>
      back.got.length >= after.length &&
      after.some((e) => (e.event as { conversationId?: string }).conversationId === 'c6'),
  );
  const expected = stayed.got.filter((e) => e.seq > last.seq || (e.seq === last.seq && e.index > last.index));
  expect(back.gone()).toBeNull();
  expect(back.got.map(key)).toEqual(expected.map(key));
  expect(back.got.map((e) => e.event.type)).toEqual(expect.arrayContaining(['queued']));
  stayed.stop();
  back.stop();
  expect(h.host.eventHistoryStats().events).toBeGreaterThan(0);
  await h.stop();

  // A restart: the history starts again at the load; a position from before is refused, a new one served.
  const again = await start({ dir: h.dir, eventHistory: 1000 });
  const s2 = service(again.host);
  await enqueue(again, ['c7']);
  const old = watch(s2, { seq: last.seq, index: last.index });
  await until('the refusal', () => old.gone() !== null);
  expect(old.gone()?.code).toBe('SB_ERR_RESUME_POSITION_GONE');
  const live = watch(s2);
  await enqueue(again, ['c8']);
  await until('c8', () => live.got.length > 0);
  const first = live.got[0] as PublishedEvent;
  const resumed = watch(s2, { seq: first.seq - 1, index: Number.POSITIVE_INFINITY });
  await until('c8 again', () => resumed.got.length === live.got.length);
  expect(resumed.got.map(key)).toEqual(live.got.map(key));
  live.stop();
  resumed.stop();
});

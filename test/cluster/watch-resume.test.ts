/**
 * Resumed WatchEvents in cluster mode: the backfill reads the durable `SB_EVENTS` stream (on any node, here
 * one that owns nothing), then the watch continues on the live subject, with no gap and no repeat at the
 * seam. A position past the tenant's stored events, or before the oldest one once the stream has dropped
 * messages (max_age / max_bytes), is refused with SB_ERR_RESUME_POSITION_GONE.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SwitchboardService } from '../../src/api/service.js';
import { type EventBatch, JetStreamEventPublisher } from '../../src/cluster/nats/events.js';
import { ClusterPartitionRouter } from '../../src/cluster/nats/forwarding.js';
import type { SwitchboardError } from '../../src/errors/catalogue.js';
import type { EventPosition } from '../../src/host/event-history.js';
import type { PartitionRouter, PublishedEvent } from '../../src/host/router.js';
import { type NatsServer, startNatsServer } from '../support/nats-server.js';

let nats: NatsServer & { cleanup(): Promise<void> };
let nc: NatsConnection;

beforeAll(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
}, 60_000);

afterAll(async () => {
  await nc?.close().catch(() => {});
  await nats?.cleanup();
});

const ev = (seq: number, i: number): EventBatch['events'][number] => ({
  at: 1_700_000_000_000 + seq,
  event: { type: 'alert', alert: 'sla_at_risk', queueId: `q${seq}.${i}`, value: 1 } as never,
});
const batch = (seq: number, n: number) => Array.from({ length: n }, (_, i) => ev(seq, i));

/** A node that owns nothing: its API serves watches from the stream and the live subject alone. */
async function node(tag: string, streamOpts: { maxBytes?: number } = {}) {
  const stream = `SB_EVENTS_R${tag}${process.pid}`;
  const subjectPrefix = `sbr${tag}${process.pid}.evt`;
  const pub = await JetStreamEventPublisher.open(nc, { stream, subjectPrefix, ...streamOpts });
  const local = { subscribe: () => () => {}, ready: () => true } as unknown as PartitionRouter;
  const router = new ClusterPartitionRouter({
    nc,
    ownership: { leaseTtlMs: 2000 } as never,
    local,
    events: pub,
    eventSubjectPrefix: subjectPrefix,
  });
  const service = new SwitchboardService({
    router,
    clock: { now: () => Date.now() },
    auth: { tokens: { acme: 'tok' } },
    registry: new Registry(),
    logger: pino({ level: 'silent' }),
  });
  return { pub, service };
}

/** A resumed watch through the service, as the transports make it; `slow` yields after every backfilled event. */
function resumed(service: SwitchboardService, after: EventPosition, slow = false) {
  const got: PublishedEvent[] = [];
  let gone: SwitchboardError | null = null;
  let checked = false;
  const stop = service.subscribe(
    { tenant: 'acme' },
    { token: 'tok', deadline: Number.POSITIVE_INFINITY },
    (e) => got.push(e),
    () => {},
    () => {},
    {
      after,
      wait: () => (slow ? new Promise<void>((r) => setImmediate(r)) : undefined),
      checked: () => {
        checked = true;
      },
      onGone: (e) => {
        gone = e;
      },
    },
  );
  return {
    got,
    stop,
    gone: () => gone as SwitchboardError | null,
    checked: () => checked,
  };
}

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const ids = (got: PublishedEvent[]) => got.map((e) => `${e.seq}:${e.index}`);

it('a watcher resuming on any node gets exactly the stored events after its position, then live ones', async () => {
  const { pub, service } = await node('a');
  for (let seq = 1; seq <= 10; seq++) pub.publishBatch('acme', seq, batch(seq, 3));
  await pub.flush('acme');
  // It saw batch 4 up to its second event (index 1) before the gap.
  const w = resumed(service, { seq: 4, index: 1 });
  await until('the missed events', () => w.got.length === 1 + 6 * 3);
  expect(w.checked()).toBe(true);
  pub.publishBatch('acme', 11, batch(11, 2));
  await until('the live events', () => w.got.length === 1 + 6 * 3 + 2);
  const expected = ['4:2'];
  for (let seq = 5; seq <= 11; seq++)
    for (let i = 0; i < (seq === 11 ? 2 : 3); i++) expected.push(`${seq}:${i}`);
  expect(ids(w.got)).toEqual(expected);
  expect(w.got[0]?.event).toMatchObject({ queueId: 'q4.2' });
  // Resuming after a whole batch (no index).
  const whole = resumed(service, { seq: 10, index: Number.POSITIVE_INFINITY });
  await until('batch 11', () => whole.got.length === 2);
  expect(ids(whole.got)).toEqual(['11:0', '11:1']);
  w.stop();
  whole.stop();
});

it('the seam: batches published while the backfill reads the stream are delivered once each, in order', async () => {
  const { pub, service } = await node('b');
  for (let seq = 1; seq <= 100; seq++) pub.publishBatch('acme', seq, batch(seq, 2));
  await pub.flush('acme');
  const w = resumed(service, { seq: 20, index: 0 }, true);
  let seq = 100;
  const emitter = setInterval(() => {
    if (seq < 250) {
      seq++;
      pub.publishBatch('acme', seq, batch(seq, 2));
    }
  }, 1);
  await until('every event', () => w.got.length === 1 + 230 * 2, 30_000);
  clearInterval(emitter);
  await pub.flush('acme');
  await new Promise((r) => setTimeout(r, 100));
  const expected = ['20:1'];
  for (let s = 21; s <= 250; s++) expected.push(`${s}:0`, `${s}:1`);
  expect(ids(w.got)).toEqual(expected);
  expect(w.gone()).toBeNull();
  w.stop();
});

it('a position past the stored events, or before the oldest kept once the stream dropped some, is refused', async () => {
  const { pub, service } = await node('c', { maxBytes: 4096 });
  for (let seq = 1; seq <= 60; seq++) {
    pub.publishBatch('acme', seq, batch(seq, 1));
    await pub.flush('acme');
  }
  const ahead = resumed(service, { seq: 99, index: Number.POSITIVE_INFINITY });
  await until('the refusal', () => ahead.gone() !== null);
  expect(ahead.gone()?.code).toBe('SB_ERR_RESUME_POSITION_GONE');
  expect(ahead.gone()?.message).toContain('stored events end at seq 60');
  expect(ahead.checked()).toBe(false);
  const old = resumed(service, { seq: 1, index: Number.POSITIVE_INFINITY });
  await until('the refusal', () => old.gone() !== null);
  expect(old.gone()?.code).toBe('SB_ERR_RESUME_POSITION_GONE');
  expect(old.gone()?.message).toContain('older events were dropped');
  // A recent position is still served.
  const recent = resumed(service, { seq: 58, index: Number.POSITIVE_INFINITY });
  await until('the last two', () => recent.got.length === 2);
  expect(ids(recent.got)).toEqual(['59:0', '60:0']);
  recent.stop();
});

it('a position of a deleted tenant is refused once the tenant is created again: SB_EVENTS messages carry the incarnation', async () => {
  const { pub, service } = await node('d');
  // Another tenant's message first: the purge below then leaves the stream's first_seq at 1, as in a
  // stream that has dropped nothing (else the position is refused as older than what was dropped).
  pub.publishBatch('globex', 1, batch(1, 1), 5);
  await pub.flush('globex');
  for (let seq = 1; seq <= 5; seq++) pub.publishBatch('acme', seq, batch(seq, 2), 111);
  await pub.flush('acme');
  const before = resumed(service, { seq: 2, index: 1, incarnation: 111 });
  await until('the first life', () => before.got.length === 6);
  expect(before.got.every((e) => e.incarnation === 111)).toBe(true);
  before.stop();
  // DeleteTenant purges the subject; the tenant created again logs at later stream seqs.
  await pub.remove('acme');
  for (let seq = 10; seq <= 12; seq++) pub.publishBatch('acme', seq, batch(seq, 1), 222);
  await pub.flush('acme');
  // The old position (its seq before the new ones): before incarnations, every event of the new life was
  // served to it as what it missed. Now refused, with or without its incarnation.
  for (const after of [
    { seq: 2, index: 1, incarnation: 111 },
    { seq: 2, index: 1 },
  ]) {
    const w = resumed(service, after);
    await until('the refusal', () => w.gone() !== null);
    expect(w.gone()?.code).toBe('SB_ERR_RESUME_POSITION_GONE');
    expect(w.got).toEqual([]);
  }
  const now = resumed(service, { seq: 10, index: 0, incarnation: 222 });
  await until('the new life', () => now.got.length === 2);
  expect(ids(now.got)).toEqual(['11:0', '12:0']);
  // Without the incarnation but at or after the new life's first stored event: unambiguous (an earlier
  // life's seqs are all below it), served as before incarnations.
  const unnamed = resumed(service, { seq: 11, index: 0 });
  await until('the rest', () => unnamed.got.length === 1);
  expect(ids(unnamed.got)).toEqual(['12:0']);
  expect(unnamed.gone()).toBeNull();
  unnamed.stop();
  pub.publishBatch('acme', 13, batch(13, 1), 222);
  await until('live', () => now.got.length === 3);
  expect(now.got.map((e) => e.incarnation)).toEqual([222, 222, 222]);
  now.stop();
});

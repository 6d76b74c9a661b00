import { describe, expect, it } from 'vitest';
import type { EngineEvent } from '../engine/types.js';
import { EventBus } from './event-bus.js';
import { EventHistory, type EventPosition } from './event-history.js';
import type { PublishedEvent } from './router.js';

const alert = (queueId: string): EngineEvent => ({ type: 'alert', alert: 'sla_at_risk', queueId, value: 1 });
const ALL = Number.POSITIVE_INFINITY;

async function backfill(bus: EventBus, tenant: string, after: EventPosition): Promise<string[]> {
  const out: PublishedEvent[] = [];
  await bus.backfill({ tenant }, after, {
    sink: (e) => {
      out.push(e);
      return undefined;
    },
    stopped: () => false,
    checked: () => {},
  });
  return out.map((e) => `${e.seq}:${e.index}`);
}

describe('event history', () => {
  it('numbers the events of a batch across its commands, and starts again at the next batch', async () => {
    const bus = new EventBus(100);
    const seen: string[] = [];
    bus.subscribe({ tenant: 't' }, (e) => seen.push(`${e.seq}:${e.index}`));
    bus.loaded('t', 0);
    bus.publish('t', 1, 0, [alert('a'), alert('b')]);
    bus.publish('t', 1, 0, [alert('c')]); // another command of batch 1
    bus.publish('t', 2, 0, [alert('d')]);
    expect(seen).toEqual(['1:0', '1:1', '1:2', '2:0']);
    expect(await backfill(bus, 't', { seq: 1, index: 0 })).toEqual(['1:1', '1:2', '2:0']);
    expect(await backfill(bus, 't', { seq: 1, index: ALL })).toEqual(['2:0']);
  });

  it('is bounded node-wide, oldest first across tenants; an evicted position is refused, a deleted tenant forgotten', async () => {
    const bus = new EventBus(4);
    bus.loaded('a', 0);
    bus.loaded('b', 0);
    bus.publish('a', 1, 0, [alert('a1')]);
    bus.publish('b', 1, 0, [alert('b1')]);
    bus.publish('a', 2, 0, [alert('a2')]);
    bus.publish('b', 2, 0, [alert('b2')]);
    bus.publish('a', 3, 0, [alert('a3')]); // evicts a's 1:0
    expect(bus.history.size).toBe(4);
    expect(bus.history.evicted).toBe(1);
    await expect(backfill(bus, 'a', { seq: 0, index: ALL })).rejects.toMatchObject({
      code: 'SB_ERR_RESUME_POSITION_GONE',
      field: 'resumeAfterSeq',
    });
    expect(await backfill(bus, 'a', { seq: 1, index: 0 })).toEqual(['2:0', '3:0']);
    expect(await backfill(bus, 'b', { seq: 0, index: ALL })).toEqual(['1:0', '2:0']);
    await expect(backfill(bus, 'b', { seq: 3, index: ALL })).rejects.toMatchObject({
      code: 'SB_ERR_RESUME_POSITION_GONE',
    });
    bus.end('b');
    expect(bus.history.size).toBe(2);
    await expect(backfill(bus, 'b', { seq: 1, index: ALL })).rejects.toMatchObject({
      code: 'SB_ERR_RESUME_POSITION_GONE',
    });
    // The deleted tenant's slots are free: a's history grows into them.
    bus.publish('a', 4, 0, [alert('a4')]);
    bus.publish('a', 5, 0, [alert('a5')]);
    expect(bus.history.size).toBe(4);
    expect(await backfill(bus, 'a', { seq: 1, index: 0 })).toEqual(['2:0', '3:0', '4:0', '5:0']);
  });

  it('with no history (0), only a position at the tenant’s latest event is served', async () => {
    const bus = new EventBus(0);
    bus.loaded('t', 5);
    bus.publish('t', 6, 0, [alert('x')]);
    expect(bus.history.size).toBe(0);
    expect(await backfill(bus, 't', { seq: 6, index: 0 })).toEqual([]);
    await expect(backfill(bus, 't', { seq: 5, index: ALL })).rejects.toMatchObject({
      code: 'SB_ERR_RESUME_POSITION_GONE',
    });
  });

  it("refill: the tail a load re-derived, complete from the snapshot (from its batch's last event when known); a saved history goes first", async () => {
    const ev = (seq: number, index: number, n: number) => ({
      seq,
      index,
      at: seq,
      events: Array.from({ length: n }, (_, i) => alert(`q${seq}.${index + i}`)),
    });
    const h = new EventHistory(100);
    const served = async (tenant: string, after: EventPosition) => {
      const out: string[] = [];
      await h.backfill({ tenant }, after, {
        sink: (e) => {
          out.push(`${e.seq}:${e.index}@${e.incarnation ?? 0}`);
          return undefined;
        },
        stopped: () => false,
        checked: () => {},
      });
      return out;
    };
    // Snapshot at 4 (its batch published 2 events), tail 5..6.
    h.refill('t', 4, 6, 77, [ev(5, 0, 2), ev(6, 0, 1)], false, undefined, 2);
    expect(await served('t', { seq: 4, index: 1, incarnation: 77 })).toEqual(['5:0@77', '5:1@77', '6:0@77']);
    await expect(served('t', { seq: 4, index: 0, incarnation: 77 })).rejects.toMatchObject({
      code: 'SB_ERR_RESUME_POSITION_GONE',
    });
    // Without the count: only after the whole batch.
    h.refill('u', 4, 6, 77, [ev(5, 0, 1)], false);
    await expect(served('u', { seq: 4, index: 1, incarnation: 77 })).rejects.toMatchObject({
      code: 'SB_ERR_RESUME_POSITION_GONE',
    });
    expect(await served('u', { seq: 4, index: ALL, incarnation: 77 })).toEqual(['5:0@77']);
    // A cut tail: complete from just before its first event kept.
    h.refill('v', 0, 9, 77, [ev(8, 3, 2)], true);
    expect(await served('v', { seq: 8, index: 2, incarnation: 77 })).toEqual(['8:3@77', '8:4@77']);
    await expect(served('v', { seq: 8, index: 1, incarnation: 77 })).rejects.toMatchObject({
      code: 'SB_ERR_RESUME_POSITION_GONE',
    });
    // A saved history (a graceful stop at 6) and its next life: the saved part, then the tail after it.
    const saved = h.save().find((x) => x.tenant === 't');
    const h2 = new EventHistory(100);
    h2.refill('t', 6, 7, 77, [ev(7, 0, 1)], false, saved);
    const h2served = async (after: EventPosition) => {
      const out: string[] = [];
      await h2.backfill({ tenant: 't' }, after, {
        sink: (e) => {
          out.push(`${e.seq}:${e.index}`);
          return undefined;
        },
        stopped: () => false,
        checked: () => {},
      });
      return out;
    };
    expect(await h2served({ seq: 4, index: 1, incarnation: 77 })).toEqual(['5:0', '5:1', '6:0', '7:0']);
    // Of another incarnation, or not reaching the snapshot loaded: not used.
    const h3 = new EventHistory(100);
    h3.refill('t', 6, 7, 78, [ev(7, 0, 1)], false, saved);
    h3.refill('x', 0, 0, 0, [], false);
    expect(h3.size).toBe(1);
    const h4 = new EventHistory(100);
    h4.refill('t', 7, 8, 77, [ev(8, 0, 1)], false, saved);
    expect(h4.size).toBe(1);
  });

  it('incarnations: a position of another, or without one once the tenant has one, is refused; seq 0 needs none', async () => {
    const bus = new EventBus(100);
    bus.loaded('t', 0, 500);
    bus.publish('t', 1, 0, [alert('a'), alert('b')]);
    const run = (after: EventPosition) => backfill(bus, 't', after);
    expect(await run({ seq: 1, index: 0, incarnation: 500 })).toEqual(['1:1']);
    expect(await run({ seq: 0, index: ALL })).toEqual(['1:0', '1:1']);
    for (const after of [
      { seq: 1, index: 0 },
      { seq: 1, index: 0, incarnation: 499 },
    ])
      await expect(run(after)).rejects.toMatchObject({ code: 'SB_ERR_RESUME_POSITION_GONE' });
    // A tenant whose incarnation is unknown (0): positions without one, as before; none with one.
    bus.loaded('legacy', 0);
    bus.publish('legacy', 1, 0, [alert('x')]);
    expect(await backfill(bus, 'legacy', { seq: 0, index: ALL })).toEqual(['1:0']);
    await expect(backfill(bus, 'legacy', { seq: 1, index: ALL, incarnation: 5 })).rejects.toMatchObject({
      code: 'SB_ERR_RESUME_POSITION_GONE',
    });
  });
});

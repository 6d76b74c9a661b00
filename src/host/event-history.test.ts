import { describe, expect, it } from 'vitest';
import type { EngineEvent } from '../engine/types.js';
import { EventBus } from './event-bus.js';
import type { EventPosition } from './event-history.js';
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
});

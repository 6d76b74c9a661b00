/**
 * With aging (`agingPerMinute`, 1 by default) an old low-priority conversation overtakes newer
 * higher-priority ones: an agent who frees up takes it first (`Partition.bestWaiting`). The place a
 * customer is told (`queued` position and estimated wait) and the order of `ListWaiting` must be that
 * serving order; they counted every higher priority level as ahead whatever its age, so a fresh
 * priority-5 chat was told "position 1" behind a priority-0 chat ten minutes old, which was served first.
 */
import { describe, expect, it } from 'vitest';
import {
  agentConfig,
  assignments,
  conversation,
  only,
  queueConfig,
  routingConfig,
  Scenario,
} from './fixtures.js';

const end = (conversationId: string) =>
  ({ type: 'end_conversation', conversationId, outcome: 'resolved' }) as const;

function line(s: Scenario): [string, number | null][] {
  const r = s.engine.query({ type: 'list_waiting', queueId: 'q1', limit: 1000 }, s.t);
  if (r.type !== 'list_waiting') throw new Error(r.type);
  return (r.conversations ?? []).map((c) => [c.id, c.position]);
}

/** One desk busy with `busy`, so everything else waits. */
function oneBusyDesk(aging: number): Scenario {
  const s = new Scenario();
  s.given({ type: 'set_routing_config', config: routingConfig({ agingPerMinute: aging }) });
  s.queue(queueConfig('q1'));
  s.online(agentConfig('ann'));
  s.enqueue(conversation('busy'));
  return s;
}

describe('places in line with aging priorities', () => {
  it('a customer is told the place they will be served in: behind an old lower-priority conversation that ages past them', () => {
    const s = oneBusyDesk(1);
    s.enqueue(conversation('low', { priority: 0 }));
    s.advance(10 * 60_000); // low: 0 + 10 minutes × 1 = 10 > 5
    const high = s.enqueue(conversation('high', { priority: 5 }));
    expect(only(high, 'queued')).toMatchObject([{ conversationId: 'high', position: 2 }]);
    s.enqueue(conversation('low2', { priority: 0 }));
    expect(line(s)).toEqual([
      ['low', 1],
      ['high', 2],
      ['low2', 3],
    ]);
    // And that is the order they are served in.
    expect(assignments(s.when(end('busy')))).toEqual(['low→ann']);
    expect(assignments(s.when(end('low')))).toEqual(['high→ann']);
  });

  it('without aging, a higher priority is ahead whatever its age (as before)', () => {
    const s = oneBusyDesk(0);
    s.enqueue(conversation('low', { priority: 0 }));
    s.advance(10 * 60_000);
    const high = s.enqueue(conversation('high', { priority: 5 }));
    expect(only(high, 'queued')).toMatchObject([{ conversationId: 'high', position: 1 }]);
    expect(line(s)).toEqual([
      ['high', 1],
      ['low', 2],
    ]);
    expect(assignments(s.when(end('busy')))).toEqual(['high→ann']);
  });

  it.each([
    [0, false],
    [1, false],
    [0.3, true],
  ])(
    'the listed places are the serving order of a mixed line (aging %d/min, SLA-driven %s)',
    (aging, sla) => {
      const s = new Scenario();
      s.given({
        type: 'set_routing_config',
        config: routingConfig({ agingPerMinute: aging, slaDrivenPriority: sla }),
      });
      s.queue(
        queueConfig('q1', { serviceLevel: { target: 0.8, thresholdSeconds: 120, windowSeconds: 3600 } }),
      );
      s.online(agentConfig('ann'));
      s.enqueue(conversation('busy'));
      let x = 7;
      const rnd = (n: number) => {
        x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
        return x % n;
      };
      for (let i = 0; i < 120; i++) {
        s.t += 1000 + rnd(20_000);
        s.enqueue(conversation(`c${i}`, { priority: rnd(11) }));
      }
      s.advance(60_000);
      const told = line(s);
      expect(told.map(([, pos]) => pos)).toEqual(told.map((_, i) => i + 1));
      // Served one at a time right away (no time passes, so no re-ordering): in the listed order.
      const served: string[] = [];
      let current = 'busy';
      for (let i = 0; i < told.length; i++) {
        const [next] = assignments(s.when(end(current)));
        current = next!.split('→')[0]!;
        served.push(current);
      }
      expect(served).toEqual(told.map(([id]) => id));
    },
  );
});

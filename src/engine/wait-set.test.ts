import { describe, expect, it } from 'vitest';
import { agentConfig, conversation, queueConfig, routingConfig } from './fixtures.js';
import { createEngine } from './index.js';
import { Conv } from './model.js';
import type { Command } from './types.js';
import { WaitSet } from './wait-set.js';

/** Counts reads of `Conv.enqueuedAt` (every age comparison reads it) while `fn` runs. */
function enqueuedAtReads(fn: () => void): number {
  const d = Object.getOwnPropertyDescriptor(Conv.prototype, 'enqueuedAt')!;
  let n = 0;
  Object.defineProperty(Conv.prototype, 'enqueuedAt', {
    ...d,
    get(this: Conv) {
      n++;
      return d.get!.call(this);
    },
  });
  try {
    fn();
  } finally {
    Object.defineProperty(Conv.prototype, 'enqueuedAt', d);
  }
  return n;
}

type Fake = { enqueuedAt: number; seq: number; answered: boolean; hpos: number; fpos: number };

function fake(seq: number, enqueuedAt: number, answered = false): Conv {
  return { enqueuedAt, seq, answered, hpos: -1, fpos: -1 } satisfies Fake as unknown as Conv;
}

function lcg(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

/** An engine fed commands that must succeed, at a clock the caller moves (`at`). */
function driver() {
  const e = createEngine('p');
  const clock = { at: Date.UTC(2026, 0, 5, 10, 0, 0) };
  let id = 0;
  const apply = (cmd: Command) => {
    const r = e.apply({ id: `c${id++}`, at: clock.at, cmd });
    if (!r.ok) throw new Error(JSON.stringify(r));
  };
  return { e, clock, apply };
}

/** A queue whose `n` conversations all ring at once, offered in priority order (not age order). */
function ringing(n: number) {
  const { e, clock, apply } = driver();
  apply({ type: 'set_routing_config', config: routingConfig({ agingPerMinute: 0 }) });
  apply({
    type: 'upsert_queue',
    queue: queueConfig('q1', {
      offerTimeoutSeconds: 3600,
      serviceLevel: { target: 0.8, thresholdSeconds: 5, windowSeconds: 3600 },
    }),
  });
  for (let i = 0; i < n; i++)
    apply({ type: 'upsert_agent', agent: agentConfig(`a${i}`, { capacity: { chat: 1 } }) });
  for (let i = 0; i < n; i++) {
    clock.at += 1;
    apply({ type: 'enqueue', conversation: conversation(`k${i}`, { priority: i % 2 === 0 ? 0 : 10 }) });
  }
  clock.at += 10_000;
  for (let i = 0; i < n; i++) apply({ type: 'set_presence', agentId: `a${i}`, presence: 'online' });
  // Agent a_i has exactly one conversation ringing (its internal list of pending offers).
  const agents = (e as unknown as { p: { agents: Map<string, { offers: string[] }> } }).p.agents;
  const offerOf = (i: number) => agents.get(`a${i}`)!.offers[0]!;
  return { e, apply, offerOf, tick: (ms: number) => (clock.at += ms), at: () => clock.at };
}

describe('WaitSet (held and ringing conversations of a queue)', () => {
  it('counts past the cutoff and finds the oldest like a brute force, whatever the order of joins and leaves', () => {
    const rnd = lcg(7);
    for (let round = 0; round < 40; round++) {
      const set = new WaitSet();
      const inSet: Conv[] = [];
      let cutoff = 0;
      let seq = 0;
      for (let op = 0; op < 400; op++) {
        const k = rnd(10);
        if (k < 4) {
          const c = fake(seq++, rnd(2000), rnd(8) === 0);
          set.push(c);
          inSet.push(c);
        } else if (k < 7 && inSet.length > 0) {
          const c = inSet.splice(rnd(inSet.length), 1)[0]!;
          set.remove(c);
          expect([c.hpos, c.fpos]).toEqual([-1, -1]);
        } else {
          cutoff += rnd(60);
          const ahead = cutoff + rnd(200);
          const brute = (t: number) => inSet.filter((c) => c.enqueuedAt < t && !c.answered).length;
          expect(set.countPast(ahead, false)).toBe(brute(ahead));
          expect(set.countPast(cutoff, true)).toBe(brute(cutoff));
        }
        expect(set.size).toBe(inSet.length);
        const oldest = inSet.reduce<Conv | undefined>(
          (m, c) =>
            !m || c.enqueuedAt < m.enqueuedAt || (c.enqueuedAt === m.enqueuedAt && c.seq < m.seq) ? c : m,
          undefined,
        );
        expect(set.peek()).toBe(oldest);
      }
      expect(set.all().length).toBe(inSet.length);
    }
  });

  it('a set rebuilt from another (threshold change) leaves no stale positions for the lane lines', () => {
    const old = new WaitSet();
    const cs = [fake(1, 10), fake(2, 20), fake(3, 30)];
    for (const c of cs) old.push(c);
    expect(old.countPast(25, true)).toBe(2);
    const fresh = new WaitSet();
    for (const c of old.all()) fresh.push(c);
    for (const c of cs) fresh.remove(c);
    expect(cs.map((c) => [c.hpos, c.fpos])).toEqual([
      [-1, -1],
      [-1, -1],
      [-1, -1],
    ]);
  });

  it('the service level check reads a bounded number of ringing conversations per answer (r5: was all the out-of-order ones)', () => {
    // 4 000 ring, offered priority 10 first, then priority 0 (older): out of age order. Each accept
    // evaluates the service level, which counts the ringing ones past the 5 s threshold.
    const s = ringing(4_000);
    const reads: number[] = [];
    for (let i = 0; i < 50; i++) {
      s.tick(1);
      const id = s.offerOf(i);
      reads.push(
        enqueuedAtReads(() => s.apply({ type: 'accept_offer', agentId: `a${i}`, conversationId: id })),
      );
    }
    // The first answer moves all 4 000 past the threshold (each once); the next ones touch a few.
    expect(Math.max(...reads.slice(1))).toBeLessThan(200);
    const stats = s.e.query({ type: 'queue_stats', queueId: 'q1' }, s.at());
    if (stats.type !== 'queue_stats' || !stats.stats) throw new Error('no stats');
    expect(stats.stats.waitingPastThreshold).toBe(4_000 - 50);
  });

  it('memory follows what is ringing, not how many offers were ever made (r5: grew by an entry per offer)', () => {
    const { e, clock, apply } = driver();
    apply({ type: 'set_routing_config', config: routingConfig() });
    apply({ type: 'upsert_queue', queue: queueConfig('q1', { offerTimeoutSeconds: 3600 }) });
    apply({ type: 'upsert_agent', agent: agentConfig('slow', { capacity: { chat: 1 } }) });
    apply({ type: 'set_presence', agentId: 'slow', presence: 'online' });
    apply({ type: 'enqueue', conversation: conversation('ringing') }); // rings at 'slow' for an hour
    apply({ type: 'upsert_agent', agent: agentConfig('fast', { capacity: { chat: 1 } }) });
    apply({ type: 'set_presence', agentId: 'fast', presence: 'online' });
    for (let i = 0; i < 5_000; i++) {
      clock.at += 10;
      apply({ type: 'enqueue', conversation: conversation(`k${i}`) });
      apply({ type: 'accept_offer', agentId: 'fast', conversationId: `k${i}` });
      apply({ type: 'end_conversation', conversationId: `k${i}`, outcome: 'resolved' });
    }
    const p = (e as unknown as { p: { queues: Map<string, { offered: object }> } }).p;
    const offered = p.queues.get('q1')!.offered as Record<string, unknown>;
    // Every array the line holds (the FIFO and its key arrays before; the heaps' items now).
    const slots = (o: unknown, depth = 0): number =>
      Array.isArray(o)
        ? o.length
        : o && typeof o === 'object' && depth < 2
          ? Object.values(o).reduce<number>((n, v) => n + slots(v, depth + 1), 0)
          : 0;
    expect(slots(offered)).toBeLessThan(16);
  });
});

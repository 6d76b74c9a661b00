/**
 * The waiting line a page at a time (`list_waiting` with `after`): the cursor is the place in line of the
 * previous page's last conversation (priority level, then arrival), so the pages stay correct while the
 * line moves under them — conversations served or leaving ahead of the cursor do not make the next page
 * skip anyone, as an offset would.
 */
import { describe, expect, it } from 'vitest';
import { agent, conversation, queue, routingConfig } from '../../test/support/engine-builders.js';
import type { LinePlace } from './api.js';
import { createEngine, type Engine, restoreEngine } from './index.js';
import type { Command } from './types.js';

const T = 1_767_600_000_000;

class Line {
  readonly e: Engine = createEngine('t');
  t = T;
  n = 0;
  given(...cmds: Command[]): void {
    for (const cmd of cmds) {
      const r = this.e.apply({ id: `c${++this.n}`, at: this.t, cmd });
      if (!r.ok) throw new Error(`${cmd.type}: ${r.error.message}`);
    }
  }
  page(limit: number, after?: LinePlace, e: Engine = this.e) {
    const r = e.query({ type: 'list_waiting', queueId: 'q1', limit, ...(after ? { after } : {}) }, this.t);
    if (r.type !== 'list_waiting' || r.conversations === null) throw new Error(r.type);
    return {
      ids: r.conversations.map((c) => c.id),
      positions: r.conversations.map((c) => c.position),
      next: r.next,
      total: r.total,
    };
  }
  /** Every id in line order, in one page. */
  all(): string[] {
    return this.page(1_000_000).ids;
  }
}

describe('paging through a waiting line', () => {
  it('pages of a line that does not move are the whole line in order, each conversation once', () => {
    const s = new Line();
    s.given({ type: 'upsert_queue', queue: queue('q1') });
    for (let i = 0; i < 1000; i++) {
      s.t += 100;
      s.given({ type: 'enqueue', conversation: conversation(`w${i}`, 'q1', { priority: (i * 7) % 11 }) });
    }
    const whole = s.all();
    expect(whole).toHaveLength(1000);
    const seen: string[] = [];
    let after: LinePlace | undefined;
    for (let pages = 1; ; pages++) {
      const p = s.page(128, after);
      expect(p.total).toBe(1000);
      // Positions are the live ones: the page continues where the last one stopped.
      expect(p.positions).toEqual(p.ids.map((_, i) => seen.length + i + 1));
      seen.push(...p.ids);
      if (p.next === undefined) {
        expect(pages).toBe(8);
        break;
      }
      after = p.next;
    }
    expect(seen).toEqual(whole);
    // Exactly a page's worth left: the page is full and says no more.
    expect(s.page(1000).next).toBeUndefined();
    expect(s.page(999).next).toBeDefined();
  });

  it('a conversation back in line with its age (a rejected offer) is paged in its place', () => {
    const s = new Line();
    s.given({ type: 'upsert_queue', queue: queue('q1', { offerTimeoutSeconds: 30 }) });
    s.given({ type: 'upsert_agent', agent: agent('ann', { capacity: { chat: 1 } }) });
    s.given({ type: 'set_presence', agentId: 'ann', presence: 'online' });
    s.given({ type: 'enqueue', conversation: conversation('c1', 'q1') }); // offered to ann at once
    for (const id of ['c2', 'c3', 'c4']) {
      s.t += 1000;
      s.given({ type: 'enqueue', conversation: conversation(id, 'q1') });
    }
    s.given({ type: 'set_presence', agentId: 'ann', presence: 'away' }); // c1 back, first in line
    expect(s.all()).toEqual(['c1', 'c2', 'c3', 'c4']);
    const one = s.page(1);
    expect(one.ids).toEqual(['c1']);
    const two = s.page(2, one.next);
    expect(two).toMatchObject({ ids: ['c2', 'c3'], positions: [2, 3] });
    expect(s.page(2, two.next)).toMatchObject({ ids: ['c4'], positions: [4], next: undefined });
  });

  it.each([0, 1])(
    'pages stay correct while the line moves: served, cancelled, overflowed and new conversations (aging %d/min)',
    (aging) => {
      const s = new Line();
      s.given({ type: 'set_routing_config', config: routingConfig({ agingPerMinute: aging }) });
      s.given({
        type: 'upsert_queue',
        queue: queue('q1', {
          requiredSkills: [{ skill: 'x', minLevel: 5 }],
          overflow: [{ afterSeconds: 150, action: { kind: 'relax_skills', by: 4 } }],
        }),
      });
      for (let i = 0; i < 3000; i++) {
        s.t += 100;
        s.given({ type: 'enqueue', conversation: conversation(`w${i}`, 'q1', { priority: (i * 7) % 10 }) });
      }
      const start = s.all();
      const gone = new Set<string>();
      const seen: string[] = [];
      let after: LinePlace | undefined;
      for (let page = 0; page < 1000; page++) {
        const p = s.page(150, after);
        // In line order: positions rise within a page.
        for (let i = 1; i < p.positions.length; i++)
          expect(p.positions[i]!).toBeGreaterThan(p.positions[i - 1]!);
        seen.push(...p.ids);
        if (p.next === undefined) break;
        after = p.next;
        // (They start at priorities 0-9: 10 is ahead of every cursor.)
        // The line moves: time passes (older conversations overflow to a lane junior agents serve), a
        // junior agent comes online and takes three of them, customers leave ahead of the cursor and
        // behind it, new ones arrive at the top priority (ahead of the cursor) and the lowest (behind it).
        s.t += 15_000;
        s.given({ type: 'tick' });
        s.given({
          type: 'upsert_agent',
          agent: agent(`jr${page}`, { skills: [{ skill: 'x', level: 1 }], capacity: { chat: 3 } }),
        });
        s.given({ type: 'set_presence', agentId: `jr${page}`, presence: 'online' });
        const now = s.all();
        for (const id of start) if (!now.includes(id)) gone.add(id);
        for (const id of [now[page % 5], now[now.length - 1 - page]]) {
          if (id === undefined || !id.startsWith('w')) continue;
          s.given({ type: 'cancel', conversationId: id });
          gone.add(id);
        }
        s.given({ type: 'enqueue', conversation: conversation(`top${page}`, 'q1', { priority: 10 }) });
        s.given({ type: 'enqueue', conversation: conversation(`low${page}`, 'q1', { priority: 0 }) });
      }
      expect(gone.size).toBeGreaterThan(50); // the line did move (served and cancelled)
      // Nobody twice; everyone who waited throughout, exactly once and in the order they stood.
      expect(new Set(seen).size).toBe(seen.length);
      const stayed = start.filter((id) => !gone.has(id));
      expect(seen.filter((id) => stayed.includes(id))).toEqual(stayed);
      // Without aging, new arrivals behind the cursor are seen, those ahead of it are not (documented);
      // with it, old conversations overtake newer priorities, and the walk follows that order.
      if (aging === 0) {
        expect(seen.some((id) => id.startsWith('low'))).toBe(true);
        expect(seen.some((id) => id.startsWith('top'))).toBe(false);
      }
    },
  );

  it('a cursor reads the same on a restored engine (it names no internal slot)', () => {
    const s = new Line();
    s.given({ type: 'upsert_queue', queue: queue('q1') });
    for (let i = 0; i < 50; i++) {
      s.t += 10;
      s.given({ type: 'enqueue', conversation: conversation(`w${i}`, 'q1', { priority: i % 3 }) });
    }
    const first = s.page(20);
    const restored = restoreEngine(JSON.parse(JSON.stringify(s.e.snapshot())));
    expect(s.page(20, first.next, restored)).toEqual(s.page(20, first.next));
  });
});

/**
 * Listings a page at a time (ListAgents, ListQueues, ListAgentStats, ListQueueStats): the engine answers
 * only the page asked for, ordered by id, starting after the previous page's last id, so only a page
 * crosses from the partition's worker and pages stay consistent while agents come and go.
 */
import { describe, expect, it } from 'vitest';
import { agent, queue } from '../../test/support/engine-builders.js';
import type { PageQuery, Query, QueryResult } from './api.js';
import { createEngine, type Engine, restoreEngine } from './index.js';
import type { Command, CommandEnvelope } from './types.js';

const T = 1_767_600_000_000;
let n = 0;
const env = (cmd: Command): CommandEnvelope => ({ id: `c${++n}`, at: T + n, cmd });

function given(e: Engine, ...cmds: Command[]): void {
  for (const cmd of cmds) {
    const r = e.apply(env(cmd));
    if (!r.ok) throw new Error(`${cmd.type}: ${r.error.message}`);
  }
}

/** Ids of one page, and its `next` / `total`. */
function page(e: Engine, q: Query): { ids: string[]; next?: string; total?: number } {
  const r: QueryResult = e.query(q, T + n);
  const next = 'next' in r && typeof r.next === 'string' ? r.next : undefined;
  const total = 'total' in r ? r.total : undefined;
  const of = (): string[] => {
    switch (r.type) {
      case 'list_agents':
        return r.agents.map((a) => a.id);
      case 'list_queues':
        return r.queues.map((x) => x.id);
      case 'all_agent_stats':
        return (r.stats ?? []).map((s) => s.agentId);
      case 'all_queue_stats':
        return r.stats.map((s) => s.queueId);
      default:
        throw new Error(r.type);
    }
  };
  return { ids: of(), ...(next !== undefined ? { next } : {}), ...(total !== undefined ? { total } : {}) };
}

/** Every page of `q` with `limit`, following `next`, calling `between` after each page. */
function walk(e: Engine, q: Query, limit: number, between: (i: number) => void = () => {}): string[] {
  const seen: string[] = [];
  let after: string | undefined;
  for (let i = 0; i < 10_000; i++) {
    const p = page(e, { ...q, limit, ...(after !== undefined ? { after } : {}) } as Query & PageQuery);
    expect(p.ids.length).toBeLessThanOrEqual(limit);
    seen.push(...p.ids);
    between(i);
    if (p.next === undefined) return seen;
    expect(p.next).toBe(p.ids[p.ids.length - 1]);
    after = p.next;
  }
  throw new Error('no last page');
}

const ids = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`);

describe('listing a page at a time', () => {
  it('agents are listed by id in code-unit order, whatever order they were created in', () => {
    const e = createEngine('paging');
    given(
      e,
      ...['b', 'a', 'B', 'a-2', 'a.1', '_z'].map(
        (id) => ({ type: 'upsert_agent', agent: agent(id) }) as Command,
      ),
    );
    // Before paging ListAgents answered the creation order although its proto said "ordered by id".
    expect(page(e, { type: 'list_agents' }).ids).toEqual(['B', '_z', 'a', 'a-2', 'a.1', 'b']);
    expect(page(e, { type: 'list_agents', limit: 2 })).toEqual({ ids: ['B', '_z'], next: '_z', total: 6 });
    expect(page(e, { type: 'list_agents', limit: 2, after: '_z' })).toEqual({
      ids: ['a', 'a-2'],
      next: 'a-2',
      total: 6,
    });
    // `after` need not be an id the list has: the page starts at the first id that sorts after it.
    expect(page(e, { type: 'list_agents', limit: 10, after: 'a-' })).toEqual({
      ids: ['a-2', 'a.1', 'b'],
      total: 6,
    });
    expect(page(e, { type: 'list_agents', limit: 10, after: 'zzz' })).toEqual({ ids: [], total: 6 });
    // Exactly a page's worth left: the page is the last (no `next`).
    expect(page(e, { type: 'list_agents', limit: 2, after: 'a-2' })).toEqual({ ids: ['a.1', 'b'], total: 6 });
  });

  it('a walk of 2 500 agents lists each once, in order; a page holds only its size', () => {
    const e = createEngine('paging');
    const all = ids('agent-', 2500);
    // Created in a scrambled order.
    for (let i = 0; i < all.length; i++)
      given(e, { type: 'upsert_agent', agent: agent(all[(i * 7919) % 2500]!) });
    expect(walk(e, { type: 'list_agents' }, 1000)).toEqual(all);
    expect(walk(e, { type: 'all_agent_stats' }, 333)).toEqual(all);
    expect(page(e, { type: 'list_agents', limit: 500 }).ids).toHaveLength(500);
  });

  it('pages stay consistent while agents come and go: no id present throughout is skipped or repeated', () => {
    const e = createEngine('paging');
    const all = ids('a', 1000);
    for (const id of all) given(e, { type: 'upsert_agent', agent: agent(id) });
    const removed = new Set<string>();
    const seen = walk(e, { type: 'list_agents' }, 100, (i) => {
      // Between pages: remove one already listed and one not yet listed, add one before and one after
      // the cursor (ids that sort between existing ones).
      const gone = [all[i * 100 + 50]!, all[(i * 100 + 250) % 1000]!];
      for (const id of gone) {
        if (removed.has(id)) continue;
        removed.add(id);
        given(e, { type: 'remove_agent', agentId: id });
      }
      given(
        e,
        { type: 'upsert_agent', agent: agent(`${all[i * 100 + 10]!}-new`) },
        { type: 'upsert_agent', agent: agent(`${all[(i * 100 + 510) % 1000]!}-new`) },
      );
    });
    expect(new Set(seen).size).toBe(seen.length);
    expect([...seen].sort()).toEqual(seen);
    const throughout = all.filter((id) => !removed.has(id));
    for (const id of throughout) expect(seen).toContain(id);
  });

  it('the id order follows every addition and removal, and a restored engine pages the same', () => {
    const e = createEngine('paging');
    given(e, ...['c', 'a', 'e'].map((id) => ({ type: 'upsert_agent', agent: agent(id) }) as Command));
    expect(page(e, { type: 'list_agents', limit: 10 }).ids).toEqual(['a', 'c', 'e']);
    given(e, { type: 'upsert_agent', agent: agent('b') }, { type: 'remove_agent', agentId: 'c' });
    expect(page(e, { type: 'list_agents', limit: 10 }).ids).toEqual(['a', 'b', 'e']);
    given(e, { type: 'upsert_queue', queue: queue('q2') }, { type: 'upsert_queue', queue: queue('q1') });
    expect(page(e, { type: 'list_queues', limit: 1 })).toEqual({ ids: ['q1'], next: 'q1', total: 2 });
    given(e, { type: 'upsert_queue', queue: queue('q0') }, { type: 'remove_queue', queueId: 'q2' });
    expect(page(e, { type: 'all_queue_stats', limit: 5 })).toEqual({ ids: ['q0', 'q1'], total: 2 });
    const restored = restoreEngine(JSON.parse(JSON.stringify(e.snapshot())));
    for (const q of [
      { type: 'list_agents', limit: 2, after: 'a' },
      { type: 'list_queues', limit: 1 },
      { type: 'all_agent_stats', limit: 2 },
    ] as Query[]) {
      expect(restored.query(q, T + n)).toEqual(e.query(q, T + n));
    }
    expect(restored.digest()).toBe(e.digest());
  });

  it("agent statistics filtered by queue or team: a page holds the page's size of matching agents", () => {
    const e = createEngine('paging');
    given(e, { type: 'upsert_queue', queue: queue('voice', { channel: 'voice' }) });
    for (let i = 0; i < 40; i++) {
      const id = `a${String(i).padStart(2, '0')}`;
      given(e, {
        type: 'upsert_agent',
        agent: agent(id, {
          teams: i % 3 === 0 ? ['night'] : [],
          capacity: i % 2 === 0 ? { chat: 2, voice: 1 } : { chat: 2 },
        }),
      });
    }
    const evens = ids('a', 40)
      .map((id) => `a${id.slice(-2)}`)
      .filter((_, i) => i % 2 === 0);
    const night = ids('a', 40)
      .map((id) => `a${id.slice(-2)}`)
      .filter((_, i) => i % 3 === 0);
    expect(walk(e, { type: 'all_agent_stats', queueId: 'voice' }, 7)).toEqual(evens);
    expect(walk(e, { type: 'all_agent_stats', team: 'night' }, 4)).toEqual(night);
    expect(walk(e, { type: 'all_agent_stats', queueId: 'voice', team: 'night' }, 3)).toEqual(
      night.filter((id) => evens.includes(id)),
    );
    expect(page(e, { type: 'all_agent_stats', queueId: 'voice', limit: 3 })).toMatchObject({ total: 20 });
    expect(page(e, { type: 'all_agent_stats', team: 'night', limit: 3 })).toMatchObject({ total: 14 });
    expect(page(e, { type: 'all_agent_stats', team: 'nobody', limit: 3 })).toEqual({ ids: [], total: 0 });
    // A queue few of the agents staff (its own staff sorted, not every agent's id walked): the same pages.
    given(e, {
      type: 'upsert_queue',
      queue: queue('rare', { requiredSkills: [{ skill: 'rare', minLevel: 1 }] }),
    });
    for (const id of ['a33', 'a07', 'a21']) {
      given(e, {
        type: 'upsert_agent',
        agent: agent(id, { skills: [{ skill: 'rare', level: 5 }], teams: ['night'] }),
      });
    }
    expect(walk(e, { type: 'all_agent_stats', queueId: 'rare' }, 2)).toEqual(['a07', 'a21', 'a33']);
    expect(page(e, { type: 'all_agent_stats', queueId: 'rare', limit: 2, after: 'a07' })).toEqual({
      ids: ['a21', 'a33'],
      total: 3,
    });
    expect(page(e, { type: 'all_agent_stats', queueId: 'rare', team: 'night' }).ids).toEqual([
      'a07',
      'a21',
      'a33',
    ]);
    expect(e.query({ type: 'all_agent_stats', queueId: 'nope', limit: 3 }, T + n)).toEqual({
      type: 'all_agent_stats',
      stats: null,
    });
  });
});

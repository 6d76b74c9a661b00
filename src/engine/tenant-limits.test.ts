/**
 * The most queues / agents a tenant may have (security review: one tenant's 3 000 queues made /metrics
 * 11.9 MB for everyone). The limit rides in the envelope, so the command log decides a replay, not the
 * node's configuration at the time: a command accepted live is accepted again on restore.
 */
import { describe, expect, it } from 'vitest';
import { agent, queue } from '../../test/support/engine-builders.js';
import { createEngine, restoreEngine } from './index.js';
import type { Command, CommandEnvelope } from './types.js';

let n = 0;
const env = (cmd: Command, limit?: number): CommandEnvelope => ({
  id: `c${++n}`,
  at: 1_767_600_000_000 + n,
  cmd,
  ...(limit !== undefined ? { limit } : {}),
});

describe('tenant limits', () => {
  it('a queue or agent past the envelope limit is refused naming the field; updates and re-adds after a removal are not', () => {
    const e = createEngine('limits');
    const q = (id: string) => e.apply(env({ type: 'upsert_queue', queue: queue(id) }, 2));
    const a = (id: string) => e.apply(env({ type: 'upsert_agent', agent: agent(id) }, 2));
    expect(q('q1').ok && q('q2').ok).toBe(true);
    const refused = q('q3');
    expect(refused).toMatchObject({
      ok: false,
      error: { code: 'SB_ERR_TENANT_LIMIT_REACHED', field: 'queue.id' },
    });
    expect(!refused.ok && refused.error.message).toMatch(/has 2 queues.*--max-queues-per-tenant 2/);
    expect(q('q1').ok).toBe(true); // an update of one it has
    expect(e.apply(env({ type: 'remove_queue', queueId: 'q2' })).ok).toBe(true);
    expect(q('q3').ok).toBe(true);
    expect(a('a1').ok && a('a2').ok).toBe(true);
    expect(a('a3')).toMatchObject({
      ok: false,
      error: { code: 'SB_ERR_TENANT_LIMIT_REACHED', field: 'agent.id' },
    });
    expect(a('a2').ok).toBe(true);
    // Without a limit in the envelope (older log entries): no limit.
    expect(e.apply(env({ type: 'upsert_agent', agent: agent('a3') })).ok).toBe(true);
    expect(e.query({ type: 'list_queues' }, 1_767_600_000_000 + n)).toMatchObject({
      queues: [{ id: 'q1' }, { id: 'q3' }],
    });
  });

  it('a restore replays the logged limits: the same answers and digest as live', () => {
    const log: CommandEnvelope[] = [];
    const live = createEngine('limits');
    const results: boolean[] = [];
    const snapAt = 3;
    let snap: unknown = null;
    for (let i = 0; i < 8; i++) {
      if (i === snapAt) snap = JSON.parse(JSON.stringify(live.snapshot()));
      const e = env({ type: 'upsert_queue', queue: queue(`q${i}`) }, i < 5 ? 4 : 6);
      log.push(e);
      results.push(live.apply(e).ok);
    }
    expect(results).toEqual([true, true, true, true, false, true, true, false]);
    const restored = restoreEngine(snap as never);
    const again = log.slice(snapAt).map((e) => restored.apply(e).ok);
    expect(again).toEqual(results.slice(snapAt));
    expect(restored.digest()).toBe(live.digest());
  });

  it('an envelope limit that is not a whole number in range is refused', () => {
    const e = createEngine('limits');
    for (const limit of [-1, 1.5, Number.NaN]) {
      expect(e.apply({ ...env({ type: 'upsert_queue', queue: queue('q') }), limit })).toMatchObject({
        ok: false,
        error: { code: 'SB_ERR_INVALID_ARGUMENT', field: 'limit' },
      });
    }
  });
});

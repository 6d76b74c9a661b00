/**
 * A bug that throws half-way through a command must not leave a half-applied partition in service.
 * Fault injection: the assignment step throws after it has already counted the agent's seat.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { agentConfig, conversation, queueConfig } from './fixtures.js';
import { createEngine, restoreEngine } from './index.js';
import { Partition } from './partition.js';
import type { CommandEnvelope } from './types.js';

const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);
const log: CommandEnvelope[] = [
  { id: 'q', at: T0, cmd: { type: 'upsert_queue', queue: queueConfig('q1') } },
  { id: 'a', at: T0, cmd: { type: 'upsert_agent', agent: agentConfig('ann', { capacity: { chat: 2 } }) } },
  { id: 'on', at: T0, cmd: { type: 'set_presence', agentId: 'ann', presence: 'online' } },
];
const failing: CommandEnvelope = {
  id: 'boom',
  at: T0 + 1000,
  cmd: { type: 'enqueue', conversation: conversation('c1') },
};
const after: CommandEnvelope = {
  id: 'next',
  at: T0 + 2000,
  cmd: { type: 'enqueue', conversation: conversation('c2') },
};

function breakAssignOnce(): void {
  const spy = vi.spyOn(Partition.prototype, 'assign').mockImplementation((_c, agent) => {
    spy.mockRestore();
    agent.addLoad(0, 1); // part of the command's effect has happened…
    throw new TypeError('injected bug'); // …then a bug stops it
  });
}

afterEach(() => vi.restoreAllMocks());

describe('an internal error in the middle of a command', () => {
  it('halts the partition: no further command, query, snapshot or digest sees the half-applied state', () => {
    const e = createEngine('t');
    for (const env of log) expect(e.apply(env).ok).toBe(true);
    breakAssignOnce();
    const r = e.apply(failing);
    expect(r).toMatchObject({ ok: false, error: { code: 'SB_ERR_INTERNAL' } });
    expect(e.halted).toEqual({ commandId: 'boom', error: 'TypeError: injected bug' });
    // The bug is gone (mock restored), yet nothing proceeds on the damaged state.
    expect(e.apply(after)).toMatchObject({
      ok: false,
      error: { code: 'SB_ERR_INTERNAL', message: /halted.*"boom"/ },
    });
    expect(() => e.snapshot()).toThrow(/halted/);
    expect(() => e.digest()).toThrow(/halted/);
    expect(() => e.query({ type: 'agent_stats', agentId: 'ann' }, T0)).toThrow(/halted/);
  });

  it('recovery from the last snapshot and the log without the failed command is exactly "the command was rejected"', () => {
    const e = createEngine('t');
    for (const env of log) e.apply(env);
    const snap = JSON.parse(JSON.stringify(e.snapshot()));
    breakAssignOnce();
    e.apply(failing);
    expect(e.halted?.commandId).toBe('boom');

    const recovered = restoreEngine(snap);
    for (const env of [failing, after]) if (env.id !== e.halted?.commandId) recovered.apply(env);
    const neverSaw = createEngine('t');
    for (const env of [...log, after]) neverSaw.apply(env);
    expect(recovered.halted).toBeNull();
    expect(recovered.digest()).toBe(neverSaw.digest());
    const stats = recovered.query({ type: 'agent_stats', agentId: 'ann' }, T0 + 2000);
    expect(stats.type === 'agent_stats' && stats.stats?.open).toBe(1);
  });

  it('bad input is rejected with its code, changes nothing, and does not halt', () => {
    const e = createEngine('t');
    for (const env of log) e.apply(env);
    const before = e.digest();
    const r = e.apply({
      id: 'x',
      at: T0,
      cmd: { type: 'enqueue', conversation: conversation('c9', { queueId: 'nope' }) },
    });
    expect(r).toMatchObject({ ok: false, error: { code: 'SB_ERR_QUEUE_NOT_FOUND' } });
    expect(e.halted).toBeNull();
    expect(e.digest()).toBe(before);
  });
});

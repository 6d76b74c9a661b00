/**
 * `--pool inline` runs the partition actors on the main thread. What a worker gives by construction must
 * still hold: each slot's partitions are its own, the actors work on copies (a request changed after the
 * call, or an answer changed by its receiver, cannot reach the engine's state), answers come after the
 * call returns, and a test hook that would end a thread is refused instead of ending the node.
 */
import { describe, expect, it, vi } from 'vitest';
import { agentConfig, conversation, queueConfig } from '../../src/engine/fixtures.js';
import { createEngine } from '../../src/engine/index.js';
import type { Command, CommandEnvelope } from '../../src/engine/types.js';
import { PartitionActors } from '../../src/host/partition-actor.js';
import type { HostItem, HostResult } from '../../src/host/protocol.js';
import { createWorkerPool, type WorkerPool } from '../../src/host/worker-pool.js';
import { deepFreeze } from '../support/deep-freeze.js';

let n = 0;
const env = (cmd: Command): CommandEnvelope => ({ id: `cmd-${++n}`, at: 1_000 + n, cmd });

async function one(pool: WorkerPool, slot: number, item: HostItem): Promise<HostResult> {
  const res = await pool.call(slot, { items: [item] });
  return res.results[0] as HostResult;
}

const empty = (partition: string): HostItem => ({
  kind: 'load',
  partition,
  snapshot: null,
  snapshotDigest: null,
  batches: [],
});

const desk = (): CommandEnvelope[] => [
  env({ type: 'upsert_queue', queue: queueConfig('chat') }),
  env({ type: 'upsert_agent', agent: agentConfig('agent-1', { displayName: 'Agent 1' }) }),
  env({ type: 'set_presence', agentId: 'agent-1', presence: 'online' }),
];

async function digest(pool: WorkerPool, slot: number, partition: string): Promise<string> {
  const r = await one(pool, slot, { kind: 'query', partition, query: { type: 'digest' }, at: 0 });
  if (r.kind !== 'query' || r.result.type !== 'digest') throw new Error(`no digest: ${r.kind}`);
  return r.result.digest;
}

/** Overwrites every string and number and empties every array reachable from `v`. */
function scribble(v: unknown): void {
  if (v === null || typeof v !== 'object') return;
  if (Array.isArray(v)) {
    for (const x of v) scribble(x);
    v.length = 0;
    return;
  }
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    const x = o[k];
    if (typeof x === 'string') o[k] = 'scribbled';
    else if (typeof x === 'number') o[k] = -1;
    else scribble(x);
  }
}

describe('inline pool', () => {
  it('each slot hosts its own partitions', async () => {
    const pool = createWorkerPool({ kind: 'inline', threads: 2 });
    expect((await one(pool, 0, empty('acme'))).kind).toBe('load');
    expect((await one(pool, 1, empty('acme'))).kind).toBe('load');
    const applied = await one(pool, 0, {
      kind: 'apply',
      partition: 'acme',
      commands: desk(),
      receivedAt: [],
    });
    expect(applied.kind).toBe('apply');
    expect(await digest(pool, 0, 'acme')).not.toBe(await digest(pool, 1, 'acme'));
    expect((await one(pool, 1, { kind: 'drop', partition: 'acme' })).kind).toBe('drop');
    expect(await one(pool, 1, { kind: 'snapshot', partition: 'acme' })).toMatchObject({ missing: true });
    expect((await one(pool, 0, { kind: 'snapshot', partition: 'acme' })).kind).toBe('snapshot');
    const part = await one(pool, 0, { kind: 'snapshot_part', partition: 'acme', budgetMs: 1000 });
    expect(part).toMatchObject({ kind: 'snapshot_part', done: true, digest: await digest(pool, 0, 'acme') });
    await pool.close();
  });

  it('answers are copies: whatever the receiver does to them cannot reach the state; commands are only read', async () => {
    const pool = createWorkerPool({ kind: 'inline', threads: 1 });
    await one(pool, 0, empty('acme'));
    await one(pool, 0, { kind: 'apply', partition: 'acme', commands: desk(), receivedAt: [] });
    // Commands are handed over as they are (not copied): the actors must only read them.
    const enqueue = env({ type: 'enqueue', conversation: conversation('conv-1', { queueId: 'chat' }) });
    const item: HostItem = deepFreeze({
      kind: 'apply',
      partition: 'acme',
      commands: [enqueue],
      receivedAt: [Number.NaN],
    });
    const handle = vi.spyOn(PartitionActors.prototype, 'handle');
    let r: HostResult;
    try {
      const pending = pool.call(0, { items: [item] });
      // The call has returned before the actor ran (a thread would not have started on it either):
      // the caller may still touch its request, and the answer comes later.
      expect(handle).not.toHaveBeenCalled();
      r = (await pending).results[0] as HostResult;
      expect(handle).toHaveBeenCalledTimes(1);
    } finally {
      handle.mockRestore();
    }
    if (r.kind !== 'apply') throw new Error(`expected apply, got ${r.kind}`);
    const reply = r.results[0];
    expect(reply?.ok && reply.reply.kind === 'enqueued' && reply.reply.status).toBe('assigned');
    // The receiver scribbles over everything it got back, answers and views alike; the state must not move.
    const before = await digest(pool, 0, 'acme');
    const at = 5_000;
    const views = await pool.call(0, {
      items: [
        { kind: 'query', partition: 'acme', query: { type: 'agent', agentId: 'agent-1' }, at },
        { kind: 'query', partition: 'acme', query: { type: 'queue', queueId: 'chat' }, at },
        { kind: 'query', partition: 'acme', query: { type: 'routing_config' }, at },
        { kind: 'query', partition: 'acme', query: { type: 'conversation', conversationId: 'conv-1' }, at },
        { kind: 'query', partition: 'acme', query: { type: 'list_agents' }, at },
      ],
    });
    expect(views.results.map((v) => v.kind)).toEqual(['query', 'query', 'query', 'query', 'query']);
    scribble(r);
    scribble(views);
    expect(await digest(pool, 0, 'acme')).toBe(before);
    await pool.close();
  });

  it('two partitions restored from one snapshot object do not share state', async () => {
    const pool = createWorkerPool({ kind: 'inline', threads: 2 });
    const source = createEngine('acme');
    for (const e of desk()) source.apply(e);
    // Answered conversations before the snapshot, so it carries a service-level window (restored in place).
    source.apply(env({ type: 'enqueue', conversation: conversation('early', { queueId: 'chat' }) }));
    source.apply(env({ type: 'end_conversation', conversationId: 'early', outcome: 'resolved' }));
    const snapshot = source.snapshot();
    const load = (slot: number) =>
      one(pool, slot, { kind: 'load', partition: 'acme', snapshot, snapshotDigest: null, batches: [] });
    expect((await load(0)).kind).toBe('load');
    expect((await load(1)).kind).toBe('load');
    const stats = async (slot: number) =>
      one(pool, slot, {
        kind: 'query',
        partition: 'acme',
        query: { type: 'queue_stats', queueId: 'chat' },
        at: 1_000_000,
      });
    const before = await digest(pool, 1, 'acme');
    const statsBefore = await stats(1);
    // A working day on slot 0 (assignments, ends: counters, cursors, windows move); slot 1 must not see it.
    const day: CommandEnvelope[] = [];
    for (let i = 0; i < 20; i++) {
      day.push(env({ type: 'enqueue', conversation: conversation(`day-${i}`, { queueId: 'chat' }) }));
      day.push(env({ type: 'end_conversation', conversationId: `day-${i}`, outcome: 'resolved' }));
    }
    const worked = await one(pool, 0, {
      kind: 'apply',
      partition: 'acme',
      commands: day,
      receivedAt: day.map(() => Number.NaN),
    });
    expect(worked.kind === 'apply' && worked.results.every((r) => r.ok)).toBe(true);
    expect(await digest(pool, 1, 'acme')).toBe(before);
    // The service-level window is restored into arrays of the snapshot's: slot 0 must not count in slot 1's.
    expect(await stats(1)).toEqual(statsBefore);
    expect(await stats(0)).not.toEqual(statsBefore);
    expect(await digest(pool, 0, 'acme')).not.toBe(before);
    await pool.close();
  });

  it('crash hooks are refused (they would end the node, not a worker), while inject_bug works', async () => {
    const pool = createWorkerPool({ kind: 'inline', threads: 1, testHooks: true });
    for (const how of ['exit', 'throw'] as const) {
      expect(await one(pool, 0, { kind: 'crash', how })).toMatchObject({
        kind: 'error',
        code: 'SB_ERR_INVALID_ARGUMENT',
      });
    }
    expect(await one(pool, 0, { kind: 'inject_bug', commandId: 'c' })).toEqual({ kind: 'inject_bug' });
    const off = createWorkerPool({ kind: 'inline', threads: 1 });
    expect(await one(off, 0, { kind: 'inject_bug', commandId: 'c' })).toMatchObject({ kind: 'error' });
    await pool.close();
    await off.close();
  });
});

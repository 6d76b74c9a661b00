/**
 * A tenant exists only once a command changed it (and was logged): refused calls, no-ops and reads of a
 * tenant that does not exist leave nothing behind — no log file, no snapshot, no partition, no series —
 * and nothing is loaded at the next start.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { conversation, queueConfig } from '../../src/engine/fixtures.js';
import { type Harness, hostsOfThisFile } from './harness.js';

const start = hostsOfThisFile();

async function files(dir: string, sub: string): Promise<string[]> {
  return readdir(join(dir, sub)).catch(() => []);
}

/** Refused commands, no-ops and reads of tenant `t`, none of which may create it. */
async function strayCalls(h: Harness, t: string): Promise<void> {
  const unknownAgent = await h.send(t, { type: 'set_presence', agentId: 'nobody', presence: 'online' });
  expect(unknownAgent.ok === false && unknownAgent.error.code).toBe('SB_ERR_AGENT_NOT_FOUND');
  const unknownQueue = await h.send(t, {
    type: 'enqueue',
    conversation: conversation(`c-${t}`, { queueId: 'nope' }),
  });
  expect(unknownQueue.ok).toBe(false);
  const noop = await h.send(t, { type: 'remove_customer', customerId: 'nobody' });
  expect(noop.ok).toBe(true);
  const tick = await h.send(t, { type: 'tick' });
  expect(tick.ok).toBe(true);
  const agent = await h.host.query(t, { type: 'agent', agentId: 'nobody' });
  expect(agent).toEqual({ type: 'agent', agent: null });
  const queues = await h.host.query(t, { type: 'list_queues' });
  expect(queues).toEqual({ type: 'list_queues', queues: [] });
}

describe('tenants that do not exist', () => {
  it('refused calls and reads to 50 new tenant ids leave no file, partition or series, and nothing loads after a restart', async () => {
    const h = await start();
    const tenants = Array.from({ length: 50 }, (_, i) => `stray-${i}`);
    await Promise.all(tenants.map((t) => strayCalls(h, t)));
    expect(await files(h.dir, 'log')).toEqual([]);
    expect(await files(h.dir, 'snapshots')).toEqual([]);
    expect(h.host.partitionsOwned).toBe(0);
    for (const t of tenants) expect(h.host.slotOf(t)).toBeNull();
    const text = await h.registry.metrics();
    expect(text).not.toContain('stray-');

    // A command that changes the tenant creates it, and only that tenant.
    const created = await h.send('real', { type: 'upsert_queue', queue: queueConfig('q1') });
    expect(created.ok).toBe(true);
    expect(await files(h.dir, 'log')).toHaveLength(1);
    expect(h.host.partitionsOwned).toBe(1);

    await h.stop();
    const again = await start({ dir: h.dir });
    expect(again.host.partitionsOwned).toBe(1);
    expect(again.host.slotOf('real')).not.toBeNull();
    for (const t of tenants) expect(again.host.slotOf(t)).toBeNull();
    const q = await again.host.query('real', { type: 'queue', queueId: 'q1' });
    expect(q.type === 'queue' && q.queue?.id).toBe('q1');
  });

  it('a refused first command answers what the new tenant would answer, then a creating one is applied once', async () => {
    const h = await start();
    const env = {
      id: 'first',
      at: Date.now(),
      cmd: { type: 'upsert_queue', queue: queueConfig('q1') },
    } as const;
    const r1 = await h.host.submit('fresh', env);
    expect(r1.ok).toBe(true);
    // The same request again is a repeat answered from the engine's memory (the probe did not apply it twice).
    const r2 = await h.host.submit('fresh', env);
    expect(r2.ok && r2.duplicate).toBe(true);
    expect(await files(h.dir, 'log')).toHaveLength(1);
  });

  it('stray calls are shed like any command when the node is at its in-flight limit (nothing reaches a worker)', async () => {
    const h = await start({ maxInflight: 0 });
    await expect(
      h.send('stray-busy', { type: 'set_presence', agentId: 'nobody', presence: 'online' }),
    ).rejects.toMatchObject({ code: 'SB_ERR_OVERLOADED' });
    expect(await files(h.dir, 'log')).toEqual([]);
  });
});

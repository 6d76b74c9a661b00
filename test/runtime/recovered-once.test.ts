/**
 * Commands found durable after their worker died are counted and published once: only the last logged
 * copy of an id can be the one the crash left unanswered. An earlier copy was released (counted, its
 * events published) before a retry with the same id was in flight.
 */
import { describe, expect, it } from 'vitest';
import { conversation } from '../../src/engine/fixtures.js';
import type { CommandEnvelope } from '../../src/engine/types.js';
import { billingDesk, hostsOfThisFile, retryWhileUnavailable } from './harness.js';

const host = hostsOfThisFile();
const enqEnv = (id: string, at: number): CommandEnvelope => ({
  id,
  at,
  cmd: { type: 'enqueue', conversation: conversation(id, { queueId: 'chat-billing' }) },
});
async function inbound(h: { registry: import('prom-client').Registry }): Promise<number> {
  const m = await h.registry.getSingleMetric('switchboard_conversations_inbound_total')?.get();
  return (m?.values ?? []).filter((v) => v.labels.queue === 'chat-billing').reduce((a, v) => a + v.value, 0);
}
async function assigned(h: { registry: import('prom-client').Registry }): Promise<number> {
  const m = await h.registry.getSingleMetric('switchboard_conversations_assigned_total')?.get();
  return (m?.values ?? []).reduce((a, v) => a + v.value, 0);
}

describe('commands recovered after a worker died vs. ones already released', () => {
  it('a retry (duplicate) of an acknowledged enqueue in flight when a bystander kills the thread', async () => {
    const h = await host({ pool: 'port', threads: 1 });
    await billingDesk(h, 'acme', 2);
    const events: string[] = [];
    h.host.subscribe({ tenant: 'acme' } as never, (e) => events.push(`${e.event.type}`));
    const T = Date.now();
    const acked = await h.host.submit('acme', enqEnv('conv-x', T));
    expect(acked.ok).toBe(true);
    expect(await inbound(h)).toBe(1);
    expect(await assigned(h)).toBe(1);
    const before = events.length;
    // The client retries conv-x (lost answer) in the same turn as another command that ends the thread.
    await h.host.injectBug('acme', 'conv-y', 'exit_once');
    const retry = h.host.submit('acme', enqEnv('conv-x', T + 1)).catch((e) => e.code);
    const y = h.host.submit('acme', enqEnv('conv-y', T + 2)).catch((e) => e.code);
    await Promise.all([retry, y]);
    await retryWhileUnavailable(() => h.digest('acme'));
    // conv-x entered once and was assigned once: the counters still say 1, and its assignment is not
    // published again (conv-y, the command the thread died on, was never applied).
    expect(events.slice(before).filter((t) => t === 'assigned')).toEqual([]);
    expect(await inbound(h)).toBe(1);
    expect(await assigned(h)).toBe(1);
  });

  it('the poison is the retry of an acknowledged original: the original is not counted again', async () => {
    const h = await host({ pool: 'port', threads: 1 });
    await billingDesk(h, 'acme', 2);
    const T = Date.now() + 1000;
    expect((await h.host.submit('acme', enqEnv('conv-x', T))).ok).toBe(true);
    expect(await inbound(h)).toBe(1);
    await h.host.injectBug('acme', 'conv-x', 'exit_once');
    await h.host.submit('acme', enqEnv('conv-x', T - 50)).catch((e) => e.code);
    await retryWhileUnavailable(() => h.digest('acme'));
    expect(await inbound(h)).toBe(1);
    expect(await assigned(h)).toBe(1);
  });
});

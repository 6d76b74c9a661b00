/**
 * An owner whose event loop runs late sheds new commands (retryable SB_ERR_OVERLOADED) instead of queueing
 * them, so its timers — lease renewal among them — stay on time; it serves again once the loop catches up.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { agentConfig, conversation, queueConfig } from '../../src/engine/fixtures.js';
import { type Harness, removeDir, startHost } from './harness.js';

const running: Harness[] = [];
afterAll(async () => {
  for (const h of running) {
    await h.crash().catch(() => undefined);
    await removeDir(h.dir);
  }
});

function block(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy: nothing else runs on this thread meanwhile
  }
}
const nextTimersPhase = () => new Promise((r) => setTimeout(r, 0));

describe('event-loop lag shedding', () => {
  it('refuses new commands while the loop is late and serves again once it has caught up', async () => {
    const h = await startHost({ maxLoopLagMs: 150 });
    running.push(h);
    await h.send('acme', { type: 'upsert_queue', queue: queueConfig('chat-billing') });
    await h.send('acme', { type: 'upsert_agent', agent: agentConfig('agent-1') });
    const before = await h.digest('acme');

    block(500);
    await nextTimersPhase();
    await expect(
      h.send('acme', { type: 'enqueue', conversation: conversation('late', { queueId: 'chat-billing' }) }),
    ).rejects.toMatchObject({ code: 'SB_ERR_OVERLOADED', message: /ms behind/ });
    expect(await h.digest('acme')).toBe(before);

    await new Promise((r) => setTimeout(r, 150));
    const r = await h.send('acme', {
      type: 'enqueue',
      conversation: conversation('on-time', { queueId: 'chat-billing' }),
    });
    expect(r.ok).toBe(true);
  });

  it('with the limit at 0 nothing is shed', async () => {
    const h = await startHost({ maxLoopLagMs: 0 });
    running.push(h);
    await h.send('acme', { type: 'upsert_queue', queue: queueConfig('chat-billing') });
    block(300);
    await nextTimersPhase();
    const r = await h.send('acme', { type: 'upsert_agent', agent: agentConfig('agent-1') });
    expect(r.ok).toBe(true);
  });
});

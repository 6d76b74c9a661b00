/**
 * An engine bug in the middle of a command (the engine halts: the command may be half-applied) must
 * neither leave the partition serving a damaged state nor take the tenant down: the host reloads it from
 * snapshot + log, the replay skips the halting command (= it was rejected), a snapshot seals that, and a
 * resubmission of that command is refused at once (not retryable) instead of halting the partition again.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { agentConfig, conversation, queueConfig } from '../../src/engine/fixtures.js';
import type { ApplyResult } from '../../src/engine/types.js';
import { collect } from '../support/contracts.js';
import { type Harness, removeDir, retryWhileUnavailable, startHost } from './harness.js';

const running: Harness[] = [];
afterAll(async () => {
  for (const h of running) {
    await h.crash().catch(() => undefined);
    await removeDir(h.dir);
  }
});

const enqueue = (h: Harness, id: string, conv: string) =>
  h.send('acme', { type: 'enqueue', conversation: conversation(conv, { queueId: 'chat-billing' }) }, id);

function code(s: PromiseSettledResult<ApplyResult>): string {
  if (s.status === 'rejected') return (s.reason as { code: string }).code;
  return s.value.ok ? 'ok' : s.value.error.code;
}

describe.each(['port', 'piscina', 'inline'] as const)('an engine bug mid-command (%s pool)', (pool) => {
  it('reloads the partition without the halting command; its retry is refused at once; nothing leaks', async () => {
    const h = await startHost({ pool, threads: 1 });
    running.push(h);
    await h.send('acme', { type: 'upsert_queue', queue: queueConfig('chat-billing') });
    for (const id of ['agent-1', 'agent-2']) {
      await h.send('acme', { type: 'upsert_agent', agent: agentConfig(id) });
      await h.send('acme', { type: 'set_presence', agentId: id, presence: 'online' });
    }
    await h.host.injectBug('acme', 'poison');

    // One batch: a good command before the poisoned one, one after it.
    const first = await Promise.allSettled([
      enqueue(h, 'before', 'conv-before'),
      enqueue(h, 'poison', 'conv-poison'),
      enqueue(h, 'after', 'conv-after'),
    ]);
    // The batch is answered "retry" (the partition reloads; none of it is lost or doubled), except the
    // command that halted it: a retry would be refused.
    expect(first.map(code)).toEqual([
      'SB_ERR_UNAVAILABLE',
      'SB_ERR_COMMAND_QUARANTINED',
      'SB_ERR_UNAVAILABLE',
    ]);

    // The poisoned command reached the log (appends run beside the apply), so the reload's replay
    // met it again and skipped it.
    const logged = (await collect(h.ports.log.read('acme', 0))).flatMap((b) => b.commands.map((c) => c.id));
    expect(logged).toContain('poison');

    const retried = await retryWhileUnavailable(() =>
      Promise.all([enqueue(h, 'before', 'conv-before'), enqueue(h, 'after', 'conv-after')]),
    );
    for (const r of retried) expect(r.ok && r.reply.kind === 'enqueued' && r.reply.status).toBe('assigned');
    await expect(enqueue(h, 'poison', 'conv-poison')).rejects.toMatchObject({
      code: 'SB_ERR_COMMAND_QUARANTINED',
    });

    // State: the poisoned conversation does not exist; the seat its half-run assignment took is free.
    const poisoned = await h.host.query('acme', { type: 'conversation', conversationId: 'conv-poison' });
    expect(poisoned.type === 'conversation' && poisoned.conversation).toBeFalsy();
    let open = 0;
    for (const agentId of ['agent-1', 'agent-2']) {
      const s = await h.host.query('acme', { type: 'agent_stats', agentId });
      open += s.type === 'agent_stats' ? (s.stats?.open ?? 0) : 0;
    }
    expect(open).toBe(2);
    // A fresh conversation now queues (both agents busy), exactly as if the poison never came.
    const next = await enqueue(h, 'next', 'conv-next');
    expect(next.ok && next.reply.kind === 'enqueued' && next.reply.status).toBe('queued');
    const digest = await h.digest('acme');

    // Sealed: a restart (no quarantine, no injected bug: as after a fix of the engine) replays the log
    // without the poison, to the state whose answers were given.
    await h.crash();
    const again = await startHost({ pool, threads: 1, dir: h.dir });
    running.push(again);
    expect(await again.digest('acme')).toBe(digest);
    const gone = await again.host.query('acme', { type: 'conversation', conversationId: 'conv-poison' });
    expect(gone.type === 'conversation' && gone.conversation).toBeFalsy();
  });
});

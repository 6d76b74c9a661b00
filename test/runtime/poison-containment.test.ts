/**
 * Poison containment must never cost an acknowledged command, and `SB_ERR_COMMAND_QUARANTINED` ("it
 * changed nothing") must stay true forever: only answered once the seal that leaves the command out of
 * every later replay is durable (or once the command is known not to be in the log at all).
 */
import { describe, expect, it } from 'vitest';
import { conversation } from '../../src/engine/fixtures.js';
import type { ApplyResult, CommandEnvelope } from '../../src/engine/types.js';
import { billingDesk, type Harness, hostsOfThisFile, retryWhileUnavailable } from './harness.js';

const host = hostsOfThisFile();
const desk = billingDesk;
const enqEnv = (id: string, at: number): CommandEnvelope => ({
  id,
  at,
  cmd: { type: 'enqueue', conversation: conversation(id, { queueId: 'chat-billing' }) },
});
async function exists(h: Harness, tenant: string, conversationId: string): Promise<boolean> {
  const r = await retryWhileUnavailable(() => h.host.query(tenant, { type: 'conversation', conversationId }));
  return r.type === 'conversation' && !!r.conversation;
}
async function code(p: Promise<ApplyResult>): Promise<string> {
  try {
    const r = await p;
    return r.ok ? 'ok' : r.error.code;
  } catch (e) {
    return (e as { code: string }).code;
  }
}

describe('poison containment: (id, at) collision with an acknowledged original', () => {
  it('a poison retry stamped with the same at as its acknowledged original leaves the original in the replay', async () => {
    const h = await host({ pool: 'port', threads: 1 });
    await desk(h, 'acme', 2);
    const T = Date.now() + 1000; // the stamping node's clock ahead
    const acked = await h.host.submit('acme', enqEnv('conv-x', T));
    expect(acked.ok).toBe(true);
    // The retry is stamped by a node whose clock is behind: clamped to the partition's lastAt = T.
    // The thread dies while the retry is in flight (for a reason that does not recur: 'exit_once').
    await h.host.injectBug('acme', 'conv-x', 'exit_once');
    expect(await code(h.host.submit('acme', enqEnv('conv-x', T - 50)))).toBe('SB_ERR_COMMAND_QUARANTINED');
    await retryWhileUnavailable(() => h.digest('acme'));
    expect(await exists(h, 'acme', 'conv-x')).toBe(true);
    await h.crash();
    const again = await host({ pool: 'port', threads: 1, dir: h.dir });
    expect(await exists(again, 'acme', 'conv-x')).toBe(true); // acknowledged: must exist
  });
});

describe('poison containment: an engine that halts on an acknowledged command during a replay', () => {
  it('holds the partition (retryable UNAVAILABLE) instead of sealing the command away', async () => {
    const first = await host({ pool: 'port', threads: 1 });
    await desk(first, 'acme', 2);
    const acked = await first.host.submit('acme', enqEnv('conv-x', Date.now()));
    expect(acked.ok).toBe(true);
    const ackedDigest = await first.digest('acme');
    await first.crash();
    // A new engine build with a regression on that (old, acknowledged) command.
    const buggy = await host({
      pool: 'port',
      threads: 1,
      dir: first.dir,
      bugs: [{ commandId: 'conv-x', how: 'halt' }],
    });
    const q = await buggy.host.query('acme', { type: 'digest' }).then(
      () => 'served',
      (e: { code: string; message: string }) => `${e.code} ${e.message}`,
    );
    expect(q).toMatch(/^SB_ERR_UNAVAILABLE .*held/);
    expect(await code(buggy.host.submit('acme', enqEnv('conv-y', Date.now())))).toBe('SB_ERR_UNAVAILABLE');
    await buggy.crash();
    // The engine build rolled back: everything acknowledged is still there.
    const fixed = await host({ pool: 'port', threads: 1, dir: first.dir });
    expect(await retryWhileUnavailable(() => fixed.digest('acme'))).toBe(ackedDigest);
    expect(await exists(fixed, 'acme', 'conv-x')).toBe(true);
  });
});

describe('poison containment: QUARANTINED only once the seal is durable', () => {
  it('a seal that never lands answers the poison retryable UNAVAILABLE, and a restart may apply it', async () => {
    const h = await host({ pool: 'port', threads: 1 });
    await desk(h, 'acme', 2);
    // The seal never completes (the snapshot store hangs; the node dies during it).
    h.ports.snapshots.save = () => new Promise(() => {});
    await h.host.injectBug('acme', 'conv-poison', 'exit');
    const answer = Promise.race([
      code(h.host.submit('acme', enqEnv('conv-poison', Date.now()))),
      new Promise<string>((r) => setTimeout(() => r('still waiting'), 500)),
    ]);
    // Not "changed nothing" while nothing makes it true yet.
    expect(await answer).toBe('still waiting');
    await h.crash();
    // The thread's death was not deterministic (e.g. heap exhaustion): no bug on restart.
    const again = await host({ pool: 'port', threads: 1, dir: h.dir });
    // The command is replayed here: fine, since its caller was never told it changed nothing.
    expect(await exists(again, 'acme', 'conv-poison')).toBe(true);
  });

  it('answers QUARANTINED once the seal is saved, and a restart does not apply it', async () => {
    const h = await host({ pool: 'port', threads: 1 });
    await desk(h, 'acme', 2);
    let saves = 0;
    const realSave = h.ports.snapshots.save.bind(h.ports.snapshots);
    h.ports.snapshots.save = async (s) => {
      await new Promise((r) => setTimeout(r, 100));
      await realSave(s);
      saves++;
    };
    await h.host.injectBug('acme', 'conv-poison', 'exit');
    const c = await code(h.host.submit('acme', enqEnv('conv-poison', Date.now())));
    expect(c).toBe('SB_ERR_COMMAND_QUARANTINED');
    expect(saves).toBeGreaterThanOrEqual(1); // answered after the seal landed
    await h.crash();
    const again = await host({ pool: 'port', threads: 1, dir: h.dir });
    expect(await exists(again, 'acme', 'conv-poison')).toBe(false);
  });

  it('a seal that fails answers the poison retryable UNAVAILABLE', async () => {
    const h = await host({ pool: 'port', threads: 1 });
    await desk(h, 'acme', 2);
    const realSave = h.ports.snapshots.save.bind(h.ports.snapshots);
    let failing = true;
    h.ports.snapshots.save = async (s) => {
      if (failing) throw new Error('snapshot store down');
      await realSave(s);
    };
    await h.host.injectBug('acme', 'conv-poison', 'exit');
    expect(await code(h.host.submit('acme', enqEnv('conv-poison', Date.now())))).toBe('SB_ERR_UNAVAILABLE');
    failing = false;
  });
});

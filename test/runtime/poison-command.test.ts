/**
 * A command that ends its worker thread (out of memory, a native abort: here the test hook's injected
 * `exit` bug, which ends the thread in the middle of applying it, every time, on every thread) must cost
 * one thread, once: the host learns from the thread's progress cells which command it died on,
 * quarantines it, reloads the thread's partitions without it (its append ran beside the apply, so it is
 * in the log), seals that with a snapshot, and refuses its retries with a non-retryable error instead of
 * handing them to the fresh thread. Nothing acknowledged is lost, and partitions elsewhere keep serving.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createEmbeddedPorts } from '../../src/cluster/index.js';
import { conversation } from '../../src/engine/fixtures.js';
import type { ApplyResult } from '../../src/engine/types.js';
import { collect } from '../support/contracts.js';
import { billingDesk, type Harness, hostsOfThisFile, retryWhileUnavailable } from './harness.js';

const host = hostsOfThisFile();
const desk = billingDesk;

const enqueue = (h: Harness, tenant: string, id: string) =>
  h.send(tenant, { type: 'enqueue', conversation: conversation(id, { queueId: 'chat-billing' }) }, id);

function code(s: PromiseSettledResult<ApplyResult>): string {
  if (s.status === 'rejected') return (s.reason as { code: string }).code;
  return s.value.ok ? 'ok' : s.value.error.code;
}

async function exists(h: Harness, tenant: string, conversationId: string): Promise<boolean> {
  const r = await h.host.query(tenant, { type: 'conversation', conversationId });
  return r.type === 'conversation' && !!r.conversation;
}

async function poisonCount(h: Harness, reason: string): Promise<number> {
  const m = await h.registry.getSingleMetric('switchboard_poison_total')?.get();
  return m?.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

const loggedIds = async (h: Harness, tenant: string) =>
  (await collect(h.ports.log.read(tenant, 0))).flatMap((b) => b.commands.map((c) => c.id));

describe.each(['port', 'piscina'] as const)('a command that ends its worker thread (%s pool)', (pool) => {
  it('costs one thread: other partitions keep serving, its retry is refused without another crash, and the restored state is the acknowledged one, after a restart too', async () => {
    // Slot 0 hosts acme and initech, slot 1 globex.
    const h = await host({ pool, threads: 2 });
    for (const [t, agents] of [
      ['acme', 2],
      ['globex', 1],
      ['initech', 1],
    ] as const)
      await desk(h, t, agents);
    expect([h.host.slotOf('acme'), h.host.slotOf('globex'), h.host.slotOf('initech')]).toEqual([0, 1, 0]);
    const acked = await enqueue(h, 'acme', 'conv-acked');
    expect(acked.ok && acked.reply.kind === 'enqueued' && acked.reply.status).toBe('assigned');
    const before = await h.digest('acme');
    await h.host.injectBug('acme', 'conv-poison', 'exit');

    // The poison, and a neighbour's command on the same thread in the same turn.
    const [poison, neighbour] = await Promise.allSettled([
      enqueue(h, 'acme', 'conv-poison'),
      enqueue(h, 'initech', 'conv-i1'),
    ]);
    // The command the thread died on is told at once that a retry will not help; the neighbour: retry.
    expect(code(poison as PromiseSettledResult<ApplyResult>)).toBe('SB_ERR_COMMAND_QUARANTINED');
    expect(['ok', 'SB_ERR_UNAVAILABLE']).toContain(code(neighbour as PromiseSettledResult<ApplyResult>));
    // Its append ran beside the apply: it is in the log, and the reload's replay had to leave it out.
    expect(await loggedIds(h, 'acme')).toContain('conv-poison');

    // The gateway retries it (same conversation id), again and again: refused, no thread dies again.
    for (let i = 0; i < 5; i++) {
      await expect(enqueue(h, 'acme', 'conv-poison')).rejects.toMatchObject({
        code: 'SB_ERR_COMMAND_QUARANTINED',
      });
    }
    // Every partition serves: the neighbour on the dead thread after its reload, the other thread throughout.
    const ok = (r: ApplyResult) => r.ok && r.reply.kind === 'enqueued' && r.reply.status;
    expect(ok(await retryWhileUnavailable(() => enqueue(h, 'initech', 'conv-i1')))).toBe('assigned');
    expect(ok(await enqueue(h, 'globex', 'conv-g1'))).toBe('assigned');
    expect(await retryWhileUnavailable(() => h.digest('acme'))).toBe(before);
    expect(await exists(h, 'acme', 'conv-acked')).toBe(true);
    expect(await exists(h, 'acme', 'conv-poison')).toBe(false);
    await expect(enqueue(h, 'acme', 'conv-poison')).rejects.toMatchObject({
      code: 'SB_ERR_COMMAND_QUARANTINED',
    });
    expect(h.pool.restarts).toBe(1);
    expect(await poisonCount(h, 'worker_exit')).toBe(1);
    // The partition serves on: the free agent takes the next conversation.
    expect(ok(await enqueue(h, 'acme', 'conv-next'))).toBe('assigned');
    const afterNext = await h.digest('acme');

    // Like kill -9, then a restart that knows nothing of the poison (no quarantine, no injected bug):
    // the seal keeps it out of the replay, so the state is exactly what was acknowledged.
    await h.crash();
    const again = await host({ pool, threads: 2, dir: h.dir });
    expect(await again.digest('acme')).toBe(afterNext);
    expect(await exists(again, 'acme', 'conv-poison')).toBe(false);
    expect(again.pool.restarts).toBe(0);
  });
});

describe('a worker-killing command among others', () => {
  it('only the poison is refused: the commands beside it are answered "retry", and their retries are idempotent', async () => {
    const h = await host({ pool: 'port', threads: 1 });
    await desk(h, 'acme', 2);
    await h.host.injectBug('acme', 'conv-poison', 'exit');
    // One batch: a command applied before the thread died, the poison, one never applied.
    const first = await Promise.allSettled([
      enqueue(h, 'acme', 'conv-before'),
      enqueue(h, 'acme', 'conv-poison'),
      enqueue(h, 'acme', 'conv-after'),
    ]);
    expect(first.map(code)).toEqual([
      'SB_ERR_UNAVAILABLE',
      'SB_ERR_COMMAND_QUARANTINED',
      'SB_ERR_UNAVAILABLE',
    ]);
    const retried = await retryWhileUnavailable(() =>
      Promise.all([enqueue(h, 'acme', 'conv-before'), enqueue(h, 'acme', 'conv-after')]),
    );
    for (const r of retried) expect(r.ok && r.reply.kind === 'enqueued' && r.reply.status).toBe('assigned');
    await expect(enqueue(h, 'acme', 'conv-poison')).rejects.toMatchObject({
      code: 'SB_ERR_COMMAND_QUARANTINED',
    });
    // Once each: the retries were answered from memory, not assigned again.
    const stats = await h.host.query('acme', { type: 'queue_stats', queueId: 'chat-billing' });
    expect(stats.type === 'queue_stats' && stats.stats?.waiting).toBe(0);
    let open = 0;
    for (const agentId of ['agent-1', 'agent-2']) {
      const s = await h.host.query('acme', { type: 'agent_stats', agentId });
      open += s.type === 'agent_stats' ? (s.stats?.open ?? 0) : 0;
    }
    expect(open).toBe(2);
    expect(await exists(h, 'acme', 'conv-poison')).toBe(false);
    expect(h.pool.restarts).toBe(1);
  });
});

describe('a node restarting over a log whose replay ends every thread', () => {
  it('never leaves the logged command out (it may have been acknowledged): the partition is held after three threads, the others serve', async () => {
    // A node acknowledged some work and died (kill -9) right after the poison's append landed, before
    // it could seal. A fresh node cannot tell that command from an acknowledged one a replay dies on
    // (a partition grown past the thread's memory), so it must not drop it.
    const first = await host({ pool: 'port', threads: 1 });
    await desk(first, 'acme', 1);
    await desk(first, 'globex', 1);
    await first.crash();
    const ports = await createEmbeddedPorts({ dataDir: first.dir, nodeId: 'test-node', fsync: 'interval' });
    const poison = {
      id: 'conv-poison',
      at: Date.now(),
      cmd: {
        type: 'enqueue' as const,
        conversation: conversation('conv-poison', { queueId: 'chat-billing' }),
      },
    };
    await ports.log.append('acme', [poison], await ports.log.lastSeq('acme'));
    await ports.close();

    // The restarted node's threads all die on that command (a deterministic bug).
    const h = await host({
      pool: 'port',
      threads: 1,
      dir: first.dir,
      bugs: [{ commandId: 'conv-poison', how: 'exit' }],
    });
    for (let i = 0; i < 20 && h.pool.restarts < 3; i++) await h.digest('acme').catch(() => undefined);
    expect(h.pool.restarts).toBe(3);
    await expect(h.digest('acme')).rejects.toMatchObject({
      code: 'SB_ERR_UNAVAILABLE',
      message: expect.stringContaining('held until'),
    });
    const g = await retryWhileUnavailable(() => enqueue(h, 'globex', 'conv-g1'));
    expect(g.ok && g.reply.kind === 'enqueued' && g.reply.status).toBe('assigned');
    expect(h.pool.restarts).toBe(3);
    expect(await poisonCount(h, 'worker_exit')).toBe(0);
    expect(await poisonCount(h, 'partition_held')).toBe(1);
    // Nothing was sealed over it: the command is still where the log had it, for a fixed engine.
    await h.crash();
    const fixed = await host({ pool: 'port', threads: 1, dir: first.dir });
    expect(await exists(fixed, 'acme', 'conv-poison')).toBe(true);
  });
});

describe('a partition whose commands keep ending worker threads', () => {
  it('is held after three threads, so its next poison cannot end a fourth; its neighbours keep serving', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(l) });
    const h = await host({ pool: 'port', threads: 1, logger });
    await desk(h, 'acme', 1);
    await desk(h, 'initech', 1);
    // Three different commands that each end the thread (a state-dependent bug no id pins down).
    for (const id of ['p1', 'p2', 'p3', 'p4']) await h.host.injectBugEverywhere(id, 'exit');
    for (const [i, id] of ['p1', 'p2', 'p3'].entries()) {
      await retryWhileUnavailable(() => h.digest('acme'));
      // The third death holds the partition, so no reload seals that poison out of the log: its caller
      // is told "retry" (UNAVAILABLE), never "it changed nothing" (QUARANTINED) while that is not yet true.
      await expect(enqueue(h, 'acme', id)).rejects.toMatchObject({
        code: i < 2 ? 'SB_ERR_COMMAND_QUARANTINED' : 'SB_ERR_UNAVAILABLE',
      });
      expect(h.pool.restarts).toBe(i + 1);
    }
    // Held: refused as unavailable without a load, so the fourth never reaches a thread.
    await expect(enqueue(h, 'acme', 'p4')).rejects.toMatchObject({
      code: 'SB_ERR_UNAVAILABLE',
      message: expect.stringContaining('held until'),
    });
    await expect(h.digest('acme')).rejects.toMatchObject({ code: 'SB_ERR_UNAVAILABLE' });
    const r = await retryWhileUnavailable(() => enqueue(h, 'initech', 'conv-i1'));
    expect(r.ok && r.reply.kind === 'enqueued' && r.reply.status).toBe('assigned');
    expect(h.pool.restarts).toBe(3);
    expect(await poisonCount(h, 'worker_exit')).toBe(3);
    expect(await poisonCount(h, 'partition_held')).toBe(1);
    // The condition in force, for an alert that stays on while it lasts: one partition held.
    const held = await h.registry.getSingleMetric('switchboard_partitions_held')?.get();
    expect(held?.values.map((v) => v.value)).toEqual([1]);
    // A gateway retrying the held tenant costs no error line per call (the hold was logged once).
    const before = lines.length;
    for (let i = 0; i < 20; i++)
      await expect(h.digest('acme')).rejects.toMatchObject({ code: 'SB_ERR_UNAVAILABLE' });
    expect(lines.slice(before).filter((l) => l.includes('partition could not be loaded'))).toEqual([]);
  });
});

describe.each(['port', 'piscina'] as const)('a thread that runs out of memory (%s pool)', (pool) => {
  it('blames no command: the one it was applying is replayed, not quarantined, and the partition is held once the replays keep ending threads; its neighbour serves', async () => {
    // Slot 0 hosts acme, slot 1 globex; a heap limit makes the injected allocation end the thread fast.
    const h = await host({ pool, threads: 2, workerHeapMb: 48 });
    await desk(h, 'acme', 2);
    await desk(h, 'globex', 1);
    expect([h.host.slotOf('acme'), h.host.slotOf('globex')]).toEqual([0, 1]);
    const acked = await enqueue(h, 'acme', 'conv-acked');
    expect(acked.ok).toBe(true);
    await h.host.injectBug('acme', 'conv-oom', 'oom');

    // Whatever filled the heap, the command the thread was on is no more to blame than any other: the
    // caller is told "retry", never "it changed nothing" (the command is in the log and stays there).
    const [oom] = await Promise.allSettled([enqueue(h, 'acme', 'conv-oom')]);
    expect(code(oom as PromiseSettledResult<ApplyResult>)).toBe('SB_ERR_UNAVAILABLE');
    expect(await loggedIds(h, 'acme')).toContain('conv-oom');
    expect(await poisonCount(h, 'worker_exit')).toBe(0);
    expect(h.pool.restarts).toBe(1);
    // Each reload (here on a read) replays it and runs out of memory again, blaming nothing; the third
    // death holds acme.
    for (const deaths of [2, 3]) {
      await expect(h.digest('acme')).rejects.toMatchObject({ code: 'SB_ERR_UNAVAILABLE' });
      expect(h.pool.restarts).toBe(deaths);
    }
    expect(await poisonCount(h, 'partition_held')).toBe(1);
    expect(await poisonCount(h, 'worker_exit')).toBe(0);
    await expect(enqueue(h, 'acme', 'conv-oom')).rejects.toMatchObject({ code: 'SB_ERR_UNAVAILABLE' });
    const r = await enqueue(h, 'globex', 'conv-g1');
    expect(r.ok && r.reply.kind === 'enqueued' && r.reply.status).toBe('assigned');
  });
});

import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentConfig, conversation, queueConfig } from '../../src/engine/fixtures.js';
import type { ApplyResult, EngineEvent } from '../../src/engine/types.js';
import type { PublishedEvent } from '../../src/host/router.js';
import { collect } from '../support/contracts.js';
import { waitFor } from '../support/wait-for.js';
import { billingDesk, type Harness, hostsOfThisFile, retryWhileUnavailable } from './harness.js';

const hostOn = hostsOfThisFile();

const enqueue = (h: Harness, tenant: string, id: string) =>
  h.send(tenant, { type: 'enqueue', conversation: conversation(id, { queueId: 'chat-billing' }) });

const host = hostOn;

const retry = <T>(fn: () => Promise<T>) => retryWhileUnavailable(fn, 100);

function status(r: ApplyResult): string {
  if (!r.ok) return r.error.code;
  return r.reply.kind === 'enqueued' ? r.reply.status : r.reply.kind;
}

// The inline pool runs the same actors on the main thread: everything here must hold for it too.
describe.each(['port', 'inline'] as const)('actor host (%s pool)', (pool) => {
  const host = (opts: Parameters<typeof hostOn>[0] = {}) => hostOn({ pool, ...opts });
  it('a paged listing comes back from the partition as the page alone, with where the next one starts', async () => {
    const h = await host();
    await billingDesk(h, 'acme', 5);
    const first = await h.host.query('acme', { type: 'list_agents', limit: 2 });
    expect(first).toMatchObject({
      agents: [{ id: 'agent-1' }, { id: 'agent-2' }],
      next: 'agent-2',
      total: 5,
    });
    expect(first.type === 'list_agents' && first.agents).toHaveLength(2);
    const last = await h.host.query('acme', { type: 'all_agent_stats', limit: 2, after: 'agent-3' });
    expect(last).toEqual({
      type: 'all_agent_stats',
      stats: [
        expect.objectContaining({ agentId: 'agent-4' }),
        expect.objectContaining({ agentId: 'agent-5' }),
      ],
      total: 5,
    });
    await h.stop();
  });

  it('a conversation is assigned, the answer comes only once durable, and the event reaches subscribers', async () => {
    const h = await host();
    await billingDesk(h, 'acme', 1);
    const seen: PublishedEvent[] = [];
    const unsubscribe = h.host.subscribe({ tenant: 'acme', queueId: 'chat-billing' }, (e) => seen.push(e));
    const r = await enqueue(h, 'acme', 'conv-1');
    expect(r.ok && r.reply.kind === 'enqueued' && r.reply.agentName).toBe('Agent 1');
    const logged = await collect(h.ports.log.read('acme', 0));
    const last = logged.at(-1);
    expect(last?.commands.some((c) => c.cmd.type === 'enqueue')).toBe(true);
    expect(seen.map((e) => e.event.type)).toEqual(['assigned']);
    expect(seen[0]?.seq).toBe(last?.seq);
    unsubscribe();
  });

  it('subscribers only see their own tenant and filter', async () => {
    const h = await host();
    await billingDesk(h, 'acme', 1);
    await billingDesk(h, 'globex', 1);
    const acmeAgent: EngineEvent[] = [];
    const globex: EngineEvent[] = [];
    h.host.subscribe({ tenant: 'acme', agentId: 'agent-1', types: ['assigned'] }, (e) =>
      acmeAgent.push(e.event),
    );
    h.host.subscribe({ tenant: 'globex' }, (e) => globex.push(e.event));
    await enqueue(h, 'acme', 'conv-a');
    await enqueue(h, 'acme', 'conv-b');
    expect(acmeAgent.map((e) => e.type)).toEqual(['assigned']);
    expect(globex).toEqual([]);
  });

  it('every command of a tenant reaches the one worker hosting it, tenants spread over workers', async () => {
    const h = await host({ threads: 2 });
    await billingDesk(h, 'acme', 2);
    await billingDesk(h, 'globex', 2);
    const a = h.host.slotOf('acme');
    const g = h.host.slotOf('globex');
    expect(new Set([a, g])).toEqual(new Set([0, 1]));
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => enqueue(h, i % 2 ? 'acme' : 'globex', `conv-${i}`)),
    );
    // Two agents per tenant: if a command had reached a worker without the tenant's state it would fail.
    expect(results.filter((r) => status(r) === 'assigned').length).toBe(4);
    expect(results.filter((r) => status(r) === 'queued').length).toBe(36);
    expect(h.host.slotOf('acme')).toBe(a);
  });

  it('a burst of conversations crosses the thread hop and the log in batches, in arrival order', async () => {
    const h = await host();
    await billingDesk(h, 'acme', 1);
    let calls = 0;
    const call = h.pool.call.bind(h.pool);
    h.pool.call = (slot, req) => {
      calls++;
      return call(slot, req);
    };
    const before = (await h.ports.log.lastSeq('acme')) as number;
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => enqueue(h, 'acme', `conv-${i}`)));
    const appends = (await h.ports.log.lastSeq('acme')) - before;
    expect(calls).toBeLessThan(30);
    expect(appends).toBeLessThan(30);
    const positions = results.map((r) =>
      r.ok && r.reply.kind === 'enqueued' ? (r.reply.position ?? 0) : -1,
    );
    expect(positions.slice(1)).toEqual(Array.from({ length: 299 }, (_, i) => i + 1));
  });

  it('with two batches in flight per worker (pipelined) conversations still queue in arrival order', async () => {
    const h = await host({ callsPerSlot: 2, threads: 2 });
    await billingDesk(h, 'acme', 1);
    const results: Promise<ApplyResult>[] = [];
    for (let i = 0; i < 200; i++) {
      results.push(enqueue(h, 'acme', `conv-${i}`));
      // Spread submissions over event-loop turns so several batches are in flight at once.
      if (i % 10 === 9) await new Promise((r) => setImmediate(r));
    }
    const positions = (await Promise.all(results)).map((r) =>
      r.ok && r.reply.kind === 'enqueued' ? (r.reply.position ?? 0) : -1,
    );
    expect(positions.slice(1)).toEqual(Array.from({ length: 199 }, (_, i) => i + 1));
  });

  it('an overloaded node answers SB_ERR_OVERLOADED instead of queueing without bound, then recovers', async () => {
    const h = await host({ maxInflight: 50, maxInflightPerTenant: 50 });
    await billingDesk(h, 'acme', 1);
    const settled = await Promise.allSettled(
      Array.from({ length: 200 }, (_, i) => enqueue(h, 'acme', `conv-${i}`)),
    );
    const rejected = settled.filter((s) => s.status === 'rejected') as PromiseRejectedResult[];
    expect(settled.filter((s) => s.status === 'fulfilled').length).toBe(50);
    expect(rejected.length).toBe(150);
    expect(rejected.every((r) => r.reason.code === 'SB_ERR_OVERLOADED')).toBe(true);
    expect(h.host.inflightCount).toBe(0);
    expect(status(await enqueue(h, 'acme', 'conv-after'))).toBe('queued');
  });

  it('a tenant at its own in-flight limit is refused while another tenant on the node still gets in', async () => {
    const h = await host({ maxInflight: 200, maxInflightPerTenant: 40 });
    await billingDesk(h, 'flood', 1);
    await billingDesk(h, 'quiet', 1);
    const flood = Array.from({ length: 150 }, (_, i) => enqueue(h, 'flood', `f-${i}`));
    // Submitted in the same turn as the flood: without the per-tenant limit the flood would hold 150 of
    // the node's 200 slots and these would still fit, so the check is on the tenant's count, not the node's.
    const quiet = Array.from({ length: 30 }, (_, i) => enqueue(h, 'quiet', `q-${i}`));
    const floodSettled = await Promise.allSettled(flood);
    const refused = floodSettled.filter((s) => s.status === 'rejected') as PromiseRejectedResult[];
    expect(floodSettled.length - refused.length).toBe(40);
    expect(refused.every((r) => r.reason.code === 'SB_ERR_OVERLOADED')).toBe(true);
    expect(String(refused[0]?.reason.message)).toMatch(
      /tenant flood has 40 commands in flight \(at most 40 per tenant\)/,
    );
    expect(
      (await Promise.all(quiet)).map(status).filter((s) => s === 'assigned' || s === 'queued').length,
    ).toBe(30);
    expect(h.host.inflightCount).toBe(0);
    const refusedCount = (await h.registry.getSingleMetric('switchboard_tenant_overloaded_total')?.get())
      ?.values;
    // Each tenant's series starts at 0 when its partition loads, so `increase()` sees the first refusal.
    expect(refusedCount).toEqual(
      expect.arrayContaining([
        { value: 110, labels: { tenant: 'flood' } },
        { value: 0, labels: { tenant: 'quiet' } },
      ]),
    );
    expect(refusedCount).toHaveLength(2);
    expect(status(await enqueue(h, 'flood', 'f-after'))).toBe('queued');
  });

  it('a deadline that passes before the command is durable rejects with SB_ERR_DEADLINE_EXCEEDED', async () => {
    const h = await host();
    await billingDesk(h, 'acme', 1);
    // A slow disk: the append takes longer than the caller is willing to wait.
    const append = h.ports.log.append.bind(h.ports.log);
    h.ports.log.append = async (p, c, e) => {
      await new Promise((r) => setTimeout(r, 100));
      return append(p, c, e);
    };
    const env = {
      id: 'late-1',
      at: Date.now(),
      cmd: { type: 'enqueue' as const, conversation: conversation('late') },
    };
    await expect(h.host.submit('acme', env, 10)).rejects.toMatchObject({ code: 'SB_ERR_DEADLINE_EXCEEDED' });
  });

  it('an offer nobody accepts times out through a logged tick and goes to the next agent', async () => {
    const h = await host();
    await h.send('acme', {
      type: 'upsert_queue',
      queue: queueConfig('chat-billing', { offerTimeoutSeconds: 1 }),
    });
    for (const id of ['agent-1', 'agent-2']) {
      await h.send('acme', { type: 'upsert_agent', agent: agentConfig(id) });
      await h.send('acme', { type: 'set_presence', agentId: id, presence: 'online' });
    }
    const missed = new Promise<PublishedEvent>((resolve) =>
      h.host.subscribe({ tenant: 'acme', types: ['offer_missed'] }, resolve),
    );
    const r = await enqueue(h, 'acme', 'conv-1');
    expect(status(r)).toBe('offered');
    const e = await missed;
    expect(e.event).toMatchObject({ type: 'offer_missed', reason: 'timeout', conversationId: 'conv-1' });
    const ticks = (await collect(h.ports.log.read('acme', 0)))
      .flatMap((b) => b.commands)
      .filter((c) => c.cmd.type === 'tick');
    expect(ticks.length).toBeGreaterThan(0);
  });
});

describe.each(['port', 'piscina'] as const)('worker crash recovery (%s pool)', (pool) => {
  // 'exit' kills the thread while it holds the crash message; 'throw' answers it, then dies of an
  // uncaught exception on the thread's next loop turn.
  it.each(['exit', 'throw'] as const)(
    'a worker that dies (%s) loses no acknowledged work: its tenants come back on a fresh thread',
    async (how) => {
      const h = await host({ pool, threads: 2 });
      await billingDesk(h, 'acme', 2);
      for (let i = 0; i < 5; i++) await enqueue(h, 'acme', `conv-${i}`);
      const before = await h.digest('acme');
      await h.host.crashWorkerOf('acme', how);
      await waitFor(() => h.pool.restarts > 0, { what: 'the crashed worker to be replaced' });
      // Calls during the reload get a retryable SB_ERR_UNAVAILABLE; a retry succeeds once it is back.
      expect(await retry(() => h.digest('acme'))).toBe(before);
      expect(status(await retry(() => enqueue(h, 'acme', 'conv-after-crash')))).toBe('queued');
      expect(h.pool.restarts).toBe(1);
      expect(await h.registry.getSingleMetricAsString('switchboard_worker_restarts_total')).toMatch(/ 1$/m);
    },
  );

  it('commands in flight when the worker dies are rejected as retryable, and a retry is idempotent', async () => {
    const h = await host({ pool, threads: 1 });
    await billingDesk(h, 'acme', 1);
    // The crash and the enqueues travel in one message and 'exit' ends the thread on the crash item,
    // so the enqueues are in flight, unanswered, when it dies. ('throw' would answer them first.)
    const crash = h.host.crashWorkerOf('acme', 'exit');
    const inflight = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => enqueue(h, 'acme', `conv-${i}`)),
    );
    await crash;
    // The crash really happened: the thread was replaced once and the commands it held were refused.
    await waitFor(() => h.pool.restarts > 0, { what: 'the crashed worker to be replaced' });
    expect(h.pool.restarts).toBe(1);
    const rejected = inflight.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
    expect(rejected.length).toBeGreaterThan(0);
    for (const s of rejected) expect(s.reason.code).toBe('SB_ERR_UNAVAILABLE');
    // Retrying with the same ids: each conversation exists exactly once.
    const results = await waitFor(
      async () => {
        const s = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) => enqueue(h, 'acme', `conv-${i}`)),
        );
        return s.every((x) => x.status === 'fulfilled')
          ? s.map((x) => (x as PromiseFulfilledResult<ApplyResult>).value)
          : null;
      },
      { what: 'every retried enqueue to be answered after the reload', intervalMs: 50 },
    );
    expect(results.length).toBe(20);
    const stats = await retry(() => h.host.query('acme', { type: 'queue_stats', queueId: 'chat-billing' }));
    expect(stats.type === 'queue_stats' && stats.stats?.waiting).toBe(19);
  });
  it('the events of commands made durable just before the worker died are still published', async () => {
    const h = await host({ pool, threads: 1 });
    await billingDesk(h, 'acme', 1);
    const seen = new Map<string, string>();
    h.host.subscribe({ tenant: 'acme' }, (e) => {
      const ev = e.event as { conversationId?: string };
      if (ev.conversationId) seen.set(ev.conversationId, e.event.type);
    });
    // The crash and the enqueues travel in one batch: the thread dies before answering any of them,
    // while the main thread has already made them durable.
    const crash = h.host.crashWorkerOf('acme', 'exit');
    const settled = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => enqueue(h, 'acme', `conv-${i}`)),
    );
    await crash;
    // The crash really happened: the thread was replaced and the commands it held were refused.
    await waitFor(() => h.pool.restarts > 0, { what: 'the crashed worker to be replaced' });
    expect(h.pool.restarts).toBe(1);
    expect(settled.some((s) => s.status === 'rejected')).toBe(true);
    await retry(() => h.digest('acme'));
    const existing: string[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await retry(() =>
        h.host.query('acme', { type: 'conversation', conversationId: `conv-${i}` }),
      );
      if (r.type === 'conversation' && r.conversation) existing.push(`conv-${i}`);
    }
    const answered = settled.filter((s) => s.status === 'fulfilled').length;
    expect(existing.length).toBeGreaterThanOrEqual(answered);
    expect([...seen.keys()].sort()).toEqual(existing.sort());
  });

  it('conversations made durable just before the worker died count as inbound, like the ones answered', async () => {
    const h = await host({ pool, threads: 1 });
    await billingDesk(h, 'acme', 1);
    // As above: the enqueues are durable, their worker dies before answering; the reload finds them.
    const crash = h.host.crashWorkerOf('acme', 'exit');
    await Promise.allSettled(Array.from({ length: 10 }, (_, i) => enqueue(h, 'acme', `conv-${i}`)));
    await crash;
    await retry(() => h.digest('acme'));
    const stats = await retry(() => h.host.query('acme', { type: 'queue_stats', queueId: 'chat-billing' }));
    const figures = stats.type === 'queue_stats' ? stats.stats : null;
    expect(figures?.inbound).toBe(10);
    const series = async (name: string) =>
      ((await h.registry.getSingleMetric(name)?.get())?.values ?? []).map((v) => [v.labels, v.value]);
    // Inbound and assigned are counted in one place, whichever way the command was released.
    expect(await series('switchboard_conversations_inbound_total')).toEqual([
      [{ tenant: 'acme', queue: 'chat-billing' }, 10],
    ]);
    expect(await series('switchboard_conversations_assigned_total')).toEqual([
      [{ tenant: 'acme', queue: 'chat-billing' }, figures?.assigned],
    ]);
  });
});

describe('several log appends in flight per partition', () => {
  it('bursts under snapshots and trims: every answer is durable, in log order, and a crash replays the same state', async () => {
    const h = await host({ fsync: 'always', appendsPerPartition: 4, snapshotEveryCommands: 25 });
    await billingDesk(h, 'acme', 3);
    const order: string[] = [];
    const seqs: number[] = [];
    h.host.subscribe({ tenant: 'acme' }, (e) => {
      seqs.push(e.seq);
      const ev = e.event as { conversationId?: string };
      if (e.event.type === 'queued' && ev.conversationId) order.push(ev.conversationId);
    });
    // Count the appends really in flight together (the log's own method, wrapped).
    const log = h.ports.log;
    const append = log.append.bind(log);
    let inFlight = 0;
    let most = 0;
    log.append = (...args) => {
      most = Math.max(most, ++inFlight);
      return append(...args).finally(() => inFlight--);
    };
    for (let burst = 0; burst < 6; burst++) {
      const calls: Promise<ApplyResult>[] = [];
      for (let i = 0; i < 40; i++) {
        calls.push(enqueue(h, 'acme', `conv-${burst}-${i}`));
        // One command per event-loop turn: each leaves as its own batch while earlier ones are on disk.
        await new Promise((r) => setImmediate(r));
      }
      await Promise.all(calls);
    }
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(4);
    const digest = await h.digest('acme');
    // Events are published in log order: seqs never go backwards, queued in submission order.
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(order.slice(0, 3)).toEqual(['conv-0-3', 'conv-0-4', 'conv-0-5']);
    const logged = await collect(h.ports.log.read('acme', 0));
    const ls = logged.map((b) => b.seq);
    expect(ls).toEqual(Array.from({ length: ls.length }, (_, i) => (ls[0] as number) + i));
    await h.crash();
    const again = await host({ dir: h.dir });
    expect(await again.digest('acme')).toBe(digest);
  });
});

// The inline pool runs the same actors on the main thread: everything here must hold for it too.
describe.each(['port', 'inline'] as const)('restart recovery (%s pool)', (pool) => {
  const host = (opts: Parameters<typeof hostOn>[0] = {}) => hostOn({ pool, ...opts });
  it('after a graceful stop the node restores the same state from the snapshot', async () => {
    const h = await host({ threads: 2 });
    await billingDesk(h, 'acme', 2);
    await billingDesk(h, 'globex', 1);
    for (let i = 0; i < 6; i++) await enqueue(h, i % 2 ? 'acme' : 'globex', `conv-${i}`);
    const digests = [await h.digest('acme'), await h.digest('globex')];
    await h.stop();
    expect((await readdir(join(h.dir, 'snapshots'))).length).toBe(2);
    const again = await host({ dir: h.dir, threads: 2 });
    expect([await again.digest('acme'), await again.digest('globex')]).toEqual(digests);
  });

  it('after a crash (no final snapshot) the node replays the log to the same state', async () => {
    const h = await host({ fsync: 'always' });
    await billingDesk(h, 'acme', 1);
    for (let i = 0; i < 5; i++) await enqueue(h, 'acme', `conv-${i}`);
    const digest = await h.digest('acme');
    await h.crash();
    const again = await host({ dir: h.dir });
    expect(await again.digest('acme')).toBe(digest);
    expect(status(await enqueue(again, 'acme', 'conv-next'))).toBe('queued');
  });

  it('periodic snapshots trim the log, and snapshot + log tail restore the same state', async () => {
    const h = await host({ snapshotEveryCommands: 10 });
    await billingDesk(h, 'acme', 2);
    for (let i = 0; i < 40; i++) await enqueue(h, 'acme', `conv-${i}`);
    const digest = await h.digest('acme');
    // Saving the snapshot and trimming the log below it are two steps off the hot path: wait for both
    // (on a starved machine the fixed 150 × 20 ms this waited before ran out once).
    let stored = await h.ports.snapshots.load('acme');
    let logged = (await collect(h.ports.log.read('acme', 0))).length;
    await waitFor(
      async () => {
        stored = await h.ports.snapshots.load('acme');
        logged = (await collect(h.ports.log.read('acme', 0))).length;
        return (stored?.seq ?? 0) >= 35 && logged < 15;
      },
      { what: 'a snapshot at seq ≥ 35 and the log trimmed below 15 batches', timeoutMs: 30_000 },
    ).catch(() => undefined);
    expect(stored?.seq).toBeGreaterThanOrEqual(35);
    expect(logged).toBeLessThan(15);
    await h.crash();
    const again = await host({ dir: h.dir });
    expect(await again.digest('acme')).toBe(digest);
  });
});

describe('customer limit (--customer-limit)', () => {
  const contact = (h: Harness, n: number) =>
    h.send('acme', {
      type: 'enqueue',
      conversation: conversation(`conv-${n}`, { queueId: 'chat-billing', customer: { id: `cust-${n}` } }),
    });
  const remembered = async (h: Harness, n: number) => {
    const out: number[] = [];
    for (let i = 1; i <= n; i++) {
      const r = await h.host.query('acme', { type: 'customer', customerId: `cust-${i}` });
      if (r.type === 'customer' && r.customer !== null) out.push(i);
    }
    return out;
  };

  it('a host started with a small limit keeps at most that many customers, least recent forgotten', async () => {
    const h = await host({ customerLimit: 3 });
    await billingDesk(h, 'acme', 0);
    for (let i = 1; i <= 6; i++) expect((await contact(h, i)).ok).toBe(true);
    expect(await remembered(h, 6)).toEqual([4, 5, 6]);
  });

  it('a snapshot saved under another limit is restored, checked, then held to the limit of the node', async () => {
    const first = await host({ snapshotEveryCommands: 4 });
    await billingDesk(first, 'acme', 0);
    for (let i = 1; i <= 6; i++) await contact(first, i);
    expect(await remembered(first, 6)).toEqual([1, 2, 3, 4, 5, 6]);
    for (let i = 0; i < 150 && ((await first.ports.snapshots.load('acme'))?.seq ?? 0) < 4; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect((await first.ports.snapshots.load('acme'))?.seq).toBeGreaterThanOrEqual(4);
    await first.stop();
    const again = await host({ dir: first.dir, customerLimit: 2 });
    expect(await remembered(again, 6)).toEqual([5, 6]);
    await contact(again, 7);
    expect(await remembered(again, 7)).toEqual([6, 7]);
  });
});

describe('snapshots on a timer and lease loss', () => {
  it('an idle tenant that changed is snapshotted after the snapshot interval', async () => {
    const h = await host({ snapshotEverySeconds: 1 });
    await billingDesk(h, 'acme', 1);
    await enqueue(h, 'acme', 'conv-1');
    const lastSeq = await h.ports.log.lastSeq('acme');
    let stored = await h.ports.snapshots.load('acme');
    for (let i = 0; i < 60 && stored?.seq !== lastSeq; i++) {
      await new Promise((r) => setTimeout(r, 50));
      stored = await h.ports.snapshots.load('acme');
    }
    expect(stored?.seq).toBe(lastSeq);
  });

  it('a failing snapshot store shows as a growing snapshot age and a failure count; the next good save clears it', async () => {
    const h = await host({ snapshotEverySeconds: 1 });
    await billingDesk(h, 'acme', 1);
    const save = h.ports.snapshots.save.bind(h.ports.snapshots);
    let failing = true;
    h.ports.snapshots.save = async (s) => {
      if (failing) throw new Error('snapshot store unreachable (test)');
      return save(s);
    };
    const metric = async (name: string) =>
      (await h.registry.getSingleMetric(name)?.get())?.values[0]?.value ?? 0;
    await enqueue(h, 'acme', 'conv-1');
    const until = async (cond: () => Promise<boolean>) => {
      for (let i = 0; i < 100 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 50));
      return cond();
    };
    expect(await until(async () => (await metric('switchboard_snapshot_failures_total')) >= 1)).toBe(true);
    // No new command since: the failed partition still counts as unsaved (it is retried on the timer).
    await new Promise((r) => setTimeout(r, 300));
    expect(await metric('switchboard_snapshot_age_seconds')).toBeGreaterThan(0.3);
    expect(await metric('switchboard_snapshot_failures_total')).toBeGreaterThanOrEqual(1);
    failing = false;
    const lastSeq = await h.ports.log.lastSeq('acme');
    expect(await until(async () => (await h.ports.snapshots.load('acme'))?.seq === lastSeq)).toBe(true);
    expect(await until(async () => (await metric('switchboard_snapshot_age_seconds')) === 0)).toBe(true);
  });

  it('business counters count where the queue statistics do: a transfer out of the queue it left, a missed offer by agent and by queue', async () => {
    const h = await host();
    await h.send('acme', { type: 'upsert_queue', queue: queueConfig('chat-support') });
    await h.send('acme', {
      type: 'upsert_queue',
      queue: queueConfig('chat-billing', { offerTimeoutSeconds: 10 }),
    });
    await h.send('acme', { type: 'upsert_agent', agent: agentConfig('agent-1', { capacity: { chat: 5 } }) });
    await h.send('acme', { type: 'set_presence', agentId: 'agent-1', presence: 'online' });
    // Offered in billing, rejected.
    await h.send('acme', {
      type: 'enqueue',
      conversation: conversation('conv-1', { queueId: 'chat-billing' }),
    });
    expect(
      (await h.send('acme', { type: 'reject_offer', agentId: 'agent-1', conversationId: 'conv-1' })).ok,
    ).toBe(true);
    // Assigned in support, then transferred by its agent to billing.
    const r = await h.send('acme', {
      type: 'enqueue',
      conversation: conversation('conv-2', { queueId: 'chat-support' }),
    });
    expect(status(r)).toBe('assigned');
    const t = await h.send('acme', { type: 'transfer', conversationId: 'conv-2', toQueueId: 'chat-billing' });
    expect(t.ok && t.events.find((e) => e.type === 'transferred')).toMatchObject({
      queueId: 'chat-billing',
      fromQueueId: 'chat-support',
      fromAgentId: 'agent-1',
    });
    const series = async (name: string) =>
      ((await h.registry.getSingleMetric(name)?.get())?.values ?? []).map((v) => [v.labels, v.value]);
    // Every queue's and agent's series exists from its creation on, at 0 until something is counted.
    expect(await series('switchboard_conversations_transferred_total')).toEqual([
      [{ tenant: 'acme', queue: 'chat-support' }, 1],
      [{ tenant: 'acme', queue: 'chat-billing' }, 0],
    ]);
    expect(await series('switchboard_agent_transferred_total')).toEqual([
      [{ tenant: 'acme', agent: 'agent-1' }, 1],
    ]);
    expect(await series('switchboard_queue_offers_missed_total')).toEqual([
      [{ tenant: 'acme', queue: 'chat-support' }, 0],
      [{ tenant: 'acme', queue: 'chat-billing' }, 1],
    ]);
    expect(await series('switchboard_offers_missed_total')).toEqual([
      [{ tenant: 'acme', agent: 'agent-1' }, 1],
    ]);
    // A gateway repeating an Enqueue (another request id: past the dedupe window, say) gets the status
    // again; it is not a new inbound conversation.
    const again = await h.send(
      'acme',
      { type: 'enqueue', conversation: conversation('conv-1', { queueId: 'chat-billing' }) },
      'retry-of-conv-1',
    );
    expect(again.ok && again.reply).toMatchObject({ kind: 'enqueued', conversationId: 'conv-1' });
    expect(await series('switchboard_conversations_inbound_total')).toEqual([
      [{ tenant: 'acme', queue: 'chat-support' }, 1],
      [{ tenant: 'acme', queue: 'chat-billing' }, 1],
    ]);
    // The queue statistics say the same.
    const stats = await h.host.query('acme', { type: 'queue_stats', queueId: 'chat-support' });
    expect(stats).toMatchObject({ stats: { transferred: 1 } });
  });

  it('engine alerts are counted by tenant, alert and queue; every kind starts at 0 before its first', async () => {
    const h = await host();
    await h.send('acme', { type: 'upsert_queue', queue: queueConfig('tiny', { maxSize: 1 }) });
    const alerts = async () =>
      ((await h.registry.getSingleMetric('switchboard_alerts_total')?.get())?.values ?? []).map((v) => [
        v.labels,
        v.value,
      ]);
    const zeros = [
      [{ tenant: 'acme', alert: 'agent_missed_offers', queue: '' }, 0],
      [{ tenant: 'acme', alert: 'sla_at_risk', queue: 'tiny' }, 0],
      [{ tenant: 'acme', alert: 'sla_breached', queue: 'tiny' }, 0],
      [{ tenant: 'acme', alert: 'sla_recovered', queue: 'tiny' }, 0],
      [{ tenant: 'acme', alert: 'queue_over_capacity', queue: 'tiny' }, 0],
      [{ tenant: 'acme', alert: 'queue_capacity_recovered', queue: 'tiny' }, 0],
    ];
    // A scrape before the first alert sees 0, so the first one is an increase, not a series born at 1.
    expect(await alerts()).toEqual(zeros);
    for (const id of ['t1', 't2'])
      await h.send('acme', { type: 'enqueue', conversation: conversation(id, { queueId: 'tiny' }) });
    expect(await alerts()).toEqual(
      zeros.map(([l, v]) => [l, (l as { alert: string }).alert === 'queue_over_capacity' ? 1 : v]),
    );
    // The condition in force, read from the queue's state at scrape time (until it clears).
    const active = (await h.registry.getSingleMetric('switchboard_queue_alert_active')?.get())?.values ?? [];
    expect(active.map((v) => [v.labels, v.value])).toEqual([
      [{ tenant: 'acme', queue: 'tiny', alert: 'sla_at_risk' }, 0],
      [{ tenant: 'acme', queue: 'tiny', alert: 'sla_breached' }, 0],
      [{ tenant: 'acme', queue: 'tiny', alert: 'queue_over_capacity' }, 1],
    ]);
  });

  it('a partition loaded from its log starts the series of its tenant, queues and agents at 0', async () => {
    const first = await host();
    await billingDesk(first, 'acme', 2);
    await first.stop();
    const h = await host({ dir: first.dir, agentSeriesLimit: 1 });
    // A read loads the partition (nothing is counted); its series appear once the ids are back.
    await h.host.query('acme', { type: 'list_queues' });
    const series = async (name: string) =>
      ((await h.registry.getSingleMetric(name)?.get())?.values ?? []).map((v) => [v.labels, v.value]);
    for (let i = 0; i < 100 && (await series('switchboard_agent_assigned_total')).length === 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(await series('switchboard_tenant_overloaded_total')).toEqual([[{ tenant: 'acme' }, 0]]);
    expect(await series('switchboard_conversations_inbound_total')).toEqual([
      [{ tenant: 'acme', queue: 'chat-billing' }, 0],
    ]);
    // Within --agent-series-limit: the first agent gets its own series, the rest share "_other".
    expect(await series('switchboard_agent_assigned_total')).toEqual([
      [{ tenant: 'acme', agent: expect.stringMatching(/^agent-/) }, 0],
      [{ tenant: 'acme', agent: '_other' }, 0],
    ]);
    expect(await series('switchboard_alerts_total')).toContainEqual([
      { tenant: 'acme', alert: 'sla_breached', queue: 'chat-billing' },
      0,
    ]);
  });

  it('a removed agent or queue loses its series and frees its slot; an unloaded tenant loses them all', async () => {
    const h = await host({ agentSeriesLimit: 3 });
    await billingDesk(h, 'acme', 3);
    await h.send('acme', { type: 'upsert_queue', queue: queueConfig('chat-sales') });
    const series = async (name: string) =>
      ((await h.registry.getSingleMetric(name)?.get())?.values ?? []).map((v) => v.labels);
    const agents = async () => (await series('switchboard_agent_assigned_total')).map((l) => l.agent).sort();
    expect(await agents()).toEqual(['agent-1', 'agent-2', 'agent-3']);
    // Churn at the limit: two agents leave, two join.
    for (const id of ['agent-1', 'agent-2']) {
      await h.send('acme', { type: 'set_presence', agentId: id, presence: 'offline' });
      expect((await h.send('acme', { type: 'remove_agent', agentId: id })).ok).toBe(true);
    }
    for (const id of ['agent-4', 'agent-5'])
      await h.send('acme', { type: 'upsert_agent', agent: agentConfig(id, { displayName: id }) });
    // The departed are gone from every per-agent counter, the newcomers have their own series.
    for (const name of [
      'switchboard_agent_assigned_total',
      'switchboard_offers_missed_total',
      'switchboard_agent_transferred_total',
    ])
      expect((await series(name)).map((l) => l.agent).sort()).toEqual(['agent-3', 'agent-4', 'agent-5']);
    // A removed queue's counters and alert series go; the other queue's stay.
    expect((await h.send('acme', { type: 'remove_queue', queueId: 'chat-sales' })).ok).toBe(true);
    for (const name of ['switchboard_conversations_inbound_total', 'switchboard_queue_offers_missed_total'])
      expect((await series(name)).map((l) => l.queue)).toEqual(['chat-billing']);
    const alertQueues = new Set((await series('switchboard_alerts_total')).map((l) => l.queue));
    expect(alertQueues).toEqual(new Set(['chat-billing', '']));
    // The partition moves away: none of the tenant's series stay on this node.
    h.host.unload('acme');
    for (const name of [
      'switchboard_agent_assigned_total',
      'switchboard_conversations_inbound_total',
      'switchboard_alerts_total',
      'switchboard_tenant_overloaded_total',
    ])
      expect(await series(name)).toEqual([]);
  });

  it('a node that loses the lease stops serving the tenant at once; the next call reloads it if it may', async () => {
    const h = await host();
    await billingDesk(h, 'acme', 1);
    // What the host does when the cluster's ownership reports the lease lost.
    const inflight = enqueue(h, 'acme', 'conv-1');
    h.host.unload('acme');
    await expect(inflight).rejects.toMatchObject({ code: 'SB_ERR_NOT_OWNER' });
    expect(h.host.partitionsOwned).toBe(0);
    // Embedded ownership grants it again: the tenant comes back from snapshot + log, nothing lost.
    expect(status(await enqueue(h, 'acme', 'conv-2'))).toBe('assigned');
  });
});

/**
 * Agent churn: a tenant that creates and removes agents for years (temporary agents per shift with fresh
 * ids, staff turnover) must keep memory bounded by the agents alive at once, and a restored engine must
 * decide like the live one whatever records the live one reused.
 */
import { describe, expect, it } from 'vitest';
import type { Engine } from './api.js';
import { agentConfig, conversation, queueConfig } from './fixtures.js';
import { createEngine, restoreEngine } from './index.js';
import { AgentSlab } from './model.js';
import type { Partition } from './partition.js';
import type { Command, EngineEvent } from './types.js';

const T0 = Date.UTC(2026, 0, 5, 8, 0, 0);

function partitionOf(e: Engine): Partition {
  return (e as unknown as { p: Partition }).p;
}

/** Records the slab and the lanes' id spaces can hold (what they grew to). */
function footprint(p: Partition) {
  let lids = 0;
  let poolIds = 0;
  for (const q of p.queues.values())
    for (const lane of q.lanes) {
      lids = Math.max(lids, (lane as unknown as { nextLid: number }).nextLid);
      poolIds = Math.max(poolIds, (lane.pool as unknown as { pos: Int32Array }).pos.length);
    }
  return {
    slabRecords: p.agentSlab.f.length / AgentSlab.STRIDE,
    lids,
    poolIds,
    agents: p.agents.size,
    tiers: [...p.byTier.values()].reduce((n, s) => n + s.size, 0),
    skills: p.skillHolders.size,
    // The conversations' table (entries appended since its last compaction): every conversation here
    // closes, so it must not keep one slot per conversation ever seen either.
    convSlots: (p.convs as unknown as { kv: unknown[] }).kv.length / 2,
  };
}

/**
 * A day of churn: agents `shift-<i>` with fresh ids (a skill of their own shift, seats on chat and
 * voice, one of three tiers), online, a conversation every few agents (offered, accepted by whoever it
 * rang at, ended, some wrap-up), and the oldest leave once more than `live` are at work (half of them log
 * off first). `apply` applies one command and returns its events.
 */
function churn(apply: (cmd: Command) => EngineEvent[], total: number, live: number): void {
  apply({ type: 'upsert_queue', queue: queueConfig('q1', { offerTimeoutSeconds: 20 }) });
  apply({ type: 'upsert_queue', queue: queueConfig('v1', { channel: 'voice', strategy: 'round_robin' }) });
  const alive: string[] = [];
  for (let i = 0; i < total; i++) {
    const id = `shift-${i}`;
    apply({
      type: 'upsert_agent',
      agent: agentConfig(id, {
        skills: [{ skill: `shift:${i % 997}`, level: 1 + (i % 5) }],
        capacity: { chat: 2, voice: 1 },
        tier: 1 + (i % 3),
        wrapUpSeconds: i % 2,
      }),
    });
    apply({ type: 'set_presence', agentId: id, presence: 'online' });
    alive.push(id);
    if (i % 7 === 0) {
      const c = `c-${i}`;
      const offered = apply({ type: 'enqueue', conversation: conversation(c) }).find(
        (e) => e.type === 'offered',
      );
      if (offered) apply({ type: 'accept_offer', agentId: offered.agentId, conversationId: c });
      else apply({ type: 'cancel', conversationId: c });
      if (offered) apply({ type: 'end_conversation', conversationId: c, outcome: 'resolved' });
      apply({ type: 'tick' });
    }
    if (i % 11 === 0) {
      const c = `v-${i}`;
      apply({ type: 'enqueue', conversation: conversation(c, { channel: 'voice', queueId: 'v1' }) });
      apply({ type: 'cancel', conversationId: c }).length > 0 ||
        apply({ type: 'end_conversation', conversationId: c, outcome: 'resolved' });
    }
    if (alive.length > live) {
      const gone = alive.shift()!;
      if (i % 2 === 0) apply({ type: 'set_presence', agentId: gone, presence: 'offline' });
      apply({ type: 'remove_agent', agentId: gone });
    }
  }
}

describe('agent churn', () => {
  it('100 000 agents created and removed with at most 200 alive: the slab and the lanes stay bounded', () => {
    const e = createEngine('churn');
    const live = 200;
    let t = T0;
    let n = 0;
    const most = { slabRecords: 0, lids: 0, poolIds: 0, agents: 0, tiers: 0, skills: 0, convSlots: 0 };
    churn(
      (cmd) => {
        t += 250;
        const r = e.apply({ id: `k${++n}`, at: t, cmd });
        if (!r.ok && cmd.type !== 'cancel')
          throw new Error(`${cmd.type} failed: ${r.error.code} ${r.error.message}`);
        if (n % 5000 === 0) {
          const f = footprint(partitionOf(e));
          for (const k of Object.keys(most) as (keyof typeof most)[]) most[k] = Math.max(most[k], f[k]);
        }
        return r.ok ? r.events : [];
      },
      100_000,
      live,
    );
    // A small multiple of the live maximum (the slab doubles: ≤ 2 × 201 records), not 100 000.
    expect(most.agents).toBeLessThanOrEqual(live + 1);
    expect(most.slabRecords).toBeLessThanOrEqual(2 * (live + 1));
    expect(most.lids).toBeLessThanOrEqual(live + 1);
    expect(most.poolIds).toBeLessThanOrEqual(4 * (live + 1));
    expect(most.tiers).toBeLessThanOrEqual(live + 1);
    expect(most.skills).toBeLessThanOrEqual(live + 1);
    // Compaction keeps ≤ live + max(1 024, live) entries; ~23 000 conversations went through it.
    expect(most.convSlots).toBeLessThanOrEqual(2 * 1024 + 2);
    // Every record in use belongs to an agent of the partition (none leaked by a removal).
    expect(partitionOf(e).agentSlab.live).toBe(partitionOf(e).agents.size);
  });

  it('a restored engine decides like the live one during churn, whatever records the live one reused', () => {
    const live = createEngine('churn');
    let twin: Engine | null = null;
    let t = T0;
    let i = 0;
    churn(
      (cmd) => {
        t += 250;
        const env = { id: `k${++i}`, at: t, cmd };
        const a = live.apply(env);
        if (twin) {
          const b = twin.apply(env);
          expect(b).toEqual(a);
        }
        // Cuts during churn: the live slab has reused records of removed agents by then; the restored
        // one is laid out afresh (and reuses its own later).
        if (i % 1500 === 0) {
          twin = restoreEngine(JSON.parse(JSON.stringify(live.snapshot())));
          expect(twin.digest()).toBe(live.digest());
        }
        if (twin && i % 97 === 0) expect(twin.digest()).toBe(live.digest());
        return a.ok ? a.events : [];
      },
      3000,
      40,
    );
    expect(twin!.digest()).toBe(live.digest());
    expect(twin!.nextTimerAt()).toBe(live.nextTimerAt());
  });

  it('an agent given a removed agent’s record starts from zero', () => {
    const s = createEngine('reuse');
    let t = T0;
    let n = 0;
    const run = (cmd: Command) => {
      t += 1000;
      const r = s.apply({ id: `r${++n}`, at: t, cmd });
      if (!r.ok) throw new Error(`${cmd.type}: ${r.error.message}`);
      return r.events;
    };
    run({ type: 'upsert_queue', queue: queueConfig('q1', { offerTimeoutSeconds: 20 }) });
    run({ type: 'upsert_agent', agent: agentConfig('old', { wrapUpSeconds: 30 }) });
    run({ type: 'set_presence', agentId: 'old', presence: 'online' });
    run({ type: 'enqueue', conversation: conversation('c1') });
    run({ type: 'accept_offer', agentId: 'old', conversationId: 'c1' });
    run({ type: 'end_conversation', conversationId: 'c1', outcome: 'resolved' });
    run({ type: 'remove_agent', agentId: 'old' }); // in wrap-up, with staffed and busy time
    run({ type: 'upsert_agent', agent: agentConfig('new') });
    const stats = s.query({ type: 'agent_stats', agentId: 'new' }, t);
    expect(stats).toMatchObject({ stats: { handled: 0, occupancy: 0, lastAssignedAt: null, busy: false } });
    // It takes work as a fresh agent does (no seat left taken, no wrap-up inherited).
    run({ type: 'set_presence', agentId: 'new', presence: 'online' });
    expect(run({ type: 'enqueue', conversation: conversation('c2') })).toContainEqual(
      expect.objectContaining({ type: 'offered', agentId: 'new' }),
    );
    // The conversation the removed agent handled still names it.
    const v = s.query({ type: 'conversation', conversationId: 'c1' }, t);
    expect(v.type === 'conversation' && v.conversation?.agentId).toBe('old');
  });
});

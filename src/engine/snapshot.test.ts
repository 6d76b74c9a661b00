import { describe, expect, it } from 'vitest';
import { agentConfig, conversation, queueConfig, Scenario } from './fixtures.js';
import { createEngine, restoreEngine } from './index.js';
import { absTime, type StateV1, type StateV2 } from './snapshot.js';
import type { Command } from './types.js';

/** The version-1 layout (one named-field object per record), as older nodes stored it. */
function asV1(s: StateV2): StateV1 {
  const str = (i: number) => (i === -1 ? null : s.strs[i]!);
  const agents: StateV1['agents'] = [];
  for (let i = 0; i < s.agents.length; i += 13) {
    const n = s.agents as number[];
    agents.push({
      cfg: s.agents[i] as StateV1['agents'][number]['cfg'],
      seq: n[i + 1]!,
      presence: str(n[i + 2]!) as StateV1['agents'][number]['presence'],
      wrapUntil: n[i + 3]!,
      idleSince: n[i + 4]!,
      lastAssignedAt: n[i + 5]!,
      consecutiveMisses: n[i + 6]!,
      missedTotal: n[i + 7]!,
      handled: n[i + 8]!,
      handleMsTotal: n[i + 9]!,
      onlineMs: n[i + 10]!,
      busyMs: n[i + 11]!,
      acctAt: n[i + 12]!,
    });
  }
  const conversations: StateV1['conversations'] = [];
  for (let i = 0; i < s.convs.length; i += 20) {
    const c = s.convs as never[];
    const createdAt = s.now + (c[i + 10] as number);
    const x = (c[i + 19] as unknown[] | 0) || [null, null, [], [], 0, null, 0, 0, null, null, null];
    conversations.push({
      id: c[i],
      seq: c[i + 1],
      channel: str(c[i + 2]) as never,
      customerId: c[i + 3],
      valueTier: str(c[i + 4]) as never,
      priority: c[i + 5],
      requiredSkills: s.skills[c[i + 6]]!,
      topic: str(c[i + 7]),
      requestedQueueId: str(c[i + 8]),
      queueId: s.queues[c[i + 9]]!.cfg.id,
      createdAt,
      status: str(c[i + 11]) as never,
      enqueuedAt: createdAt + (c[i + 12] as number),
      step: c[i + 13],
      qord: c[i + 14],
      answered: ((c[i + 15] as number) & 1) !== 0,
      newCustomer: ((c[i + 15] as number) & 2) !== 0,
      noticeAt: absTime(c[i + 16], createdAt),
      lastPosition: c[i + 17],
      lastEstimateMs: c[i + 18],
      excluded: x[0] as never,
      agentId: x[1] as never,
      participants: x[2] as never,
      offers: x[3] as never,
      offerExpiresAt: x[4] as never,
      reservedFor: x[5] as never,
      reservedUntil: x[6] as never,
      assignedAt: x[7] as never,
      outcome: x[8] as never,
      explanation: x[9] as never,
      pending: x[10] as never,
    });
  }
  const { strs: _s, skills: _k, agents: _a, convs: _c, dedupe, ...rest } = s;
  // Version 1 kept no command fingerprints.
  return {
    ...rest,
    dedupe: dedupe.map(([id, reply]) => [id, reply] as [string, (typeof dedupe)[number][1]]),
    agents,
    conversations,
  };
}

function busyDesk() {
  const s = new Scenario();
  s.queue(queueConfig('q1', { offerTimeoutSeconds: 15, strategy: 'round_robin' }));
  s.online(agentConfig('ann', { capacity: { chat: 2 }, wrapUpSeconds: 10 }), agentConfig('bob'));
  for (let i = 0; i < 6; i++)
    s.enqueue(conversation(`c${i}`, { priority: i % 3, topic: i === 2 ? 'refund' : undefined }));
  s.when({ type: 'accept_offer', agentId: 'ann', conversationId: 'c0' });
  s.when({ type: 'reject_offer', agentId: 'bob', conversationId: 'c1' });
  return s;
}

const later: Command[] = [
  { type: 'tick' },
  { type: 'end_conversation', conversationId: 'c0', outcome: 'resolved' },
  { type: 'tick' },
  { type: 'cancel', conversationId: 'c5' },
  { type: 'tick' },
];

describe('partition snapshots', () => {
  it('a snapshot stored by an older node (version 1) restores to the same desk and keeps routing alike', () => {
    const a = busyDesk();
    const b = busyDesk();
    const v2 = JSON.parse(JSON.stringify(b.engine.snapshot()));
    expect(v2.version).toBe(2);
    const restored = restoreEngine({ version: 1, partition: v2.partition, state: asV1(v2.state) });
    // Version 1 kept no command fingerprints (part of the state since): the same desk is the version 2
    // state without them.
    // (A copy of its own: a restored engine takes over the state's arrays.)
    const unfingerprinted = JSON.parse(JSON.stringify(b.engine.snapshot()));
    unfingerprinted.state.dedupe = unfingerprinted.state.dedupe.map((e: unknown[]) => e.slice(0, 2));
    const same = restoreEngine(unfingerprinted);
    expect(restored.digest()).toBe(same.digest());
    const go = (e: typeof restored) =>
      later.map((cmd, i) => e.apply({ id: `l${i}`, at: a.t + (i + 1) * 16_000, cmd }));
    expect(go(restored)).toEqual(go(a.engine));
    expect(go(same)).toEqual(go(busyDesk().engine));
    expect(restored.digest()).toBe(same.digest());
  });

  it('what a waiting customer was last told survives a snapshot: the reopening notice comes once, restored or not', () => {
    const office = {
      timeZone: 'Europe/Paris',
      windows: [1, 2, 3, 4, 5].map((day) => ({ day, open: '09:00', close: '18:00' })),
      holidays: [],
    };
    const closedDesk = () => {
      const s = new Scenario(Date.UTC(2026, 0, 5, 7, 59, 0)); // Monday 08:59 in Paris
      s.queue(queueConfig('q1', { businessHours: office }));
      s.enqueue(conversation('c1'));
      return s;
    };
    const a = closedDesk();
    const restored = restoreEngine(JSON.parse(JSON.stringify(closedDesk().engine.snapshot())));
    const ticks = (e: typeof restored) =>
      [1, 2, 3].map((k) => e.apply({ id: `t${k}`, at: a.t + k * 30_000, cmd: { type: 'tick' } }));
    const original = ticks(a.engine);
    expect(ticks(restored)).toEqual(original);
    const queued = original.flatMap((r) => (r.ok ? r.events : [])).filter((e) => e.type === 'queued');
    expect(queued).toHaveLength(1);
  });

  it('a snapshot taken earlier is not changed by the desk carrying on', () => {
    const s = busyDesk();
    const snap = s.engine.snapshot();
    const frozen = JSON.stringify(snap);
    for (const [i, cmd] of later.entries()) s.engine.apply({ id: `l${i}`, at: s.t + (i + 1) * 16_000, cmd });
    expect(JSON.stringify(snap)).toBe(frozen);
  });

  it('an unknown snapshot version is refused', () => {
    const snap = createEngine('p').snapshot();
    expect(() => restoreEngine({ ...snap, version: 99 })).toThrow(/unsupported engine snapshot version 99/);
  });
});

import { describe, expect, it } from 'vitest';
import {
  agentConfig,
  assignments,
  conversation,
  offers,
  only,
  queueConfig,
  routingConfig,
  Scenario,
} from './fixtures.js';
import { restoreEngine } from './index.js';

function chatDesk(strategy: 'least_busy' | 'round_robin' = 'least_busy') {
  const s = new Scenario();
  s.queue(queueConfig('q1', { strategy }));
  return s;
}

describe('a conversation arrives', () => {
  it('goes to an online agent with free capacity on its channel', () => {
    const s = chatDesk();
    s.online(agentConfig('ann'));
    const events = s.enqueue(conversation('c1'));
    expect(assignments(events)).toEqual(['c1→ann']);
    const assigned = only(events, 'assigned')[0]!;
    expect(assigned.agentName).toBe('Agent ann');
    expect(assigned.explanation).toMatchObject({ rule: 'strategy', strategy: 'least_busy', candidates: 1 });
  });

  it('waits with position and estimated wait when no agent is free', () => {
    const s = chatDesk();
    s.online(agentConfig('ann'));
    s.enqueue(conversation('c1'));
    const r = s.run({ type: 'enqueue', conversation: conversation('c2') });
    expect(r.ok && r.reply).toMatchObject({ kind: 'enqueued', status: 'queued', position: 1 });
    const second = s.enqueue(conversation('c3'));
    expect(only(second, 'queued')[0]).toMatchObject({ conversationId: 'c3', position: 2 });
  });

  it('is never given to an offline or away agent', () => {
    const s = chatDesk();
    s.given({ type: 'upsert_agent', agent: agentConfig('off') });
    s.online(agentConfig('away'));
    s.given({ type: 'set_presence', agentId: 'away', presence: 'away' });
    expect(only(s.enqueue(conversation('c1')), 'queued')).toHaveLength(1);
  });

  it('is only given to agents holding every required skill at the minimum level', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { requiredSkills: [{ skill: 'billing', minLevel: 5 }] }));
    s.online(
      agentConfig('junior', { skills: [{ skill: 'billing', level: 3 }] }),
      agentConfig('senior', { skills: [{ skill: 'billing', level: 7 }] }),
    );
    expect(assignments(s.enqueue(conversation('c1')))).toEqual(['c1→senior']);
    expect(only(s.enqueue(conversation('c2')), 'queued')).toHaveLength(1);
  });

  it('with extra skills of its own goes only to agents who also hold those', () => {
    const s = chatDesk();
    s.online(agentConfig('en'), agentConfig('fr', { skills: [{ skill: 'lang:fr', level: 4 }] }));
    const events = s.enqueue(conversation('c1', { requiredSkills: [{ skill: 'lang:fr', minLevel: 2 }] }));
    expect(assignments(events)).toEqual(['c1→fr']);
  });

  it('respects per-channel capacity: a voice call does not use chat capacity', () => {
    const s = new Scenario();
    s.queue(queueConfig('chat'));
    s.queue(queueConfig('voice', { channel: 'voice' }));
    s.online(agentConfig('ann', { capacity: { chat: 2, voice: 1 } }));
    expect(assignments(s.enqueue(conversation('c1', { queueId: 'chat' })))).toEqual(['c1→ann']);
    expect(assignments(s.enqueue(conversation('v1', { queueId: 'voice', channel: 'voice' })))).toEqual([
      'v1→ann',
    ]);
    expect(assignments(s.enqueue(conversation('c2', { queueId: 'chat' })))).toEqual(['c2→ann']);
    expect(only(s.enqueue(conversation('c3', { queueId: 'chat' })), 'queued')).toHaveLength(1);
  });
});

describe('skill groups (a department and its sub-skills)', () => {
  const desk = () => {
    const s = new Scenario();
    s.queue(queueConfig('support-any', { requiredSkills: [{ skill: 'support', minLevel: 5 }] }));
    s.queue(queueConfig('networking', { requiredSkills: [{ skill: 'support/networking', minLevel: 5 }] }));
    return s;
  };

  it('a sub-skill counts for its group at its own level', () => {
    const s = desk();
    s.online(
      agentConfig('low', { skills: [{ skill: 'support/billing', level: 3 }] }),
      agentConfig('net', { skills: [{ skill: 'support/networking', level: 7 }], capacity: { chat: 2 } }),
    );
    expect(assignments(s.enqueue(conversation('c1', { queueId: 'support-any' })))).toEqual(['c1→net']);
    expect(assignments(s.enqueue(conversation('c2', { queueId: 'networking' })))).toEqual(['c2→net']);
  });

  it('a group skill does not stand for its sub-skills, and a name that merely starts alike is no sub-skill', () => {
    const s = desk();
    s.online(
      agentConfig('generalist', { skills: [{ skill: 'support', level: 9 }] }),
      agentConfig('other', { skills: [{ skill: 'supportive', level: 9 }] }),
    );
    expect(only(s.enqueue(conversation('c1', { queueId: 'networking' })), 'queued')).toHaveLength(1);
    expect(assignments(s.enqueue(conversation('c2', { queueId: 'support-any' })))).toEqual(['c2→generalist']);
    // `supportive` never counted for `support`: the generalist took c2 and has room for one more.
    s.given({
      type: 'upsert_agent',
      agent: agentConfig('generalist', { skills: [], capacity: { chat: 0 } }),
    });
    expect(only(s.enqueue(conversation('c3', { queueId: 'support-any' })), 'queued')).toHaveLength(1);
  });

  it('configuration lint knows a group is held through its sub-skills', () => {
    const s = desk();
    s.online(agentConfig('net', { skills: [{ skill: 'support/networking', level: 7 }] }));
    const r = s.engine.query({ type: 'lint' }, s.t);
    expect(r.type === 'lint' && r.findings.filter((f) => f.code === 'SKILL_NOBODY_HAS')).toEqual([]);
  });
});

describe('the waiting line of a queue (ListWaiting)', () => {
  const list = (s: Scenario, limit: number, queueId = 'q1') => {
    const r = s.engine.query({ type: 'list_waiting', queueId, limit }, s.t);
    if (r.type !== 'list_waiting') throw new Error(r.type);
    return { ids: r.conversations?.map((c) => [c.id, c.position]) ?? null, total: r.total };
  };

  it('a conversation back in line after a rejected offer is first in line, and is told and listed so', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { offerTimeoutSeconds: 30 }));
    s.online(agentConfig('ann'));
    s.enqueue(conversation('c1')); // offered to ann at once (it never waited)
    s.t += 1000;
    s.enqueue(conversation('c2'));
    s.enqueue(conversation('c3'));
    expect(list(s, 10).ids).toEqual([
      ['c2', 1],
      ['c3', 2],
    ]);
    s.t += 1000;
    const events = s.when({ type: 'reject_offer', agentId: 'ann', conversationId: 'c1' }); // ann then gets c2
    expect(only(events, 'queued')).toMatchObject([{ conversationId: 'c1', position: 1 }]);
    expect(offers(events)).toEqual(['c2→ann']);
    expect(list(s, 10).ids).toEqual([
      ['c1', 1],
      ['c3', 2],
    ]);
    // Places survive a snapshot.
    const restored = restoreEngine(JSON.parse(JSON.stringify(s.engine.snapshot())));
    const r = restored.query({ type: 'list_waiting', queueId: 'q1', limit: 10 }, s.t);
    expect(r.type === 'list_waiting' && r.conversations?.map((c) => [c.id, c.position])).toEqual([
      ['c1', 1],
      ['c3', 2],
    ]);
    expect(restored.digest()).toBe(s.engine.digest());
  });

  it('a conversation transferred back into its own queue joins the back of the line and is told so', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1'));
    s.online(agentConfig('ann'));
    s.enqueue(conversation('c0')); // → ann
    s.enqueue(conversation('c1')); // waits
    s.t += 1000;
    s.when({ type: 'end_conversation', conversationId: 'c0', outcome: 'resolved' }); // c1 → ann
    for (const id of ['c2', 'c3', 'c4']) s.enqueue(conversation(id));
    s.given({ type: 'set_presence', agentId: 'ann', presence: 'away' });
    s.t += 1000;
    const events = s.when({ type: 'transfer', conversationId: 'c1', toQueueId: 'q1' });
    expect(only(events, 'queued')).toMatchObject([{ conversationId: 'c1', position: 4 }]);
    expect(list(s, 10).ids).toEqual([
      ['c2', 1],
      ['c3', 2],
      ['c4', 3],
      ['c1', 4],
    ]);
  });

  it('lists first in line first: higher priority, then arrival, across overflow lanes, up to the limit', () => {
    const s = new Scenario();
    s.queue(
      queueConfig('q1', {
        requiredSkills: [{ skill: 'billing', minLevel: 5 }],
        overflow: [{ afterSeconds: 30, action: { kind: 'relax_skills', by: 2 } }],
      }),
    );
    s.enqueue(conversation('old-low', { priority: 0 }));
    s.t += 40_000; // old-low has moved to the relaxed lane
    s.advance(0);
    s.enqueue(conversation('high', { priority: 5 }));
    s.t += 1_000;
    s.enqueue(conversation('new-low', { priority: 0 }));
    expect(list(s, 10)).toEqual({
      ids: [
        ['high', 1],
        ['old-low', 2],
        ['new-low', 3],
      ],
      total: 3,
    });
    expect(list(s, 2)).toEqual({
      ids: [
        ['high', 1],
        ['old-low', 2],
      ],
      total: 3,
    });
    s.when({ type: 'cancel', conversationId: 'old-low' });
    expect(list(s, 10)).toEqual({
      ids: [
        ['high', 1],
        ['new-low', 2],
      ],
      total: 2,
    });
  });

  it('an unknown queue is null; an empty one is an empty list', () => {
    const s = chatDesk();
    expect(list(s, 10, 'nope')).toEqual({ ids: null, total: 0 });
    expect(list(s, 10)).toEqual({ ids: [], total: 0 });
  });
});

describe('an agent frees capacity', () => {
  it('ending a conversation starts wrap-up, and the agent takes the oldest waiting conversation after it', () => {
    const s = chatDesk();
    s.online(agentConfig('ann', { wrapUpSeconds: 30 }));
    s.enqueue(conversation('c1'));
    s.enqueue(conversation('c2'));
    s.t += 60_000;
    const ended = s.when({ type: 'end_conversation', conversationId: 'c1', outcome: 'resolved' });
    expect(only(ended, 'conversation_ended')[0]).toMatchObject({ handleMs: 60_000, outcome: 'resolved' });
    expect(only(ended, 'wrap_up_started')[0]).toMatchObject({ agentId: 'ann', endsAt: s.t + 30_000 });
    expect(assignments(ended)).toEqual([]);
    expect(s.engine.nextTimerAt()).toBeLessThanOrEqual(s.t + 30_000);
    const after = s.advance(30_000);
    expect(only(after, 'wrap_up_ended')).toHaveLength(1);
    expect(assignments(after)).toEqual(['c2→ann']);
  });

  it('finishing wrap-up early frees the agent at once', () => {
    const s = chatDesk();
    s.online(agentConfig('ann', { wrapUpSeconds: 120 }));
    s.enqueue(conversation('c1'));
    s.enqueue(conversation('c2'));
    s.when({ type: 'end_conversation', conversationId: 'c1', outcome: 'closed' });
    expect(assignments(s.when({ type: 'finish_wrap_up', agentId: 'ann' }))).toEqual(['c2→ann']);
  });

  it('coming online pulls the highest-priority waiting conversation first', () => {
    const s = chatDesk();
    s.given({ type: 'upsert_agent', agent: agentConfig('ann') });
    s.enqueue(conversation('low', { priority: 1 }));
    s.enqueue(conversation('high', { priority: 8 }));
    const events = s.when({ type: 'set_presence', agentId: 'ann', presence: 'online' });
    expect(assignments(events)).toEqual(['high→ann']);
  });

  it('equal-priority conversations are served in arrival order', () => {
    const s = chatDesk();
    s.given({ type: 'upsert_agent', agent: agentConfig('ann', { capacity: { chat: 3 } }) });
    for (const id of ['c1', 'c2', 'c3', 'c4']) {
      s.enqueue(conversation(id));
      s.t += 1000;
    }
    expect(assignments(s.when({ type: 'set_presence', agentId: 'ann', presence: 'online' }))).toEqual([
      'c1→ann',
      'c2→ann',
      'c3→ann',
    ]);
  });

  it('gaining a skill lets the agent take a conversation that was waiting for it', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { requiredSkills: [{ skill: 'billing', minLevel: 1 }] }));
    s.online(agentConfig('ann'));
    s.enqueue(conversation('c1'));
    const events = s.when({
      type: 'upsert_agent',
      agent: agentConfig('ann', { skills: [{ skill: 'billing', level: 2 }] }),
    });
    expect(assignments(events)).toEqual(['c1→ann']);
  });
});

describe('strategies', () => {
  it('least busy sends to the agent with the fewest open conversations, ties to the longest idle', () => {
    const s = chatDesk();
    s.online(agentConfig('ann', { capacity: { chat: 3 } }));
    s.t += 1000;
    s.online(agentConfig('bob', { capacity: { chat: 3 } }));
    const got = [1, 2, 3, 4].map((i) => assignments(s.enqueue(conversation(`c${i}`)))[0]);
    expect(got).toEqual(['c1→ann', 'c2→bob', 'c3→ann', 'c4→bob']);
  });

  it('round robin gives each agent a turn in order', () => {
    const s = chatDesk('round_robin');
    s.online(...['ann', 'bob', 'cat'].map((id) => agentConfig(id, { capacity: { chat: 5 } })));
    const got = [1, 2, 3, 4, 5, 6].map(
      (i) => assignments(s.enqueue(conversation(`c${i}`)))[0]!.split('→')[1],
    );
    expect(got).toEqual(['ann', 'bob', 'cat', 'ann', 'bob', 'cat']);
  });

  it('round robin keeps its cursor across snapshot and restore', () => {
    const s = chatDesk('round_robin');
    s.online(...['ann', 'bob', 'cat'].map((id) => agentConfig(id, { capacity: { chat: 5 } })));
    s.enqueue(conversation('c1'));
    const restored = restoreEngine(s.engine.snapshot());
    const r = restored.apply({
      id: 'x',
      at: s.t,
      cmd: { type: 'enqueue', conversation: conversation('c2') },
    });
    expect(r.ok && assignments(r.events)).toEqual(['c2→bob']);
  });
});

describe('offers', () => {
  function offering() {
    const s = new Scenario();
    s.queue(queueConfig('q1', { offerTimeoutSeconds: 20 }));
    s.online(agentConfig('ann'));
    s.t += 1000;
    s.online(agentConfig('bob'));
    return s;
  }

  it('an offer that is accepted becomes an assignment', () => {
    const s = offering();
    const r = s.run({ type: 'enqueue', conversation: conversation('c1') });
    // The reply names whose desk rings, so the gateway can tell the customer without a second call.
    expect(r.ok && r.reply).toMatchObject({ status: 'offered', agentId: 'ann' });
    expect(r.ok && offers(r.events)).toEqual(['c1→ann']);
    const accepted = s.when({ type: 'accept_offer', agentId: 'ann', conversationId: 'c1' });
    expect(assignments(accepted)).toEqual(['c1→ann']);
  });

  it('a rejected offer goes to the next agent and the conversation keeps its age', () => {
    const s = offering();
    s.enqueue(conversation('c1'));
    s.t += 5000;
    const events = s.when({ type: 'reject_offer', agentId: 'ann', conversationId: 'c1' });
    expect(only(events, 'offer_missed')[0]).toMatchObject({ reason: 'rejected', consecutiveMisses: 1 });
    expect(offers(events)).toEqual(['c1→bob']);
    const accepted = s.when({ type: 'accept_offer', agentId: 'bob', conversationId: 'c1' });
    expect(only(accepted, 'assigned')[0]!.explanation.waitedMs).toBe(5000);
  });

  it('an offer nobody answers times out on tick and moves on', () => {
    const s = offering();
    s.enqueue(conversation('c1'));
    expect(s.engine.nextTimerAt()).toBe(s.t + 20_000);
    const events = s.advance(20_000);
    expect(only(events, 'offer_missed')[0]).toMatchObject({ agentId: 'ann', reason: 'timeout' });
    expect(offers(events)).toEqual(['c1→bob']);
  });

  it('a conversation every agent missed is offered again at its next re-check, not stranded beside idle agents', () => {
    const s = new Scenario();
    s.given({ type: 'set_routing_config', config: routingConfig({ maxMissedOffers: 0 }) });
    s.queue(queueConfig('q1', { offerTimeoutSeconds: 10 }));
    s.online(agentConfig('ann'), agentConfig('bob'));
    expect(offers(s.enqueue(conversation('c1')))).toEqual(['c1→ann']);
    expect(offers(s.advance(10_000))).toEqual(['c1→bob']); // ann timed out: passed over
    const missedByBoth = s.advance(10_000);
    expect(only(missedByBoth, 'offer_missed')).toHaveLength(1);
    expect(offers(missedByBoth)).toEqual([]); // both are passed over until the re-check …
    expect(offers(s.advance(29_999))).toEqual([]);
    // … 30 s after it went back to waiting: both may take it again (least busy, longest idle first).
    expect(offers(s.advance(1))).toEqual(['c1→ann']);
  });

  it('an agent who missed a conversation is passed over while it waits for another agent, until its re-check', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { offerTimeoutSeconds: 10 }));
    s.online(agentConfig('ann'), agentConfig('bob'));
    s.enqueue(conversation('busy')); // offered to ann
    s.when({ type: 'accept_offer', agentId: 'ann', conversationId: 'busy' });
    s.enqueue(conversation('c1')); // offered to bob
    s.when({ type: 'reject_offer', agentId: 'bob', conversationId: 'c1' });
    expect(offers(s.advance(29_000))).toEqual([]); // bob is idle, but ann may still take it
    expect(offers(s.advance(1000))).toEqual(['c1→bob']);
  });

  it('accepting an offer one does not hold is refused', () => {
    const s = offering();
    s.enqueue(conversation('c1'));
    const r = s.run({ type: 'accept_offer', agentId: 'bob', conversationId: 'c1' });
    expect(r.ok ? null : r.error.code).toBe('SB_ERR_NO_OFFER');
  });

  it('a pending offer counts against capacity', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { offerTimeoutSeconds: 20 }));
    s.online(agentConfig('ann'));
    s.enqueue(conversation('c1'));
    expect(only(s.enqueue(conversation('c2')), 'queued')).toHaveLength(1);
  });
});

describe('supervisor and customer actions', () => {
  it('a supervisor assigns a waiting conversation by hand', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { strategy: 'manual' }));
    s.online(agentConfig('ann'));
    expect(only(s.enqueue(conversation('c1')), 'queued')).toHaveLength(1);
    const events = s.when({ type: 'assign', conversationId: 'c1', agentId: 'ann' });
    expect(only(events, 'assigned')[0]!.explanation.rule).toBe('manual_assign');
  });

  it('a transfer to a named agent checks what Assign checks in the destination queue', () => {
    const s = new Scenario();
    s.queue(queueConfig('gen'));
    s.queue(queueConfig('fr', { strategy: 'manual', requiredSkills: [{ skill: 'lang:fr', minLevel: 8 }] }));
    s.online(
      agentConfig('nofr', { queues: ['gen'] }),
      agentConfig('genfr', { skills: [{ skill: 'lang:fr', level: 9 }], queues: ['gen'] }),
      agentConfig('frbasic', { skills: [{ skill: 'lang:fr', level: 9 }] }),
      agentConfig('frvip', {
        skills: [
          { skill: 'lang:fr', level: 9 },
          { skill: 'vip', level: 5 },
        ],
      }),
    );
    s.enqueue(conversation('c1', { queueId: 'fr', requiredSkills: [{ skill: 'vip', minLevel: 3 }] }));
    for (const agentId of ['nofr', 'genfr', 'frbasic']) {
      const before = s.engine.digest();
      const assign = s.run({ type: 'assign', conversationId: 'c1', agentId });
      const transfer = s.run({ type: 'transfer', conversationId: 'c1', toAgentId: agentId });
      // nofr lacks the queue's skill, genfr serves only gen, frbasic lacks the conversation's own skill.
      for (const r of [assign, transfer])
        expect(r).toMatchObject({ ok: false, error: { code: 'SB_ERR_AGENT_NOT_ELIGIBLE' } });
      expect(s.engine.digest()).toBe(before);
    }
    expect(assignments(s.when({ type: 'transfer', conversationId: 'c1', toAgentId: 'frvip' }))).toEqual([
      'c1→frvip',
    ]);
    // Into another queue: that queue's requirements, not those of the queue it leaves; its own still hold.
    const r = s.run({ type: 'transfer', conversationId: 'c1', toQueueId: 'gen', toAgentId: 'nofr' });
    expect(r).toMatchObject({ ok: false, error: { code: 'SB_ERR_AGENT_NOT_ELIGIBLE' } });
    s.online(agentConfig('genvip', { skills: [{ skill: 'vip', level: 3 }], queues: ['gen'] }));
    expect(
      assignments(s.when({ type: 'transfer', conversationId: 'c1', toQueueId: 'gen', toAgentId: 'genvip' })),
    ).toEqual(['c1→genvip']);
  });

  it('an agent who takes no calls is not eligible for one (a retry cannot help); a full agent is at capacity', () => {
    const s = new Scenario();
    s.queue(queueConfig('v', { channel: 'voice', strategy: 'manual' }));
    s.online(
      agentConfig('chatty', { capacity: { chat: 2 } }),
      agentConfig('vic', { capacity: { voice: 1 } }),
    );
    s.enqueue(conversation('c1', { channel: 'voice', queueId: 'v' }));
    s.enqueue(conversation('c2', { channel: 'voice', queueId: 'v' }));
    s.when({ type: 'assign', conversationId: 'c1', agentId: 'vic' });
    const noVoice = {
      ok: false,
      error: { code: 'SB_ERR_AGENT_NOT_ELIGIBLE', message: 'agent "chatty" takes no voice' },
    };
    expect(s.run({ type: 'assign', conversationId: 'c2', agentId: 'chatty' })).toMatchObject(noVoice);
    expect(s.run({ type: 'transfer', conversationId: 'c1', toAgentId: 'chatty' })).toMatchObject(noVoice);
    expect(s.run({ type: 'escalate', conversationId: 'c1', toAgentId: 'chatty' })).toMatchObject(noVoice);
    // vic's one voice seat is taken: that may change, so it stays AT_CAPACITY.
    expect(s.run({ type: 'assign', conversationId: 'c2', agentId: 'vic' })).toMatchObject({
      ok: false,
      error: { code: 'SB_ERR_AGENT_AT_CAPACITY' },
    });
  });

  it('a customer who leaves the queue is counted as abandoned with the time waited', () => {
    const s = chatDesk();
    s.enqueue(conversation('c1'));
    s.t += 42_000;
    const events = s.when({ type: 'cancel', conversationId: 'c1' });
    expect(only(events, 'abandoned')[0]).toMatchObject({ waitedMs: 42_000 });
    const stats = s.engine.query({ type: 'queue_stats', queueId: 'q1' }, s.t);
    expect(stats.type === 'queue_stats' && stats.stats).toMatchObject({
      waiting: 0,
      abandoned: 1,
      abandonmentRate: 1,
    });
  });

  it('a cancelled offer is rescinded and the agent is free again', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { offerTimeoutSeconds: 20 }));
    s.online(agentConfig('ann'));
    s.enqueue(conversation('c1'));
    const events = s.when({ type: 'cancel', conversationId: 'c1' });
    expect(only(events, 'offer_rescinded')[0]).toMatchObject({ agentId: 'ann', reason: 'cancelled' });
    expect(offers(s.enqueue(conversation('c2')))).toEqual(['c2→ann']);
  });
});

describe('queries', () => {
  it('explains an assignment per conversation', () => {
    const s = chatDesk();
    s.online(agentConfig('ann'));
    s.enqueue(conversation('c1'));
    const q = s.engine.query({ type: 'conversation', conversationId: 'c1' }, s.t);
    expect(q.type === 'conversation' && q.conversation).toMatchObject({
      status: 'assigned',
      agentId: 'ann',
      explanation: { rule: 'strategy', queueId: 'q1' },
    });
  });

  it('reports per-agent statistics including occupancy', () => {
    const s = chatDesk();
    s.online(agentConfig('ann'));
    s.t += 10_000;
    s.enqueue(conversation('c1'));
    s.t += 10_000;
    s.when({ type: 'end_conversation', conversationId: 'c1', outcome: 'resolved' });
    const r = s.engine.query({ type: 'agent_stats', agentId: 'ann' }, s.t);
    expect(r.type === 'agent_stats' && r.stats).toMatchObject({
      handled: 1,
      open: 0,
      averageHandleMs: 10_000,
      occupancy: 0.5,
    });
  });
});

describe("an agent's capacity or eligibility shrinks while offers ring", () => {
  /** ann (chat 3) rings for c1, c2, c3 (a second apart, 20 s offers); c4 waits; bob (chat 1) is offline. */
  function annRingingThree() {
    const s = new Scenario();
    s.queue(queueConfig('q1', { offerTimeoutSeconds: 20 }));
    s.given({ type: 'upsert_agent', agent: agentConfig('bob') });
    s.online(agentConfig('ann', { capacity: { chat: 3 } }));
    const t0 = s.t;
    for (const id of ['c1', 'c2', 'c3', 'c4']) {
      s.enqueue(conversation(id));
      s.t += 1000;
    }
    return { s, t0 };
  }

  let twins = 0;
  /** Snapshot/restore twin: both engines apply `cmd`; their digests must stay equal. */
  function both(s: Scenario, copy: ReturnType<typeof restoreEngine>, cmd: Parameters<Scenario['when']>[0]) {
    const id = `twin-${++twins}`;
    const a = s.run(cmd, id);
    const b = copy.apply({ id, at: s.t, cmd });
    expect(a.ok && b.ok).toBe(true);
    expect(copy.digest()).toBe(s.engine.digest());
    return a.ok ? a.events : [];
  }

  it('lowering the seats withdraws only the excess offers, the lowest in serving order; the rest keep ringing as they were', () => {
    const { s, t0 } = annRingingThree();
    const copy = restoreEngine(JSON.parse(JSON.stringify(s.engine.snapshot())));
    const lowered = both(s, copy, {
      type: 'upsert_agent',
      agent: agentConfig('ann', { capacity: { chat: 1 } }),
    });
    // c3 then c2 (the newest) are withdrawn; c1 keeps its desk, with no new `offered` and its expiry.
    expect(only(lowered, 'offer_rescinded').map((e) => [e.conversationId, e.reason])).toEqual([
      ['c3', 'agent_unavailable'],
      ['c2', 'agent_unavailable'],
    ]);
    expect(only(lowered, 'offered')).toEqual([]);
    const view = (id: string) => {
      const r = s.engine.query({ type: 'conversation', conversationId: id }, s.t);
      return r.type === 'conversation' ? r.conversation : null;
    };
    expect(view('c1')?.offeredTo).toEqual(['ann']);
    // The withdrawn ones are back at their places in line, ahead of c4 which arrived after them.
    expect([view('c2'), view('c3'), view('c4')].map((v) => [v?.id, v?.status, v?.position])).toEqual([
      ['c2', 'waiting', 1],
      ['c3', 'waiting', 2],
      ['c4', 'waiting', 3],
    ]);
    // Never above the new capacity: ann takes nothing more.
    expect(offers(both(s, copy, { type: 'enqueue', conversation: conversation('c5') }))).toEqual([]);
    // c1's offer times out when it always would have (t0 + 20 s), not 20 s after the change.
    s.t = t0 + 19_999;
    expect(only(both(s, copy, { type: 'tick' }), 'offer_missed')).toEqual([]);
    s.t = t0 + 20_000;
    expect(only(both(s, copy, { type: 'tick' }), 'offer_missed').map((e) => e.conversationId)).toEqual([
      'c1',
    ]);
  });

  it('the withdrawn conversations go at once to another free agent, oldest first', () => {
    const { s } = annRingingThree();
    const copy = restoreEngine(JSON.parse(JSON.stringify(s.engine.snapshot())));
    both(s, copy, { type: 'set_presence', agentId: 'bob', presence: 'online' }); // takes c4 (waiting)
    both(s, copy, { type: 'reject_offer', agentId: 'bob', conversationId: 'c4' }); // free again, c4 waits
    const lowered = both(s, copy, {
      type: 'upsert_agent',
      agent: agentConfig('ann', { capacity: { chat: 1 } }),
    });
    expect(offers(lowered)).toEqual(['c2→bob']);
  });

  it('keeps the higher-priority offer when one must go, whichever was offered first', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { offerTimeoutSeconds: 20 }));
    s.online(agentConfig('ann', { capacity: { chat: 2 } }));
    s.enqueue(conversation('low', { priority: 1 }));
    s.t += 1000;
    s.enqueue(conversation('high', { priority: 8 }));
    s.t += 1000;
    const lowered = s.when({ type: 'upsert_agent', agent: agentConfig('ann', { capacity: { chat: 1 } }) });
    expect(only(lowered, 'offer_rescinded').map((e) => e.conversationId)).toEqual(['low']);
    expect(only(lowered, 'offered')).toEqual([]);
  });

  it('counts assigned conversations, and leaves the other channels alone', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { offerTimeoutSeconds: 20 }));
    s.queue(queueConfig('v1', { channel: 'voice', offerTimeoutSeconds: 20 }));
    s.online(agentConfig('ann', { capacity: { chat: 3, voice: 1 } }));
    s.enqueue(conversation('c1'));
    s.when({ type: 'accept_offer', agentId: 'ann', conversationId: 'c1' });
    s.enqueue(conversation('c2'));
    s.enqueue(conversation('c3'));
    s.enqueue(conversation('v', { channel: 'voice', queueId: 'v1' }));
    const copy = restoreEngine(JSON.parse(JSON.stringify(s.engine.snapshot())));
    const two = both(s, copy, {
      type: 'upsert_agent',
      agent: agentConfig('ann', { capacity: { chat: 2, voice: 1 } }),
    });
    expect(only(two, 'offer_rescinded').map((e) => e.conversationId)).toEqual(['c3']);
    const one = both(s, copy, {
      type: 'upsert_agent',
      agent: agentConfig('ann', { capacity: { chat: 1, voice: 1 } }),
    });
    expect(only(one, 'offer_rescinded').map((e) => e.conversationId)).toEqual(['c2']);
    expect([...only(two, 'offered'), ...only(one, 'offered')]).toEqual([]);
    const view = s.engine.query({ type: 'conversation', conversationId: 'v' }, s.t);
    expect(view.type === 'conversation' && view.conversation?.offeredTo).toEqual(['ann']);
  });

  it("losing a conversation's own skill withdraws that offer alone", () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { offerTimeoutSeconds: 20 }));
    const fr = [{ skill: 'lang:fr', level: 5 }];
    s.online(agentConfig('ann', { capacity: { chat: 2 }, skills: fr }));
    s.enqueue(conversation('any'));
    s.enqueue(conversation('fr', { requiredSkills: [{ skill: 'lang:fr', minLevel: 3 }] }));
    s.online(agentConfig('zoe', { skills: fr }));
    const copy = restoreEngine(JSON.parse(JSON.stringify(s.engine.snapshot())));
    const lost = both(s, copy, {
      type: 'upsert_agent',
      agent: agentConfig('ann', { capacity: { chat: 2 } }),
    });
    expect(only(lost, 'offer_rescinded').map((e) => e.conversationId)).toEqual(['fr']);
    // Routed again at once, to the French speaker; `any` rings on untouched.
    expect(offers(lost)).toEqual(['fr→zoe']);
  });

  it('an agent the overflow step due by now admits keeps ringing (routed again it would ring there at once)', () => {
    const s = new Scenario();
    const fr = (min: number) =>
      queueConfig('q1', {
        offerTimeoutSeconds: 60,
        requiredSkills: [{ skill: 'lang:fr', minLevel: min }],
        overflow: [{ afterSeconds: 10, action: { kind: 'relax_skills', by: 2 } }],
      });
    s.queue(fr(5));
    s.online(agentConfig('ann', { skills: [{ skill: 'lang:fr', level: 5 }] }));
    s.enqueue(conversation('c1'));
    s.t += 20_000; // the relax step is due, but steps do not apply while it rings
    const copy = restoreEngine(JSON.parse(JSON.stringify(s.engine.snapshot())));
    const lower = both(s, copy, {
      type: 'upsert_agent',
      agent: agentConfig('ann', { skills: [{ skill: 'lang:fr', level: 3 }] }),
    });
    const stricter = both(s, copy, { type: 'upsert_queue', queue: fr(4) });
    expect([...lower, ...stricter].filter((e) => e.type !== 'alert')).toEqual([]);
    // Beyond what even the due step admits, it goes.
    const gone = both(s, copy, {
      type: 'upsert_agent',
      agent: agentConfig('ann', { skills: [{ skill: 'lang:fr', level: 1 }] }),
    });
    expect(only(gone, 'offer_rescinded').map((e) => e.conversationId)).toEqual(['c1']);
  });

  it('a queue change that leaves an agent out withdraws its offers there; one that keeps it changes nothing', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { offerTimeoutSeconds: 20 }));
    s.queue(queueConfig('q2', { offerTimeoutSeconds: 20 }));
    s.online(agentConfig('ann', { capacity: { chat: 2 } }));
    s.enqueue(conversation('c1'));
    s.enqueue(conversation('c2', { queueId: 'q2' }));
    s.online(agentConfig('bill', { skills: [{ skill: 'billing', level: 3 }] }));
    const copy = restoreEngine(JSON.parse(JSON.stringify(s.engine.snapshot())));
    const same = both(s, copy, {
      type: 'upsert_queue',
      queue: queueConfig('q1', { offerTimeoutSeconds: 20, maxSize: 50 }),
    });
    expect(same.filter((e) => e.type !== 'alert')).toEqual([]);
    const billing = both(s, copy, {
      type: 'upsert_queue',
      queue: queueConfig('q1', {
        offerTimeoutSeconds: 20,
        requiredSkills: [{ skill: 'billing', minLevel: 1 }],
      }),
    });
    expect(only(billing, 'offer_rescinded').map((e) => [e.conversationId, e.agentId])).toEqual([
      ['c1', 'ann'],
    ]);
    expect(offers(billing)).toEqual(['c1→bill']);
    const view = s.engine.query({ type: 'conversation', conversationId: 'c2' }, s.t);
    expect(view.type === 'conversation' && view.conversation?.offeredTo).toEqual(['ann']);
  });
});

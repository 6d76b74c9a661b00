import { describe, expect, it } from 'vitest';
import { agentConfig, assignments, conversation, only, queueConfig, Scenario } from './fixtures.js';
import { restoreEngine } from './index.js';

describe('overflow steps', () => {
  it('after the configured wait, skill levels are relaxed and a less proficient agent takes the conversation', () => {
    const s = new Scenario();
    s.queue(
      queueConfig('q1', {
        requiredSkills: [{ skill: 'billing', minLevel: 5 }],
        overflow: [{ afterSeconds: 30, action: { kind: 'relax_skills', by: 2 } }],
      }),
    );
    s.online(agentConfig('junior', { skills: [{ skill: 'billing', level: 3 }] }));
    expect(assignments(s.enqueue(conversation('c1')))).toEqual([]);
    expect(s.engine.nextTimerAt()).toBe(s.t + 30_000);
    const events = s.advance(30_000);
    expect(only(events, 'overflowed')[0]).toMatchObject({ step: 0, action: { kind: 'relax_skills', by: 2 } });
    expect(only(events, 'assigned')[0]).toMatchObject({
      agentId: 'junior',
      explanation: { relaxed: ['relax_skills:2'], waitedMs: 30_000 },
    });
  });

  it('a dropped language requirement lets any agent of the queue answer', () => {
    const s = new Scenario();
    s.queue(
      queueConfig('q1', {
        requiredSkills: [{ skill: 'lang:fr', minLevel: 1 }],
        overflow: [{ afterSeconds: 60, action: { kind: 'drop_skills', skills: ['lang:fr'] } }],
      }),
    );
    s.online(agentConfig('en-only'));
    s.enqueue(conversation('c1'));
    expect(assignments(s.advance(59_000))).toEqual([]);
    expect(assignments(s.advance(1_000))).toEqual(['c1→en-only']);
  });

  it('widening to another queue offers the conversation to that queue’s agents', () => {
    const s = new Scenario();
    s.queue(queueConfig('sales', { requiredSkills: [{ skill: 'sales', minLevel: 1 }] }));
    s.queue(
      queueConfig('vip', {
        requiredSkills: [{ skill: 'vip', minLevel: 1 }],
        overflow: [{ afterSeconds: 20, action: { kind: 'widen_to_queue', queueId: 'sales' } }],
      }),
    );
    s.online(agentConfig('seller', { skills: [{ skill: 'sales', level: 4 }] }));
    s.enqueue(conversation('c1', { queueId: 'vip' }));
    const events = s.advance(20_000);
    expect(only(events, 'assigned')[0]).toMatchObject({
      agentId: 'seller',
      queueId: 'vip',
      explanation: { relaxed: ['widen_to_queue:sales'] },
    });
  });

  it('escalating to a tier only lets agents of at least that tier take it', () => {
    const s = new Scenario();
    s.queue(
      queueConfig('q1', {
        requiredSkills: [{ skill: 'tech', minLevel: 8 }],
        overflow: [
          { afterSeconds: 10, action: { kind: 'relax_skills', by: 5 } },
          { afterSeconds: 10, action: { kind: 'escalate_tier', tier: 2 } },
        ],
      }),
    );
    s.online(
      agentConfig('tier1', { skills: [{ skill: 'tech', level: 4 }] }),
      agentConfig('tier2', { skills: [{ skill: 'tech', level: 4 }], tier: 2 }),
    );
    s.enqueue(conversation('c1'));
    const events = s.advance(10_000);
    expect(only(events, 'overflowed')).toHaveLength(2);
    expect(assignments(events)).toEqual(['c1→tier2']);
  });
});

describe('reconfiguring a queue others widen into', () => {
  it('a conversation widened to another queue is served at once when that queue is relaxed and its agent is idle', () => {
    const s = new Scenario();
    s.queue(queueConfig('sales', { requiredSkills: [{ skill: 'sales', minLevel: 5 }] }));
    s.queue(
      queueConfig('vip', {
        requiredSkills: [{ skill: 'vip', minLevel: 1 }],
        overflow: [{ afterSeconds: 20, action: { kind: 'widen_to_queue', queueId: 'sales' } }],
      }),
    );
    s.online(agentConfig('seller', { skills: [{ skill: 'sales', level: 3 }] }));
    s.enqueue(conversation('c1', { queueId: 'vip' }));
    expect(only(s.advance(20_000), 'overflowed')).toHaveLength(1);
    s.t += 1000;
    const events = s.when({
      type: 'upsert_queue',
      queue: queueConfig('sales', { requiredSkills: [{ skill: 'sales', minLevel: 1 }] }),
    });
    expect(assignments(events)).toEqual(['c1→seller']);
  });
});

describe('transfer and escalation', () => {
  function talking() {
    const s = new Scenario();
    s.queue(queueConfig('support'));
    s.queue(queueConfig('billing', { requiredSkills: [{ skill: 'billing', minLevel: 1 }] }));
    s.online(agentConfig('ann'));
    s.enqueue(conversation('c1', { queueId: 'support' }));
    return s;
  }

  it('an agent transfers a conversation to another queue; it is answered there and the agent is free', () => {
    const s = talking();
    s.online(agentConfig('biller', { skills: [{ skill: 'billing', level: 5 }] }));
    const events = s.when({ type: 'transfer', conversationId: 'c1', toQueueId: 'billing' });
    expect(only(events, 'transferred')[0]).toMatchObject({
      fromAgentId: 'ann',
      queueId: 'billing',
      toAgentId: null,
    });
    expect(assignments(events)).toEqual(['c1→biller']);
    expect(assignments(s.enqueue(conversation('c2', { queueId: 'support' })))).toEqual(['c2→ann']);
    const stats = s.engine.query({ type: 'queue_stats', queueId: 'support' }, s.t);
    expect(stats.type === 'queue_stats' && stats.stats?.transferred).toBe(1);
  });

  it('an agent who transfers a conversation to a queue takes the older conversation waiting, not the one just transferred', () => {
    const s = new Scenario();
    s.queue(queueConfig('support'));
    s.queue(queueConfig('billing'));
    s.online(agentConfig('ann')); // serves both queues, 1 chat seat
    s.enqueue(conversation('c1', { queueId: 'support' })); // → ann
    s.enqueue(conversation('old', { queueId: 'support' })); // waits
    s.t += 120_000;
    const events = s.when({ type: 'transfer', conversationId: 'c1', toQueueId: 'billing' });
    expect(assignments(events)).toEqual(['old→ann']);
    expect(only(events, 'queued')).toMatchObject([{ conversationId: 'c1', queueId: 'billing', position: 1 }]);
  });

  it('a conversation transferred to a queue waits for another agent rather than going back to the one who transferred it', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1'));
    s.online(agentConfig('ann'), agentConfig('bob'));
    s.enqueue(conversation('busy')); // → ann
    s.enqueue(conversation('c1')); // → bob
    const events = s.when({ type: 'transfer', conversationId: 'c1', toQueueId: 'q1' });
    expect(assignments(events)).toEqual([]);
    s.t += 10_000;
    // ann frees up first: she takes it.
    const ended = s.when({ type: 'end_conversation', conversationId: 'busy', outcome: 'resolved' });
    expect(assignments(ended)).toEqual(['c1→ann']);
  });

  it('a conversation transferred to a queue goes back to the agent who transferred it at its re-check when nobody else takes it', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1'));
    s.online(agentConfig('bob'));
    s.enqueue(conversation('c1')); // → bob
    expect(assignments(s.when({ type: 'transfer', conversationId: 'c1', toQueueId: 'q1' }))).toEqual([]);
    expect(assignments(s.advance(29_999))).toEqual([]);
    expect(assignments(s.advance(1))).toEqual(['c1→bob']);
  });

  it('an agent transfers a conversation directly to a colleague', () => {
    const s = talking();
    s.online(agentConfig('bob'));
    const events = s.when({ type: 'transfer', conversationId: 'c1', toAgentId: 'bob' });
    expect(only(events, 'assigned')[0]).toMatchObject({ agentId: 'bob', explanation: { rule: 'transfer' } });
  });

  it('a transfer to a colleague without free capacity is refused and nothing changes', () => {
    const s = talking();
    s.online(agentConfig('bob'));
    expect(assignments(s.enqueue(conversation('c2', { queueId: 'support' })))).toEqual(['c2→bob']);
    const before = s.engine.digest();
    const r = s.run({ type: 'transfer', conversationId: 'c1', toAgentId: 'bob' });
    expect(r).toMatchObject({ ok: false, error: { code: 'SB_ERR_AGENT_AT_CAPACITY', field: 'toAgentId' } });
    expect(s.engine.digest()).toBe(before);
  });

  it('a conversation transferred back to waiting shows no explanation until it is assigned again', () => {
    const s = talking();
    const explanation = () => {
      const v = s.engine.query({ type: 'conversation', conversationId: 'c1' }, s.t);
      return v.type === 'conversation' ? v.conversation?.explanation : undefined;
    };
    expect(explanation()).toMatchObject({ rule: 'strategy', queueId: 'support' });
    s.when({ type: 'transfer', conversationId: 'c1', toQueueId: 'billing' }); // nobody serves billing yet
    expect(explanation()).toBeNull();
    const restored = restoreEngine(JSON.parse(JSON.stringify(s.engine.snapshot())));
    expect(restored.digest()).toBe(s.engine.digest());
    s.online(agentConfig('biller', { skills: [{ skill: 'billing', level: 5 }] }));
    expect(explanation()).toMatchObject({ rule: 'strategy', queueId: 'billing' });
  });

  it('the end and a transfer name every agent they release, escalation helpers included', () => {
    const s = talking();
    s.online(agentConfig('senior', { tier: 3 }), agentConfig('bob'));
    s.when({ type: 'escalate', conversationId: 'c1', toAgentId: 'senior' });
    const moved = only(s.when({ type: 'transfer', conversationId: 'c1', toAgentId: 'bob' }), 'transferred');
    expect(moved[0]).toMatchObject({ fromAgentId: 'ann', fromParticipants: ['ann', 'senior'] });
    s.when({ type: 'escalate', conversationId: 'c1', toAgentId: 'senior' });
    const ended = s.when({ type: 'end_conversation', conversationId: 'c1', outcome: 'resolved' });
    expect(only(ended, 'conversation_ended')[0]).toMatchObject({
      agentId: 'bob',
      participants: ['bob', 'senior'],
    });
    s.enqueue(conversation('c2', { queueId: 'support' }));
    const alone = s.when({ type: 'end_conversation', conversationId: 'c2', outcome: 'resolved' });
    expect(only(alone, 'conversation_ended')[0]!.participants).toHaveLength(1);
  });

  it('escalation adds a senior as a second participant who uses a seat until the end', () => {
    const s = talking();
    s.online(agentConfig('senior', { tier: 3 }));
    const events = s.when({ type: 'escalate', conversationId: 'c1', toTier: 2 });
    expect(only(events, 'escalated')[0]).toMatchObject({
      agentId: 'senior',
      explanation: { rule: 'escalation', candidates: 1 },
    });
    const view = s.engine.query({ type: 'conversation', conversationId: 'c1' }, s.t);
    expect(view.type === 'conversation' && view.conversation?.participants).toEqual(['ann', 'senior']);
    expect(only(s.enqueue(conversation('c2', { queueId: 'support' })), 'queued')).toHaveLength(1);
    const ended = s.when({ type: 'end_conversation', conversationId: 'c1', outcome: 'resolved' });
    expect(assignments(ended)).toHaveLength(1);
  });

  it('escalation to a tier goes to the least busy agent of that tier or above, following tier changes', () => {
    const s = talking();
    s.t += 1000;
    s.online(agentConfig('lead', { tier: 2, capacity: { chat: 3 } }));
    s.t += 1000;
    s.online(agentConfig('head', { tier: 3, capacity: { chat: 3 } }));
    s.t += 1000;
    s.online(agentConfig('junior', { tier: 1, capacity: { chat: 3 } }));
    // Tier 2 or above: lead and head are free; lead has been idle longer. junior (tier 1) is never asked.
    // The event says why: the escalation rule, two agents of the tier considered.
    expect(only(s.when({ type: 'escalate', conversationId: 'c1', toTier: 2 }), 'escalated')[0]).toMatchObject(
      {
        agentId: 'lead',
        explanation: { rule: 'escalation', candidates: 2, queueId: 'support' },
      },
    );
    // The conversation keeps the explanation of its assignment.
    const view = s.engine.query({ type: 'conversation', conversationId: 'c1' }, s.t);
    expect(view.type === 'conversation' && view.conversation?.explanation?.rule).toBe('strategy');
    // head is moved down to tier 1 and junior up to tier 4: escalation follows the new tiers.
    s.given({ type: 'upsert_agent', agent: agentConfig('head', { tier: 1, capacity: { chat: 3 } }) });
    s.given({ type: 'upsert_agent', agent: agentConfig('junior', { tier: 4, capacity: { chat: 3 } }) });
    expect(only(s.when({ type: 'escalate', conversationId: 'c1', toTier: 3 }), 'escalated')[0]).toMatchObject(
      {
        agentId: 'junior',
      },
    );
    // A removed agent is no longer a candidate.
    s.given({ type: 'end_conversation', conversationId: 'c1', outcome: 'resolved' });
    s.given({ type: 'remove_agent', agentId: 'junior' });
    s.enqueue(conversation('c2', { queueId: 'support' }));
    const r = s.run({ type: 'escalate', conversationId: 'c2', toTier: 3 });
    expect(r).toMatchObject({ ok: false, error: { code: 'SB_ERR_AGENT_NOT_ELIGIBLE', field: 'toTier' } });
  });

  it('escalation to a tier prefers a senior who can serve the conversation, and says when none could', () => {
    const s = new Scenario();
    s.queue(queueConfig('tech', { requiredSkills: [{ skill: 'tech', minLevel: 1 }] }));
    s.queue(queueConfig('bill', { requiredSkills: [{ skill: 'billing', minLevel: 1 }] }));
    s.online(
      agentConfig('t1', {
        skills: [
          { skill: 'tech', level: 5 },
          { skill: 'lang:fr', level: 5 },
        ],
      }),
    );
    // Idle longest, so the least-busy order alone would pick each of these first.
    s.online(
      agentConfig('billsenior', { tier: 2, skills: [{ skill: 'billing', level: 9 }], queues: ['bill'] }),
    );
    s.online(agentConfig('techbill', { tier: 2, skills: [{ skill: 'tech', level: 9 }], queues: ['bill'] }));
    s.online(agentConfig('techen', { tier: 3, skills: [{ skill: 'tech', level: 9 }] }));
    s.t += 1000;
    s.online(
      agentConfig('techsenior', {
        tier: 2,
        skills: [
          { skill: 'tech', level: 9 },
          { skill: 'lang:fr', level: 9 },
        ],
      }),
    );
    // A French technical conversation: the queue asks for tech, the conversation for French too.
    const fr = [{ skill: 'lang:fr', minLevel: 1 }];
    expect(assignments(s.enqueue(conversation('c1', { queueId: 'tech', requiredSkills: fr })))).toEqual([
      'c1→t1',
    ]);
    // Not billsenior (no tech skill, kept to billing), techbill (tech, but kept to billing) nor techen
    // (no French): techsenior, the one of the four who can serve it.
    expect(only(s.when({ type: 'escalate', conversationId: 'c1', toTier: 2 }), 'escalated')[0]).toMatchObject(
      {
        agentId: 'techsenior',
        explanation: { rule: 'escalation', candidates: 1, qualified: true },
      },
    );
    // techsenior now has no free seat (the escalation took it): with nobody of the tier able to serve
    // the next one, the least busy of the others still comes (a supervisor asked for help), and the
    // event says it was a fallback among those three.
    s.t += 1000;
    s.online(
      agentConfig('t2', {
        skills: [
          { skill: 'tech', level: 5 },
          { skill: 'lang:fr', level: 5 },
        ],
      }),
    );
    s.enqueue(conversation('c3', { queueId: 'tech', requiredSkills: fr }));
    expect(only(s.when({ type: 'escalate', conversationId: 'c3', toTier: 2 }), 'escalated')[0]).toMatchObject(
      {
        agentId: 'billsenior',
        explanation: { rule: 'escalation', candidates: 3, qualified: false },
      },
    );
    // A named senior is added as asked; the event says whether they can serve the conversation.
    expect(
      only(s.when({ type: 'escalate', conversationId: 'c3', toAgentId: 'techen' }), 'escalated')[0]
        ?.explanation,
    ).toMatchObject({ candidates: 1, qualified: false });
  });

  it('escalation with nobody of the tier available is refused', () => {
    const s = talking();
    const r = s.run({ type: 'escalate', conversationId: 'c1', toTier: 3 });
    expect(r).toMatchObject({ ok: false, error: { code: 'SB_ERR_AGENT_NOT_ELIGIBLE', field: 'toTier' } });
  });
});

describe('missed offers', () => {
  it('an agent who misses K offers in a row is set away with an alert, and the conversation moves on', () => {
    const s = new Scenario();
    s.given({
      type: 'set_routing_config',
      config: {
        maxMissedOffers: 2,
        agingPerMinute: 1,
        slaDrivenPriority: false,
        queueRules: [],
        slaAtRiskMargin: 0.05,
      },
    });
    s.queue(queueConfig('q1', { offerTimeoutSeconds: 10 }));
    s.online(agentConfig('sleepy'));
    s.enqueue(conversation('c1'));
    const first = s.advance(10_000);
    expect(only(first, 'offer_missed')[0]).toMatchObject({ consecutiveMisses: 1 });
    s.enqueue(conversation('c2'));
    const second = s.advance(10_000);
    expect(only(second, 'offer_missed').map((e) => e.consecutiveMisses)).toEqual([2]);
    expect(only(second, 'presence_changed')[0]).toMatchObject({
      agentId: 'sleepy',
      presence: 'away',
      reason: 'missed_offers',
    });
    expect(only(second, 'alert')[0]).toMatchObject({
      alert: 'agent_missed_offers',
      agentId: 'sleepy',
      value: 2,
    });
    const stats = s.engine.query({ type: 'agent_stats', agentId: 'sleepy' }, s.t);
    expect(stats.type === 'agent_stats' && stats.stats).toMatchObject({ presence: 'away', missedOffers: 2 });
  });

  it('an accepted offer resets the consecutive miss count', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { offerTimeoutSeconds: 10 }));
    s.online(agentConfig('ann'));
    s.enqueue(conversation('c1'));
    s.when({ type: 'reject_offer', agentId: 'ann', conversationId: 'c1' });
    s.enqueue(conversation('c2'));
    s.when({ type: 'accept_offer', agentId: 'ann', conversationId: 'c2' });
    const stats = s.engine.query({ type: 'agent_stats', agentId: 'ann' }, s.t);
    expect(stats.type === 'agent_stats' && stats.stats).toMatchObject({
      consecutiveMisses: 0,
      missedOffers: 1,
    });
  });
});

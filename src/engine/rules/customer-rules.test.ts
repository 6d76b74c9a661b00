import { describe, expect, it } from 'vitest';
import {
  agentConfig,
  assignments,
  conversation,
  customerConfig,
  only,
  queueConfig,
  Scenario,
} from '../fixtures.js';

function desk(o: Parameters<typeof queueConfig>[1] = {}) {
  const s = new Scenario();
  s.queue(queueConfig('q1', o));
  return s;
}

describe('dedicated agent', () => {
  it('a high-value customer goes to their dedicated agent even when another agent is idle longer', () => {
    const s = desk();
    s.online(agentConfig('idle-longest'));
    s.t += 60_000;
    s.online(agentConfig('dedicated'));
    s.given({
      type: 'upsert_customer',
      customer: customerConfig('vip', { valueTier: 'high_value', dedicatedAgentId: 'dedicated' }),
    });
    const events = s.enqueue(conversation('c1', { customer: { id: 'vip' } }));
    expect(assignments(events)).toEqual(['c1→dedicated']);
    expect(only(events, 'assigned')[0]!.explanation.rule).toBe('dedicated_agent');
  });

  it('a standard customer with a dedicated agent on file is routed by the strategy', () => {
    const s = desk();
    s.online(agentConfig('first'));
    s.t += 1000;
    s.online(agentConfig('dedicated'));
    s.given({ type: 'upsert_customer', customer: customerConfig('std', { dedicatedAgentId: 'dedicated' }) });
    expect(assignments(s.enqueue(conversation('c1', { customer: { id: 'std' } })))).toEqual(['c1→first']);
  });

  it('a busy dedicated agent is waited for within the wait budget, then gets the conversation', () => {
    const s = desk({ previousAgentWaitSeconds: 60 });
    s.online(agentConfig('dedicated'), agentConfig('other'));
    s.given({
      type: 'upsert_customer',
      customer: customerConfig('vip', { valueTier: 'high_value', dedicatedAgentId: 'dedicated' }),
    });
    s.enqueue(conversation('busy-1', { customer: { id: 'someone' } }));
    s.given({ type: 'set_presence', agentId: 'other', presence: 'away' });
    s.given({ type: 'set_presence', agentId: 'other', presence: 'online' });
    const waiting = s.enqueue(conversation('c1', { customer: { id: 'vip' } }));
    expect(assignments(waiting)).toEqual([]);
    expect(only(waiting, 'queued')).toHaveLength(1);
    s.t += 10_000;
    const freed = s.when({ type: 'end_conversation', conversationId: 'busy-1', outcome: 'resolved' });
    expect(assignments(freed)).toEqual(['c1→dedicated']);
  });
});

describe('previous agent', () => {
  it('a returning customer goes back to the previous agent when that agent is online', () => {
    const s = desk();
    s.online(agentConfig('ann', { capacity: { chat: 2 } }), agentConfig('bob', { capacity: { chat: 2 } }));
    s.enqueue(conversation('first', { customer: { id: 'alice' } }));
    const who = s.engine.query({ type: 'conversation', conversationId: 'first' }, s.t);
    const prev = who.type === 'conversation' ? who.conversation!.agentId! : '';
    s.when({ type: 'end_conversation', conversationId: 'first', outcome: 'resolved' });
    // Make the previous agent the less attractive one for the strategy.
    s.enqueue(conversation('other', { customer: { id: 'zed' } }));
    const events = s.enqueue(conversation('second', { customer: { id: 'alice' } }));
    expect(only(events, 'assigned')[0]).toMatchObject({
      agentId: prev,
      explanation: { rule: 'previous_agent' },
    });
  });

  it('a returning customer whose previous agent is busy falls back to the strategy without a wait budget', () => {
    const s = desk();
    s.online(agentConfig('ann'), agentConfig('bob'));
    s.given({ type: 'upsert_customer', customer: customerConfig('alice', { previousAgents: ['ann'] }) });
    s.enqueue(conversation('busy', { customer: { id: 'zed' } }));
    const events = s.enqueue(conversation('c1', { customer: { id: 'alice' } }));
    expect(assignments(events)).toEqual(['c1→bob']);
  });

  it('a returning customer waits up to the budget for the previous agent, then falls back', () => {
    const s = desk({ previousAgentWaitSeconds: 30 });
    s.online(agentConfig('ann'));
    s.given({ type: 'upsert_customer', customer: customerConfig('alice', { previousAgents: ['ann'] }) });
    s.enqueue(conversation('busy', { customer: { id: 'zed' } }));
    s.online(agentConfig('bob'));
    const events = s.enqueue(conversation('c1', { customer: { id: 'alice' } }));
    expect(assignments(events)).toEqual([]);
    expect(s.engine.nextTimerAt()).toBe(s.t + 30_000);
    expect(assignments(s.advance(29_000))).toEqual([]);
    const fallback = s.advance(1_000);
    expect(only(fallback, 'assigned')[0]).toMatchObject({
      agentId: 'bob',
      explanation: { rule: 'strategy', waitedMs: 30_000 },
    });
  });

  it('a returning customer does not wait for a previous agent who is offline', () => {
    const s = desk({ previousAgentWaitSeconds: 30 });
    s.given({ type: 'upsert_agent', agent: agentConfig('ann') });
    s.online(agentConfig('bob'));
    s.given({ type: 'upsert_customer', customer: customerConfig('alice', { previousAgents: ['ann'] }) });
    expect(assignments(s.enqueue(conversation('c1', { customer: { id: 'alice' } })))).toEqual(['c1→bob']);
  });
});

describe('new customers to new agents', () => {
  it('a first-time customer goes to a newer agent when the queue asks for it', () => {
    const s = desk({ newCustomersToNewAgents: true });
    s.online(agentConfig('veteran'));
    s.t += 1000;
    s.online(agentConfig('rookie', { seniority: 'new' }));
    const events = s.enqueue(conversation('c1', { customer: { id: 'newbie' } }));
    expect(only(events, 'assigned')[0]).toMatchObject({
      agentId: 'rookie',
      explanation: { rule: 'new_customer_to_new_agent' },
    });
  });

  it('a returning customer is routed by the strategy, not steered to newer agents', () => {
    const s = desk({ newCustomersToNewAgents: true });
    s.online(agentConfig('veteran', { capacity: { chat: 3 } }));
    s.t += 1000;
    s.online(agentConfig('rookie', { seniority: 'new', capacity: { chat: 3 } }));
    s.given({ type: 'upsert_customer', customer: customerConfig('known', { previousAgents: ['gone'] }) });
    expect(assignments(s.enqueue(conversation('c1', { customer: { id: 'known' } })))).toEqual(['c1→veteran']);
  });

  it('without the option, first-time customers are routed by the strategy', () => {
    const s = desk();
    s.online(agentConfig('veteran'));
    s.t += 1000;
    s.online(agentConfig('rookie', { seniority: 'new' }));
    expect(assignments(s.enqueue(conversation('c1')))).toEqual(['c1→veteran']);
  });
});

describe('customer rules under round robin: a conversation a rule gives an agent is their turn', () => {
  const roundRobin = (o: Parameters<typeof queueConfig>[1] = {}) => desk({ strategy: 'round_robin', ...o });

  it('first-time customers rotate among the newer agents', () => {
    const s = roundRobin({ newCustomersToNewAgents: true });
    s.online(agentConfig('vet', { capacity: { chat: 3 } }));
    s.online(agentConfig('rook1', { seniority: 'new', capacity: { chat: 3 } }));
    s.online(agentConfig('rook2', { seniority: 'new', capacity: { chat: 3 } }));
    const got = [0, 1, 2, 3].flatMap((i) => assignments(s.enqueue(conversation(`n${i}`))));
    expect(got).toEqual(['n0→rook1', 'n1→rook2', 'n2→rook1', 'n3→rook2']);
  });

  it('the next customer after one sent back to their previous agent goes to the other agent', () => {
    const s = roundRobin();
    s.online(agentConfig('ann', { capacity: { chat: 3 } }), agentConfig('bob', { capacity: { chat: 3 } }));
    s.given({ type: 'upsert_customer', customer: customerConfig('alice', { previousAgents: ['ann'] }) });
    expect(assignments(s.enqueue(conversation('c1', { customer: { id: 'alice' } })))).toEqual(['c1→ann']);
    expect(assignments(s.enqueue(conversation('c2')))).toEqual(['c2→bob']);
  });

  it('the next customer after a high-value one goes to the other agent than the dedicated one', () => {
    const s = roundRobin();
    s.online(agentConfig('ann', { capacity: { chat: 3 } }), agentConfig('bob', { capacity: { chat: 3 } }));
    s.given({
      type: 'upsert_customer',
      customer: customerConfig('vip', { valueTier: 'high_value', dedicatedAgentId: 'ann' }),
    });
    expect(assignments(s.enqueue(conversation('c1', { customer: { id: 'vip' } })))).toEqual(['c1→ann']);
    expect(assignments(s.enqueue(conversation('c2')))).toEqual(['c2→bob']);
  });

  it("a customer held for their previous agent uses up that agent's turn when they take them", () => {
    const s = roundRobin({ previousAgentWaitSeconds: 60 });
    s.online(agentConfig('ann'), agentConfig('bob'));
    s.given({ type: 'upsert_customer', customer: customerConfig('alice', { previousAgents: ['ann'] }) });
    expect(assignments(s.enqueue(conversation('x0')))).toEqual(['x0→ann']);
    expect(assignments(s.enqueue(conversation('x1')))).toEqual(['x1→bob']);
    expect(assignments(s.enqueue(conversation('c1', { customer: { id: 'alice' } })))).toEqual([]);
    s.t += 1_000;
    const freed = s.when({ type: 'end_conversation', conversationId: 'x0', outcome: 'resolved' });
    expect(assignments(freed)).toEqual(['c1→ann']);
    s.given(
      { type: 'end_conversation', conversationId: 'c1', outcome: 'resolved' },
      { type: 'end_conversation', conversationId: 'x1', outcome: 'resolved' },
    );
    // ann had x0 and alice, bob x1: bob's turn.
    expect(assignments(s.enqueue(conversation('x2')))).toEqual(['x2→bob']);
  });
});

describe('queue rules', () => {
  it('a conversation without a queue goes to the first queue whose rule matches channel, topic and skills', () => {
    const s = new Scenario();
    s.queue(queueConfig('billing'));
    s.queue(queueConfig('general'));
    s.given({
      type: 'set_routing_config',
      config: {
        maxMissedOffers: 3,
        agingPerMinute: 1,
        slaDrivenPriority: false,
        slaAtRiskMargin: 0.05,
        queueRules: [
          { topic: 'invoice', queueId: 'billing' },
          { channel: 'chat', queueId: 'general' },
        ],
      },
    });
    const r1 = s.run({
      type: 'enqueue',
      conversation: conversation('c1', { queueId: undefined, topic: 'invoice' }),
    });
    const r2 = s.run({
      type: 'enqueue',
      conversation: conversation('c2', { queueId: undefined, topic: 'login' }),
    });
    expect(r1.ok && r1.reply).toMatchObject({ queueId: 'billing' });
    expect(r2.ok && r2.reply).toMatchObject({ queueId: 'general' });
  });

  it('a conversation without a queue and no matching rule is refused', () => {
    const s = new Scenario().queue(queueConfig('q1'));
    const r = s.run({ type: 'enqueue', conversation: conversation('c1', { queueId: undefined }) });
    expect(r).toMatchObject({ ok: false, error: { code: 'SB_ERR_NO_QUEUE_MATCHES' } });
  });
});

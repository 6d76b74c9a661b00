import { describe, expect, it } from 'vitest';
import {
  agentConfig,
  assignments,
  conversation,
  customerConfig,
  only,
  queueConfig,
  routingConfig,
  Scenario,
} from '../fixtures.js';
import { restoreEngine } from '../index.js';
import type { Command } from '../types.js';

/** A chat queue and a voice queue, both with a wait budget. */
function desks(budgetSeconds = 60) {
  const s = new Scenario();
  s.queue(queueConfig('chatq', { channel: 'chat', previousAgentWaitSeconds: budgetSeconds }));
  s.queue(queueConfig('voiceq', { channel: 'voice', previousAgentWaitSeconds: budgetSeconds }));
  return s;
}

const call = (id: string, customer: string) =>
  conversation(id, { channel: 'voice', queueId: 'voiceq', customer: { id: customer } });

describe('wait budget: only for an agent who could take the conversation', () => {
  it('a returning caller is not held for a previous agent without a voice seat: an idle voice agent answers', () => {
    const s = desks();
    s.online(agentConfig('chat-only', { capacity: { chat: 3 } }));
    s.online(agentConfig('voice', { capacity: { voice: 1 } }));
    s.given({
      type: 'upsert_customer',
      customer: customerConfig('alice', { previousAgents: ['chat-only'] }),
    });
    const events = s.enqueue(call('call-1', 'alice'));
    expect(assignments(events)).toEqual(['call-1→voice']);
    expect(only(events, 'assigned')[0]!.explanation).toMatchObject({ rule: 'strategy', waitedMs: 0 });
  });

  it('a high-value caller is not held for a dedicated agent without a voice seat', () => {
    const s = desks();
    s.online(agentConfig('ded', { capacity: { chat: 3 } }));
    s.online(agentConfig('voice', { capacity: { voice: 1 } }));
    s.given({
      type: 'upsert_customer',
      customer: customerConfig('vip', { valueTier: 'high_value', dedicatedAgentId: 'ded' }),
    });
    expect(assignments(s.enqueue(call('call-1', 'vip')))).toEqual(['call-1→voice']);
  });

  it("a returning customer is not held for a previous agent lacking the conversation's own skill", () => {
    const s = desks();
    s.online(agentConfig('ann', { capacity: { chat: 3 } }));
    s.online(agentConfig('fr', { capacity: { chat: 3 }, skills: [{ skill: 'lang:fr', level: 5 }] }));
    s.given({ type: 'upsert_customer', customer: customerConfig('alice', { previousAgents: ['ann'] }) });
    const events = s.enqueue(
      conversation('c1', {
        queueId: 'chatq',
        customer: { id: 'alice' },
        requiredSkills: [{ skill: 'lang:fr', minLevel: 3 }],
      }),
    );
    expect(assignments(events)).toEqual(['c1→fr']);
  });

  it('a returning caller is held for the most recent previous agent who could take the call', () => {
    const s = desks(30);
    s.online(agentConfig('chat-only', { capacity: { chat: 3 } }));
    s.online(agentConfig('voice-1', { capacity: { voice: 1 } }));
    s.given({
      type: 'upsert_customer',
      customer: customerConfig('alice', { previousAgents: ['chat-only', 'voice-1'] }),
    });
    s.enqueue(call('busy', 'zed'));
    s.online(agentConfig('voice-2', { capacity: { voice: 1 } }));
    const held = s.enqueue(call('call-1', 'alice'));
    expect(assignments(held)).toEqual([]);
    expect(s.engine.nextTimerAt()).toBe(s.t + 30_000);
    s.t += 5_000;
    const freed = s.when({ type: 'end_conversation', conversationId: 'busy', outcome: 'resolved' });
    expect(assignments(freed)).toEqual(['call-1→voice-1']);
    expect(only(freed, 'assigned')[0]!.explanation.rule).toBe('previous_agent');
  });
});

/** ann busy with one chat, bob free, alice a returning customer of ann's held for her (budget 120 s). */
function heldForAnn() {
  const s = new Scenario();
  s.queue(queueConfig('q1', { previousAgentWaitSeconds: 120 }));
  s.online(agentConfig('ann'));
  s.given({ type: 'upsert_customer', customer: customerConfig('alice', { previousAgents: ['ann'] }) });
  s.enqueue(conversation('busy', { customer: { id: 'zed' } }));
  s.online(agentConfig('bob', { capacity: { chat: 2 } }));
  const held = s.enqueue(conversation('c1', { customer: { id: 'alice' } }));
  expect(assignments(held)).toEqual([]);
  s.t += 5_000;
  return s;
}

describe('wait budget: only for an agent at work', () => {
  it('a returning customer is not held for a previous agent on a break', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { previousAgentWaitSeconds: 120 }));
    s.online(agentConfig('ann'), agentConfig('bob'));
    s.given({ type: 'upsert_customer', customer: customerConfig('alice', { previousAgents: ['ann'] }) });
    s.given({ type: 'set_presence', agentId: 'ann', presence: 'away' });
    const events = s.enqueue(conversation('c1', { customer: { id: 'alice' } }));
    expect(assignments(events)).toEqual(['c1→bob']);
  });

  /** ann (alice's previous agent) rings with zed's conversation; one missed offer sets her away. */
  function annRingingOneMissAway(): Scenario {
    const s = new Scenario();
    s.given({ type: 'set_routing_config', config: routingConfig({ maxMissedOffers: 1 }) });
    s.queue(queueConfig('q1', { offerTimeoutSeconds: 10, previousAgentWaitSeconds: 120 }));
    s.online(agentConfig('ann'));
    s.given({ type: 'upsert_customer', customer: customerConfig('alice', { previousAgents: ['ann'] }) });
    s.enqueue(conversation('x', { customer: { id: 'zed' } }));
    return s;
  }

  it('a returning customer is not held for a previous agent the engine set away for missed offers', () => {
    const s = annRingingOneMissAway();
    const missed = s.advance(10_000);
    expect(only(missed, 'presence_changed')).toMatchObject([{ agentId: 'ann', presence: 'away' }]);
    s.online(agentConfig('bob', { capacity: { chat: 2 } }));
    s.given({ type: 'accept_offer', agentId: 'bob', conversationId: 'x' });
    const events = s.enqueue(conversation('c1', { customer: { id: 'alice' } }));
    expect(only(events, 'offered').map((e) => e.agentId)).toEqual(['bob']);
    expect(only(events, 'queued')).toEqual([]);
  });

  it('a customer held for an agent who goes on a break is routed at once', () => {
    const s = heldForAnn();
    const events = s.when({ type: 'set_presence', agentId: 'ann', presence: 'away' });
    expect(assignments(events)).toEqual(['c1→bob']);
    expect(only(events, 'assigned')[0]!.explanation).toMatchObject({ rule: 'strategy', waitedMs: 5_000 });
  });

  it('a customer held for an agent the engine sets away for missed offers is routed at once', () => {
    const s = annRingingOneMissAway();
    s.online(agentConfig('bob', { capacity: { chat: 2 } }));
    // ann's seat is taken by the offer ringing at her desk: alice is held for her.
    expect(only(s.enqueue(conversation('c1', { customer: { id: 'alice' } })), 'offered')).toEqual([]);
    const missed = s.advance(10_000);
    expect(only(missed, 'presence_changed')).toMatchObject([{ agentId: 'ann', presence: 'away' }]);
    // The missed conversation is routed first, then the customers held for the agent who left.
    expect(only(missed, 'offered').map((e) => `${e.conversationId}→${e.agentId}`)).toEqual([
      'x→bob',
      'c1→bob',
    ]);
  });

  it('a customer held for an agent who logs off is routed at once', () => {
    const s = heldForAnn();
    const events = s.when({ type: 'set_presence', agentId: 'ann', presence: 'offline' });
    expect(assignments(events)).toEqual(['c1→bob']);
  });

  it('a customer held for an agent in wrap-up who is removed is routed at once', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { previousAgentWaitSeconds: 120 }));
    s.online(agentConfig('ann', { wrapUpSeconds: 60 }));
    s.given({ type: 'upsert_customer', customer: customerConfig('alice', { previousAgents: ['ann'] }) });
    s.enqueue(conversation('busy', { customer: { id: 'zed' } }));
    s.given({ type: 'end_conversation', conversationId: 'busy', outcome: 'resolved' });
    s.online(agentConfig('bob'), agentConfig('carl'));
    s.enqueue(conversation('keeps-bob-busy', { customer: { id: 'yan' } }));
    // ann is wrapping up, still at work: alice is held for her.
    expect(assignments(s.enqueue(conversation('c1', { customer: { id: 'alice' } })))).toEqual([]);
    const events = s.when({ type: 'remove_agent', agentId: 'ann' });
    expect(assignments(events)).toEqual(['c1→carl']);
  });

  it('a customer held for an agent who loses the seats for it is routed at once', () => {
    const s = heldForAnn();
    const events = s.when({ type: 'upsert_agent', agent: agentConfig('ann', { capacity: { voice: 1 } }) });
    expect(assignments(events)).toEqual(['c1→bob']);
  });

  it('a customer held for an agent the queue no longer admits is routed at once', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { previousAgentWaitSeconds: 120 }));
    s.online(agentConfig('ann'));
    s.given({ type: 'upsert_customer', customer: customerConfig('alice', { previousAgents: ['ann'] }) });
    s.enqueue(conversation('busy', { customer: { id: 'zed' } }));
    s.online(agentConfig('bob', { skills: [{ skill: 'billing', level: 5 }] }));
    expect(assignments(s.enqueue(conversation('c1', { customer: { id: 'alice' } })))).toEqual([]);
    const events = s.when({
      type: 'upsert_queue',
      queue: queueConfig('q1', {
        previousAgentWaitSeconds: 120,
        requiredSkills: [{ skill: 'billing', minLevel: 1 }],
      }),
    });
    expect(assignments(events)).toEqual(['c1→bob']);
  });
});

describe('wait budget: released customers, restored or not', () => {
  it('customers held for an agent who goes away are released alike from a restored snapshot', () => {
    const desk = () => {
      const s = new Scenario();
      s.queue(queueConfig('q1', { previousAgentWaitSeconds: 120 }));
      s.online(agentConfig('ann'));
      for (const id of ['alice', 'amy', 'abe'])
        s.given({ type: 'upsert_customer', customer: customerConfig(id, { previousAgents: ['ann'] }) });
      s.enqueue(conversation('busy', { customer: { id: 'zed' } }));
      for (const id of ['alice', 'amy', 'abe']) {
        s.t += 1_000;
        s.enqueue(conversation(`c-${id}`, { customer: { id } }));
      }
      s.online(agentConfig('bob'), agentConfig('carl'));
      return s;
    };
    const a = desk();
    const restored = restoreEngine(JSON.parse(JSON.stringify(desk().engine.snapshot())));
    const then: Command[] = [
      { type: 'set_presence', agentId: 'ann', presence: 'away' },
      { type: 'tick' },
      { type: 'end_conversation', conversationId: 'c-alice', outcome: 'resolved' },
      { type: 'tick' },
    ];
    const go = (e: typeof restored) =>
      then.map((cmd, i) => e.apply({ id: `then-${i}`, at: a.t + i * 10_000, cmd }));
    const original = go(a.engine);
    expect(go(restored)).toEqual(original);
    expect(restored.digest()).toBe(a.engine.digest());
    // Oldest first, to the agents free at once; the third waits in line for the next free seat.
    const first = original[0]!;
    expect(first.ok && assignments(first.events)).toEqual(['c-alice→bob', 'c-amy→carl']);
    const freed = original[2]!;
    expect(freed.ok && assignments(freed.events)).toEqual(['c-abe→bob']);
  });
});

describe('wait budget: the explanation names the rule that held the customer', () => {
  /** A high-value customer of ded's, whose contact is marked standard: held as a returning customer. */
  function heldAsReturning() {
    const s = new Scenario();
    s.queue(queueConfig('q1', { previousAgentWaitSeconds: 60 }));
    s.online(agentConfig('ded'));
    s.given({
      type: 'upsert_customer',
      customer: customerConfig('vip', {
        valueTier: 'high_value',
        dedicatedAgentId: 'ded',
        previousAgents: ['ded'],
      }),
    });
    s.enqueue(conversation('busy', { customer: { id: 'zed' } }));
    s.online(agentConfig('other'));
    s.enqueue(conversation('keeps-other-busy', { customer: { id: 'yan' } }));
    const held = s.enqueue(conversation('c1', { customer: { id: 'vip', valueTier: 'standard' } }));
    expect(assignments(held)).toEqual([]);
    s.t += 10_000;
    return s;
  }
  const end: Command = { type: 'end_conversation', conversationId: 'busy', outcome: 'resolved' };

  it('a contact marked standard, held for a previous agent who is also the dedicated one, is explained as previous agent', () => {
    const s = heldAsReturning();
    const freed = s.when(end);
    expect(assignments(freed)).toEqual(['c1→ded']);
    expect(only(freed, 'assigned')[0]!.explanation).toMatchObject({
      rule: 'previous_agent',
      waitedMs: 10_000,
    });
  });

  it('the rule that held the customer survives a snapshot', () => {
    const s = heldAsReturning();
    const restored = restoreEngine(JSON.parse(JSON.stringify(s.engine.snapshot())));
    const r = restored.apply({ id: 'end-busy', at: s.t, cmd: end });
    expect(r.ok && only(r.events, 'assigned')[0]!.explanation.rule).toBe('previous_agent');
    expect(r).toEqual(s.run(end, 'end-busy'));
  });

  it('a hold from a snapshot written before the rule was kept is explained from the customer record', () => {
    const s = heldAsReturning();
    const snap = JSON.parse(JSON.stringify(s.engine.snapshot()));
    const convs: unknown[] = snap.state.convs;
    const extra = convs[convs.indexOf('c1') + 19] as unknown[];
    expect(extra[11]).toBe('previous_agent');
    extra.length = 11;
    const r = restoreEngine(snap).apply({ id: 'end-busy', at: s.t, cmd: end });
    expect(r.ok && only(r.events, 'assigned')[0]!.explanation.rule).toBe('dedicated_agent');
  });
});

import { describe, expect, it } from 'vitest';
import {
  agentConfig,
  conversation,
  customerConfig,
  offers,
  only,
  queueConfig,
  routingConfig,
  Scenario,
} from './fixtures.js';
import { restoreEngine } from './index.js';
import type { Command, EngineEvent } from './types.js';

/**
 * Conversations routed again together (an agent's withdrawn offers, the customers held for it, a queue
 * change's withdrawn offers) compete for the free agents as waiting conversations do: by effective
 * priority, then age (SPEC §3.4) — not in arrival order. In each case below only one agent is free, an
 * older low-priority conversation and a newer high-priority one both want it, and the high-priority one
 * must get it. Each command is applied to a restored twin too: same events, same digest.
 */

let twins = 0;
/** Applies `cmd` to the scenario and to `copy` (a restored twin); both must answer alike. */
function both(s: Scenario, copy: ReturnType<typeof restoreEngine>, cmd: Command): EngineEvent[] {
  const id = `twin-${++twins}`;
  const a = s.run(cmd, id);
  const b = copy.apply({ id, at: s.t, cmd });
  expect(b).toEqual(a);
  expect(copy.digest()).toBe(s.engine.digest());
  if (!a.ok) throw new Error(`${cmd.type} failed: ${a.error.code} ${a.error.message}`);
  return a.events;
}

const twin = (s: Scenario) => restoreEngine(JSON.parse(JSON.stringify(s.engine.snapshot())));

function view(s: Scenario, id: string) {
  const r = s.engine.query({ type: 'conversation', conversationId: id }, s.t);
  return r.type === 'conversation' ? r.conversation : null;
}

/** Deliveries (offers or assignments) among the events, "conversation→agent". */
function delivered(events: EngineEvent[]): string[] {
  return events
    .filter((e) => e.type === 'offered' || e.type === 'assigned')
    .map((e) => `${(e as { conversationId: string }).conversationId}→${(e as { agentId: string }).agentId}`);
}

/**
 * ann (chat 2) rings for `low` (priority 0, arrived first) and then `vip` (priority 8, a second later);
 * bob (chat 1) comes online after them and is the only free agent; nothing waits.
 */
function annRingingLowThenVip(opts: { vipQueue?: boolean } = {}) {
  const s = new Scenario();
  s.queue(queueConfig('q1', { offerTimeoutSeconds: 20 }));
  if (opts.vipQueue) s.queue(queueConfig('vipq', { offerTimeoutSeconds: 20, priority: 1 }));
  s.online(agentConfig('ann', { capacity: { chat: 2 } }));
  s.enqueue(conversation('low', { priority: 0 }));
  s.t += 1_000;
  s.enqueue(opts.vipQueue ? conversation('vip', { queueId: 'vipq' }) : conversation('vip', { priority: 8 }));
  expect(view(s, 'low')?.offeredTo).toEqual(['ann']);
  expect(view(s, 'vip')?.offeredTo).toEqual(['ann']);
  s.t += 1_000;
  s.online(agentConfig('bob'));
  s.t += 1_000;
  return s;
}

describe("an agent's withdrawn offers are routed again best first, not in arrival order", () => {
  it('the agent goes away: the newer high-priority conversation takes the only free agent', () => {
    const s = annRingingLowThenVip();
    const copy = twin(s);
    const events = both(s, copy, { type: 'set_presence', agentId: 'ann', presence: 'away' });
    expect(only(events, 'offer_rescinded').map((e) => e.conversationId)).toEqual(['low', 'vip']);
    expect(offers(events)).toEqual(['vip→bob']);
    // The older low-priority one is back in line at its age, and told so.
    expect(view(s, 'low')).toMatchObject({ status: 'waiting', position: 1 });
    expect(only(events, 'queued').map((e) => e.conversationId)).toEqual(['low']);
  });

  it('the agent logs off: a higher-priority queue goes first across queues', () => {
    const s = annRingingLowThenVip({ vipQueue: true });
    const copy = twin(s);
    const events = both(s, copy, { type: 'set_presence', agentId: 'ann', presence: 'offline' });
    expect(offers(events)).toEqual(['vip→bob']);
    expect(view(s, 'low')?.status).toBe('waiting');
  });

  it('the agent is removed', () => {
    const s = annRingingLowThenVip();
    const copy = twin(s);
    const events = both(s, copy, { type: 'remove_agent', agentId: 'ann' });
    expect(offers(events)).toEqual(['vip→bob']);
  });

  it('the agent is set away for a missed offer: its other offer and the missed one, best first', () => {
    const s = new Scenario();
    s.given({ type: 'set_routing_config', config: routingConfig({ maxMissedOffers: 1 }) });
    s.queue(queueConfig('q1', { offerTimeoutSeconds: 30 }));
    s.queue(queueConfig('fast', { offerTimeoutSeconds: 10 }));
    s.online(agentConfig('ann', { capacity: { chat: 2 } }));
    s.enqueue(conversation('low', { priority: 0 }));
    s.t += 1_000;
    s.enqueue(conversation('vip', { queueId: 'fast', priority: 8 }));
    s.online(agentConfig('bob'));
    const copy = twin(s);
    // vip's offer times out first: ann misses it and is set away, which withdraws low's offer too.
    s.t += 10_000;
    const events = both(s, copy, { type: 'tick' });
    expect(only(events, 'offer_missed').map((e) => e.conversationId)).toEqual(['vip']);
    expect(only(events, 'presence_changed')).toMatchObject([{ agentId: 'ann', presence: 'away' }]);
    expect(offers(events)).toEqual(['vip→bob']);
    expect(view(s, 'low')?.status).toBe('waiting');
  });

  it('the agent loses its seats: withdrawn offers and released held customers compete together', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { offerTimeoutSeconds: 20, previousAgentWaitSeconds: 120 }));
    s.online(agentConfig('ann', { capacity: { chat: 2 } }));
    s.given({
      type: 'upsert_customer',
      customer: customerConfig('vic', { valueTier: 'high_value', dedicatedAgentId: 'ann' }),
    });
    s.enqueue(conversation('busy', { customer: { id: 'zed' } }));
    s.given({ type: 'accept_offer', agentId: 'ann', conversationId: 'busy' });
    s.enqueue(conversation('low', { priority: 0 }));
    s.t += 1_000;
    s.online(agentConfig('bob'));
    s.enqueue(conversation('keeps-bob-busy', { customer: { id: 'yan' } }));
    // ann's seats are full: vic (high value, priority 8) is held for her, her dedicated agent.
    expect(offers(s.enqueue(conversation('vip', { priority: 8, customer: { id: 'vic' } })))).toEqual([]);
    expect(view(s, 'vip')?.status).toBe('waiting');
    s.given({ type: 'reject_offer', agentId: 'bob', conversationId: 'keeps-bob-busy' });
    s.t += 1_000;
    const copy = twin(s);
    // bob, free, passes over the one he rejected; ann moves to voice: her chat offer is withdrawn and
    // vic, who can no longer wait for her, is released.
    const events = both(s, copy, {
      type: 'upsert_agent',
      agent: agentConfig('ann', { capacity: { voice: 1 } }),
    });
    expect(only(events, 'offer_rescinded').map((e) => e.conversationId)).toEqual(['low']);
    expect(delivered(events)).toEqual(['vip→bob']);
  });
});

describe('customers held for an agent who leaves are released best first', () => {
  /** ann busy; alice (priority 0) and then amy (priority 8) held for ann, their previous agent; bob free. */
  function twoHeld() {
    const s = new Scenario();
    s.queue(queueConfig('q1', { previousAgentWaitSeconds: 120 }));
    s.online(agentConfig('ann'));
    for (const id of ['alice', 'amy'])
      s.given({ type: 'upsert_customer', customer: customerConfig(id, { previousAgents: ['ann'] }) });
    s.enqueue(conversation('busy', { customer: { id: 'zed' } }));
    s.online(agentConfig('bob'));
    s.t += 1_000;
    expect(delivered(s.enqueue(conversation('c-alice', { customer: { id: 'alice' } })))).toEqual([]);
    s.t += 1_000;
    expect(delivered(s.enqueue(conversation('c-amy', { priority: 8, customer: { id: 'amy' } })))).toEqual([]);
    s.t += 1_000;
    return s;
  }

  it('the agent goes away: the higher-priority held customer takes the only free agent', () => {
    const s = twoHeld();
    const copy = twin(s);
    const events = both(s, copy, { type: 'set_presence', agentId: 'ann', presence: 'away' });
    expect(delivered(events)).toEqual(['c-amy→bob']);
    expect(view(s, 'c-alice')).toMatchObject({ status: 'waiting', position: 1 });
  });

  it("the agent goes away with an offer ringing: its held VIP goes before the older offer's customer", () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { offerTimeoutSeconds: 20, previousAgentWaitSeconds: 120 }));
    s.online(agentConfig('ann'));
    s.given({ type: 'upsert_customer', customer: customerConfig('amy', { previousAgents: ['ann'] }) });
    s.enqueue(conversation('low', { priority: 0 }));
    s.t += 1_000;
    s.online(agentConfig('bob'));
    s.enqueue(conversation('keeps-bob-busy', { customer: { id: 'yan' } }));
    expect(delivered(s.enqueue(conversation('c-amy', { priority: 8, customer: { id: 'amy' } })))).toEqual([]);
    s.given({ type: 'reject_offer', agentId: 'bob', conversationId: 'keeps-bob-busy' });
    s.t += 1_000;
    const copy = twin(s);
    const events = both(s, copy, { type: 'set_presence', agentId: 'ann', presence: 'away' });
    expect(delivered(events)).toEqual(['c-amy→bob']);
    expect(view(s, 'low')?.status).toBe('waiting');
  });
});

describe('a queue change routes its withdrawn offers and released customers with those already waiting', () => {
  it('a withdrawn low-priority offer does not take the newly admitted agent from a higher-priority one in line', () => {
    const s = new Scenario();
    const needs = (skill: string) =>
      queueConfig('q1', { offerTimeoutSeconds: 20, requiredSkills: [{ skill, minLevel: 1 }] });
    s.queue(needs('support'));
    s.online(agentConfig('ann', { skills: [{ skill: 'support', level: 3 }] }));
    s.enqueue(conversation('low', { priority: 0 }));
    s.t += 1_000;
    s.enqueue(conversation('vip', { priority: 8 }));
    expect(view(s, 'vip')?.status).toBe('waiting');
    // bill is online and free, but q1 does not admit him yet.
    s.online(agentConfig('bill', { skills: [{ skill: 'billing', level: 3 }] }));
    s.t += 1_000;
    const copy = twin(s);
    // Now q1 needs billing: ann's offer of low is withdrawn, bill is admitted and free.
    const events = both(s, copy, { type: 'upsert_queue', queue: needs('billing') });
    expect(only(events, 'offer_rescinded').map((e) => e.conversationId)).toEqual(['low']);
    expect(delivered(events)).toEqual(['vip→bill']);
    expect(view(s, 'low')).toMatchObject({ status: 'waiting', position: 1 });
  });

  it('a customer released by the change goes before a lower-priority one already in line', () => {
    const s = new Scenario();
    const needs = (skill: string) =>
      queueConfig('q1', { previousAgentWaitSeconds: 120, requiredSkills: [{ skill, minLevel: 1 }] });
    s.queue(needs('support'));
    s.online(agentConfig('ann', { skills: [{ skill: 'support', level: 3 }] }));
    s.given({ type: 'upsert_customer', customer: customerConfig('amy', { previousAgents: ['ann'] }) });
    s.enqueue(conversation('busy', { customer: { id: 'zed' } }));
    s.enqueue(conversation('low', { priority: 0 }));
    s.t += 1_000;
    // amy (priority 8) is held for ann, her previous agent, who is busy.
    expect(delivered(s.enqueue(conversation('c-amy', { priority: 8, customer: { id: 'amy' } })))).toEqual([]);
    s.online(agentConfig('bill', { skills: [{ skill: 'billing', level: 3 }] }));
    s.t += 1_000;
    const copy = twin(s);
    // q1 now needs billing: amy can no longer wait for ann, bill is admitted and free.
    const events = both(s, copy, { type: 'upsert_queue', queue: needs('billing') });
    expect(delivered(events)).toEqual(['c-amy→bill']);
    expect(view(s, 'low')).toMatchObject({ status: 'waiting', position: 1 });
  });
});

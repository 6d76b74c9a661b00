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

describe('broadcast width', () => {
  it('0 (the default) rings every matching available agent', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { strategy: 'broadcast', broadcastWidth: 0, offerTimeoutSeconds: 20 }));
    s.online(agentConfig('a'), agentConfig('b'), agentConfig('c'));
    s.online(agentConfig('fr', { skills: [{ skill: 'lang:fr', level: 5 }] }));
    expect(offers(s.enqueue(conversation('c1'))).sort()).toEqual(['c1→a', 'c1→b', 'c1→c', 'c1→fr']);
  });

  it('0 is bounded by the search limit (64 desks)', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { strategy: 'broadcast', offerTimeoutSeconds: 20 }));
    for (let i = 0; i < 70; i++) s.online(agentConfig(`a${i}`));
    expect(offers(s.enqueue(conversation('c1')))).toHaveLength(64);
  });

  it('an explicit width beyond the search limit is honoured', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { strategy: 'broadcast', broadcastWidth: 80, offerTimeoutSeconds: 20 }));
    for (let i = 0; i < 90; i++) s.online(agentConfig(`a${i}`));
    expect(offers(s.enqueue(conversation('c1')))).toHaveLength(80);
  });
});

describe('broadcast of a conversation that had to wait', () => {
  function waitingBroadcast(width = 3) {
    const s = new Scenario();
    s.queue(queueConfig('q1', { strategy: 'broadcast', broadcastWidth: width, offerTimeoutSeconds: 20 }));
    for (const id of ['a', 'b', 'c']) s.given({ type: 'upsert_agent', agent: agentConfig(id) });
    s.enqueue(conversation('c1'));
    return s;
  }

  it('rings every agent who frees up while it rings, up to the width; the first to accept wins', () => {
    const s = waitingBroadcast();
    const rang = ['a', 'b', 'c'].map((id) =>
      offers(s.when({ type: 'set_presence', agentId: id, presence: 'online' })),
    );
    expect(rang).toEqual([['c1→a'], ['c1→b'], ['c1→c']]);
    const view = s.engine.query({ type: 'conversation', conversationId: 'c1' }, s.t);
    expect(view.type === 'conversation' && view.conversation?.offeredTo).toEqual(['a', 'b', 'c']);
    const accepted = s.when({ type: 'accept_offer', agentId: 'b', conversationId: 'c1' });
    expect(assignments(accepted)).toEqual(['c1→b']);
    expect(only(accepted, 'offer_rescinded').map((e) => [e.agentId, e.reason])).toEqual([
      ['a', 'accepted_elsewhere'],
      ['c', 'accepted_elsewhere'],
    ]);
  });

  it('stops at the width', () => {
    const s = waitingBroadcast(2);
    const rang = ['a', 'b', 'c'].map((id) =>
      offers(s.when({ type: 'set_presence', agentId: id, presence: 'online' })),
    );
    expect(rang).toEqual([['c1→a'], ['c1→b'], []]);
  });

  it('a desk that joins later gets the full timeout, and the desks already ringing are told the later expiry', () => {
    const s = waitingBroadcast();
    const t0 = s.t;
    s.when({ type: 'set_presence', agentId: 'a', presence: 'online' });
    s.t += 15_000;
    const joined = only(s.when({ type: 'set_presence', agentId: 'b', presence: 'online' }), 'offered');
    expect(joined.map((e) => [e.agentId, e.expiresAt])).toEqual([
      ['a', t0 + 35_000],
      ['b', t0 + 35_000],
    ]);
    // Nobody missed anything at the first expiry.
    expect(only(s.advance(5_000), 'offer_missed')).toEqual([]);
    expect(only(s.advance(15_000), 'offer_missed').map((e) => e.agentId)).toEqual(['a', 'b']);
  });

  it('prefers joining an older ringing broadcast to starting a younger one', () => {
    const s = waitingBroadcast();
    s.t += 1000;
    s.enqueue(conversation('c2'));
    s.when({ type: 'set_presence', agentId: 'a', presence: 'online' });
    // c1 rings at a; b joins c1 rather than ringing c2 alone.
    expect(offers(s.when({ type: 'set_presence', agentId: 'b', presence: 'online' }))).toEqual(['c1→b']);
  });

  it('does not ring an agent who missed it, nor one who lacks its skills', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { strategy: 'broadcast', broadcastWidth: 3, offerTimeoutSeconds: 20 }));
    const fr = { skills: [{ skill: 'lang:fr', level: 5 }] };
    s.given(
      { type: 'upsert_agent', agent: agentConfig('a', fr) },
      { type: 'upsert_agent', agent: agentConfig('b', fr) },
      { type: 'upsert_agent', agent: agentConfig('en', { capacity: { chat: 2 } }) },
    );
    s.enqueue(conversation('c1', { requiredSkills: [{ skill: 'lang:fr', minLevel: 3 }] }));
    s.when({ type: 'set_presence', agentId: 'a', presence: 'online' });
    expect(offers(s.when({ type: 'set_presence', agentId: 'en', presence: 'online' }))).toEqual([]);
    s.when({ type: 'set_presence', agentId: 'b', presence: 'online' });
    s.when({ type: 'reject_offer', agentId: 'b', conversationId: 'c1' });
    // b is free again but missed it.
    const view = s.engine.query({ type: 'conversation', conversationId: 'c1' }, s.t);
    expect(view.type === 'conversation' && view.conversation?.offeredTo).toEqual(['a']);
  });

  it('a desk lost while others ring is replaced by the next available agent', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { strategy: 'broadcast', broadcastWidth: 2, offerTimeoutSeconds: 20 }));
    s.online(agentConfig('a'), agentConfig('b'), agentConfig('d'));
    expect(offers(s.enqueue(conversation('c1')))).toEqual(['c1→a', 'c1→b']);
    s.t += 5000;
    const rejected = s.when({ type: 'reject_offer', agentId: 'a', conversationId: 'c1' });
    expect(only(rejected, 'offered').map((e) => e.agentId)).toEqual(['b', 'd']);
    const away = s.when({ type: 'set_presence', agentId: 'b', presence: 'away' });
    expect(only(away, 'offer_rescinded').map((e) => e.agentId)).toEqual(['b']);
    const view = s.engine.query({ type: 'conversation', conversationId: 'c1' }, s.t);
    expect(view.type === 'conversation' && view.conversation?.offeredTo).toEqual(['d']);
  });

  it('a restored partition lets the same agents join the same rings', () => {
    const s = waitingBroadcast();
    s.when({ type: 'set_presence', agentId: 'a', presence: 'online' });
    const copy = restoreEngine(JSON.parse(JSON.stringify(s.engine.snapshot())));
    const cmd = {
      id: 'x',
      at: s.t,
      cmd: { type: 'set_presence', agentId: 'b', presence: 'online' },
    } as const;
    const r1 = s.engine.apply(cmd);
    const r2 = copy.apply(cmd);
    expect(r2).toEqual(r1);
    expect(r1.ok && offers(r1.events)).toEqual(['c1→b']);
    expect(copy.digest()).toBe(s.engine.digest());
  });

  it('a wider width on a reconfigured queue rings the available agents', () => {
    const s = new Scenario();
    const q = queueConfig('q1', { strategy: 'broadcast', broadcastWidth: 1, offerTimeoutSeconds: 20 });
    s.queue(q);
    s.online(agentConfig('a'), agentConfig('b'));
    expect(offers(s.enqueue(conversation('c1')))).toEqual(['c1→a']);
    expect(offers(s.when({ type: 'upsert_queue', queue: { ...q, broadcastWidth: 2 } }))).toEqual(['c1→b']);
  });
});

describe('broadcast rings after a reconfiguration', () => {
  it('an agent joins a ring only with the skills the conversation requires now (steps undone)', () => {
    const s = new Scenario();
    const rr = queueConfig('q1', {
      strategy: 'round_robin',
      offerTimeoutSeconds: 10,
      overflow: [{ afterSeconds: 5, action: { kind: 'relax_skills', by: 1 } }],
    });
    s.queue(rr);
    const billing2 = { skills: [{ skill: 'billing', level: 2 }] };
    s.online(agentConfig('x', billing2), agentConfig('y', billing2));
    s.enqueue(conversation('c1', { requiredSkills: [{ skill: 'billing', minLevel: 3 }] }));
    // Relaxed to billing 2 after 5 s: it rings at x.
    expect(offers(s.advance(5000))).toEqual(['c1→x']);
    // Without the step, it needs billing 3 again: y may not join it.
    const q = { ...rr, strategy: 'broadcast' as const, broadcastWidth: 2, overflow: [] };
    expect(offers(s.when({ type: 'upsert_queue', queue: q }))).toEqual([]);
  });
});

describe('broadcast rings timing out', () => {
  it('a desk freed by a ring timing out does not join another ring timing out in the same tick', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { strategy: 'broadcast', broadcastWidth: 2, offerTimeoutSeconds: 20 }));
    s.online(agentConfig('a'), agentConfig('b'));
    s.enqueue(conversation('c1')); // rings at a and b
    s.online(agentConfig('x'));
    s.enqueue(conversation('c2')); // rings at x alone, room for one more
    const e = s.advance(20_000);
    // x never answered c2: that is a miss, not a fresh 20 s beside a desk that joined.
    expect(
      e
        .filter((x) => x.type === 'offer_missed')
        .map((x) => `${x.conversationId}:${x.agentId}`)
        .sort(),
    ).toEqual(['c1:a', 'c1:b', 'c2:x']);
  });

  it('an agent set away by a ring timing out releases its held customers after the missed conversation is routed again', () => {
    const s = new Scenario();
    s.given({ type: 'set_routing_config', config: routingConfig({ maxMissedOffers: 1 }) });
    s.queue(
      queueConfig('q1', {
        strategy: 'broadcast',
        broadcastWidth: 2,
        offerTimeoutSeconds: 20,
        previousAgentWaitSeconds: 120,
      }),
    );
    s.online(agentConfig('b', { capacity: { chat: 3 } }));
    for (const id of ['g0', 'g1']) {
      s.enqueue(conversation(id));
      s.when({ type: 'accept_offer', agentId: 'b', conversationId: id });
    }
    s.online(agentConfig('a', { capacity: { chat: 2 } }));
    s.enqueue(conversation('h0', { customer: { id: 'H' } }));
    s.when({ type: 'accept_offer', agentId: 'a', conversationId: 'h0' });
    s.t += 1000;
    s.enqueue(conversation('c1')); // rings at a and b
    s.t += 1000;
    s.enqueue(conversation('h1', { customer: { id: 'H' } })); // newer, held for a (busy)
    s.online(agentConfig('x')); // the only free agent
    const e = s.advance(20_000);
    // a and b miss c1 and go away; the older c1 gets x, the newer h1 waits.
    expect(offers(e)).toContain('c1→x');
    expect(offers(e)).not.toContain('h1→x');
  });
});

describe('broadcast rings at a desk whose capacity or skills shrink', () => {
  /** c1 then c2 ring at a and b (width 3, 20 s, a second apart); both desks hold 2 chat seats. */
  function twoRings() {
    const s = new Scenario();
    s.queue(queueConfig('q1', { strategy: 'broadcast', broadcastWidth: 3, offerTimeoutSeconds: 20 }));
    s.online(agentConfig('a', { capacity: { chat: 2 } }), agentConfig('b', { capacity: { chat: 2 } }));
    const t0 = s.t;
    expect(offers(s.enqueue(conversation('c1')))).toEqual(['c1→a', 'c1→b']);
    s.t += 1000;
    expect(offers(s.enqueue(conversation('c2')))).toEqual(['c2→a', 'c2→b']);
    s.t += 1000;
    return { s, t0 };
  }

  it('a desk that loses a seat leaves the newer ring only; the older one rings on unchanged, at both desks', () => {
    const { s, t0 } = twoRings();
    const copy = restoreEngine(JSON.parse(JSON.stringify(s.engine.snapshot())));
    const cmd = { type: 'upsert_agent' as const, agent: agentConfig('a', { capacity: { chat: 1 } }) };
    const r = s.run(cmd, 'lower-a');
    const lowered = r.ok ? r.events : [];
    copy.apply({ id: 'lower-a', at: s.t, cmd });
    expect(copy.digest()).toBe(s.engine.digest());
    expect(only(lowered, 'offer_rescinded').map((e) => [e.conversationId, e.agentId])).toEqual([['c2', 'a']]);
    // No desk is told anything new about c1 (no fresh expiry), and a does not join c2 again.
    expect(only(lowered, 'offered')).toEqual([]);
    const offeredTo = (id: string) => {
      const v = s.engine.query({ type: 'conversation', conversationId: id }, s.t);
      return v.type === 'conversation' ? v.conversation?.offeredTo : null;
    };
    expect([offeredTo('c1'), offeredTo('c2')]).toEqual([['a', 'b'], ['b']]);
    // c1 still expires at t0 + 20 s, at both desks.
    s.t = t0 + 20_000;
    const missed = only(s.when({ type: 'tick' }), 'offer_missed');
    expect(missed.filter((e) => e.conversationId === 'c1').map((e) => e.agentId)).toEqual(['a', 'b']);
  });

  it('the ring that lost the desk is joined at once by a free agent; the other is left alone', () => {
    const { s } = twoRings();
    // d joins the older ring (c1), e the other (c2): both are full at width 3, so f stays free.
    expect(offers(s.when({ type: 'upsert_agent', agent: agentConfig('d') }))).toEqual([]);
    expect(offers(s.when({ type: 'set_presence', agentId: 'd', presence: 'online' }))).toContain('c1→d');
    expect(offers(s.when({ type: 'upsert_agent', agent: agentConfig('e') }))).toEqual([]);
    expect(offers(s.when({ type: 'set_presence', agentId: 'e', presence: 'online' }))).toContain('c2→e');
    expect(offers(s.when({ type: 'upsert_agent', agent: agentConfig('f') }))).toEqual([]);
    expect(offers(s.when({ type: 'set_presence', agentId: 'f', presence: 'online' }))).toEqual([]);
    s.t += 1000;
    const lowered = s.when({ type: 'upsert_agent', agent: agentConfig('a', { capacity: { chat: 1 } }) });
    expect(only(lowered, 'offer_rescinded').map((e) => [e.conversationId, e.agentId])).toEqual([['c2', 'a']]);
    // f takes a's place at c2 (a desk that joins restarts that ring's timeout, as documented); c1 is
    // not touched: nobody hears about it.
    expect(offers(lowered)).toContain('c2→f');
    expect(only(lowered, 'offered').filter((e) => e.conversationId === 'c1')).toEqual([]);
    const v = s.engine.query({ type: 'conversation', conversationId: 'c1' }, s.t);
    expect(v.type === 'conversation' && v.conversation?.offeredTo).toEqual(['a', 'b', 'd']);
  });

  it("a desk that loses a ring's own skill leaves that ring only", () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { strategy: 'broadcast', broadcastWidth: 3, offerTimeoutSeconds: 20 }));
    const fr = [{ skill: 'lang:fr', level: 5 }];
    s.online(agentConfig('a', { capacity: { chat: 2 }, skills: fr }), agentConfig('b', { skills: fr }));
    s.enqueue(conversation('fr', { requiredSkills: [{ skill: 'lang:fr', minLevel: 3 }] }));
    s.t += 1000;
    expect(offers(s.enqueue(conversation('any')))).toEqual(['any→a']);
    const copy = restoreEngine(JSON.parse(JSON.stringify(s.engine.snapshot())));
    const cmd = { type: 'upsert_agent' as const, agent: agentConfig('a', { capacity: { chat: 2 } }) };
    const r = s.run(cmd, 'lose-fr');
    const lost = r.ok ? r.events : [];
    copy.apply({ id: 'lose-fr', at: s.t, cmd });
    expect(copy.digest()).toBe(s.engine.digest());
    expect(only(lost, 'offer_rescinded').map((e) => [e.conversationId, e.agentId])).toEqual([['fr', 'a']]);
    expect(only(lost, 'offered')).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import { agentConfig, assignments, conversation, offers, only, queueConfig, Scenario } from '../fixtures.js';
import type { StrategyName } from '../types.js';

function desk(strategy: StrategyName, o: Parameters<typeof queueConfig>[1] = {}) {
  const s = new Scenario();
  s.queue(queueConfig('q1', { strategy, ...o }));
  return s;
}

describe('longest idle', () => {
  it('sends to the agent who has waited longest since their last conversation', () => {
    const s = desk('longest_idle');
    s.online(agentConfig('ann', { capacity: { chat: 3 } }), agentConfig('bob', { capacity: { chat: 3 } }));
    s.enqueue(conversation('c1'));
    s.t += 1000;
    s.enqueue(conversation('c2'));
    s.t += 1000;
    s.when({ type: 'end_conversation', conversationId: 'c1', outcome: 'resolved' });
    s.t += 1000;
    // ann got c1 first and became idle again after it; bob has been busy since later.
    expect(assignments(s.enqueue(conversation('c3')))).toEqual(['c3→bob']);
  });
});

describe('most skilled', () => {
  it('sends to the agent with the highest proficiency on the queue skills', () => {
    const s = desk('most_skilled', { requiredSkills: [{ skill: 'billing', minLevel: 2 }] });
    s.online(
      agentConfig('good', { skills: [{ skill: 'billing', level: 6 }] }),
      agentConfig('best', { skills: [{ skill: 'billing', level: 9 }] }),
      agentConfig('ok', { skills: [{ skill: 'billing', level: 3 }] }),
    );
    expect(assignments(s.enqueue(conversation('c1')))).toEqual(['c1→best']);
    expect(assignments(s.enqueue(conversation('c2')))).toEqual(['c2→good']);
  });
});

describe('broadcast', () => {
  it('offers to several agents at once; the first to accept wins and the others are rescinded', () => {
    const s = desk('broadcast', { broadcastWidth: 2, offerTimeoutSeconds: 20 });
    s.online(agentConfig('ann'), agentConfig('bob'), agentConfig('cat'));
    const offered = s.enqueue(conversation('c1'));
    expect(offers(offered)).toHaveLength(2);
    const [first, second] = only(offered, 'offered').map((e) => e.agentId);
    const accepted = s.when({ type: 'accept_offer', agentId: second!, conversationId: 'c1' });
    expect(assignments(accepted)).toEqual([`c1→${second}`]);
    expect(only(accepted, 'offer_rescinded')).toEqual([
      {
        type: 'offer_rescinded',
        conversationId: 'c1',
        agentId: first,
        queueId: 'q1',
        reason: 'accepted_elsewhere',
      },
    ]);
  });

  it('a broadcast nobody accepts is offered to the remaining agents after the timeout', () => {
    const s = desk('broadcast', { broadcastWidth: 2, offerTimeoutSeconds: 20 });
    s.online(agentConfig('ann'), agentConfig('bob'), agentConfig('cat'));
    s.enqueue(conversation('c1'));
    const after = s.advance(20_000);
    expect(only(after, 'offer_missed')).toHaveLength(2);
    expect(offers(after)).toEqual(['c1→cat']);
  });
});

describe('manual', () => {
  it('never assigns by itself, even with agents free', () => {
    const s = desk('manual');
    s.online(agentConfig('ann'));
    expect(assignments(s.enqueue(conversation('c1')))).toEqual([]);
    s.given({ type: 'set_presence', agentId: 'ann', presence: 'away' });
    expect(assignments(s.when({ type: 'set_presence', agentId: 'ann', presence: 'online' }))).toEqual([]);
    const stats = s.engine.query({ type: 'queue_stats', queueId: 'q1' }, s.t);
    expect(stats.type === 'queue_stats' && stats.stats).toMatchObject({ waiting: 1, agentsAvailable: 1 });
  });
});

describe('manual and customer rules', () => {
  it('a manual queue does not send a returning customer to the previous agent by itself', () => {
    const s = desk('manual');
    s.online(agentConfig('ann'));
    s.given({
      type: 'upsert_customer',
      customer: { id: 'alice', valueTier: 'standard', previousAgents: ['ann'] },
    });
    expect(assignments(s.enqueue(conversation('c1', { customer: { id: 'alice' } })))).toEqual([]);
  });
});

describe('round robin with online only', () => {
  function rotation(onlineOnly: boolean): string[] {
    const s = desk('round_robin', { onlineOnly });
    s.online(...['ann', 'bob', 'cat'].map((id) => agentConfig(id, { capacity: { chat: 9 } })));
    const got: string[] = [];
    const take = (id: string) => got.push(assignments(s.enqueue(conversation(id)))[0]!.split('→')[1]!);
    take('c1'); // ann
    s.given({ type: 'set_presence', agentId: 'bob', presence: 'away' });
    take('c2'); // cat (bob away)
    take('c3'); // ann
    s.given({ type: 'set_presence', agentId: 'bob', presence: 'online' });
    take('c4');
    take('c5');
    take('c6');
    return got;
  }

  it('without online only, an agent who was away catches up on the turn they missed', () => {
    expect(rotation(false)).toEqual(['ann', 'cat', 'ann', 'bob', 'cat', 'ann']);
  });

  it('with online only, an agent who was away rejoins at the back of the rotation', () => {
    expect(rotation(true)).toEqual(['ann', 'cat', 'ann', 'cat', 'ann', 'bob']);
  });
});

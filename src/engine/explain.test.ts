import { describe, expect, it } from 'vitest';
import { agentConfig, conversation, only, queueConfig, Scenario } from './fixtures.js';

describe('the explanation of an accepted offer', () => {
  it('says how long the customer waited until the accept, and when the offer went out', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { offerTimeoutSeconds: 30 }));
    s.given({ type: 'upsert_agent', agent: agentConfig('ann') });
    s.enqueue(conversation('c1'));
    s.t += 4000;
    s.online('ann');
    s.t += 25_000;
    const accepted = s.when({ type: 'accept_offer', agentId: 'ann', conversationId: 'c1' });
    expect(only(accepted, 'assigned')[0]!.explanation).toMatchObject({
      waitedMs: 29_000,
      offeredAfterMs: 4000,
    });
    const view = s.engine.query({ type: 'conversation', conversationId: 'c1' }, s.t);
    expect(view.type === 'conversation' && view.conversation?.explanation?.waitedMs).toBe(29_000);
    // The same wait the queue's statistics count.
    const stats = s.engine.query({ type: 'queue_stats', queueId: 'q1' }, s.t);
    expect(stats.type === 'queue_stats' && stats.stats?.averageWaitMs).toBe(29_000);
  });

  it('a direct assignment has no offer time', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1'));
    s.enqueue(conversation('c1'));
    s.t += 7000;
    s.online(agentConfig('ann'));
    const view = s.engine.query({ type: 'conversation', conversationId: 'c1' }, s.t);
    const e = view.type === 'conversation' ? view.conversation?.explanation : undefined;
    expect(e?.waitedMs).toBe(7000);
    expect(e).not.toHaveProperty('offeredAfterMs');
  });
});

describe('the candidates an explanation counts', () => {
  const fr = [{ skill: 'lang:fr', minLevel: 3 }];
  const speaksFr = { skills: [{ skill: 'lang:fr', level: 5 }] };

  it('are the available agents who could take the conversation, not every agent of the queue', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1'));
    for (let i = 0; i < 9; i++) s.online(agentConfig(`en${i}`));
    s.online(agentConfig('fr', speaksFr));
    const e = only(s.enqueue(conversation('c1', { requiredSkills: fr })), 'assigned')[0]!;
    expect(e.agentId).toBe('fr');
    // The search looked at all ten and found one.
    expect(e.explanation.candidates).toBe(1);
    expect(e.explanation).not.toHaveProperty('candidatesTruncated');
    // Without skills of its own, every available agent could have taken it.
    const all = only(s.enqueue(conversation('c2')), 'assigned')[0]!;
    expect(all.explanation.candidates).toBe(9);
  });

  it('say so when the search stopped before it looked at every available agent', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1'));
    s.online(agentConfig('fr', speaksFr));
    for (let i = 0; i < 9; i++) s.online(agentConfig(`en${i}`));
    const e = only(s.enqueue(conversation('c1', { requiredSkills: fr })), 'assigned')[0]!;
    expect(e.agentId).toBe('fr');
    expect(e.explanation).toMatchObject({ candidates: 1, candidatesTruncated: true });
  });

  it('from the agent side, a conversation only the freed agent could take counts that agent', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1'));
    s.online(agentConfig('a'));
    for (let i = 0; i < 5; i++) s.online(agentConfig(`en${i}`));
    s.enqueue(conversation('busy'));
    s.enqueue(conversation('c1', { requiredSkills: fr }));
    s.given({ type: 'upsert_agent', agent: agentConfig('fr', speaksFr) });
    const e = only(s.when({ type: 'set_presence', agentId: 'fr', presence: 'online' }), 'assigned')[0]!;
    expect(e.agentId).toBe('fr');
    // The five English speakers were available but never looked at: at least one, not six.
    expect(e.explanation).toMatchObject({ candidates: 1, candidatesTruncated: true });
  });

  it('from the agent side, an unconstrained conversation counts every available agent', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1'));
    s.given({ type: 'upsert_agent', agent: agentConfig('ann') });
    s.enqueue(conversation('c1'));
    const e = only(s.when({ type: 'set_presence', agentId: 'ann', presence: 'online' }), 'assigned')[0]!;
    expect(e.explanation.candidates).toBe(1);
    expect(e.explanation).not.toHaveProperty('candidatesTruncated');
  });

  it('a broadcast counts the agents who qualified, not the whole pool', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { strategy: 'broadcast', broadcastWidth: 3, offerTimeoutSeconds: 20 }));
    s.online(
      agentConfig('en0'),
      agentConfig('fr0', speaksFr),
      agentConfig('en1'),
      agentConfig('fr1', speaksFr),
    );
    s.enqueue(conversation('c1', { requiredSkills: fr }));
    const e = only(s.when({ type: 'accept_offer', agentId: 'fr1', conversationId: 'c1' }), 'assigned')[0]!;
    expect(e.explanation.candidates).toBe(2);
    expect(e.explanation).not.toHaveProperty('candidatesTruncated');
  });
});

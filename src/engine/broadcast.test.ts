import { describe, expect, it } from 'vitest';
import { agentConfig, conversation, offers, queueConfig, Scenario } from './fixtures.js';

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

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

/**
 * A tick that comes late (a node restarting or taking a partition over, a stalled event loop) fires the
 * timers that fell due meanwhile, each at its due time so they keep their order. An offer one of them
 * makes rings from the tick, though: that is when the desk hears it. It used to expire at due time +
 * timeout, which a tick more than a timeout late had already passed, so the same tick counted a miss for
 * an agent who never saw the offer, and with `maxMissedOffers` set them away (found restarting a node
 * with a conversation due to overflow while it was down).
 */
import { describe, expect, it } from 'vitest';
import { agentConfig, conversation, only, queueConfig, routingConfig, Scenario } from './fixtures.js';

function overflowDesk(): Scenario {
  const s = new Scenario();
  s.given({ type: 'set_routing_config', config: routingConfig({ maxMissedOffers: 1 }) });
  s.queue(
    queueConfig('q1', {
      offerTimeoutSeconds: 15,
      requiredSkills: [{ skill: 'x', minLevel: 5 }],
      overflow: [{ afterSeconds: 20, action: { kind: 'relax_skills', by: 4 } }],
    }),
  );
  s.online(agentConfig('jr', { skills: [{ skill: 'x', level: 1 }] }));
  s.enqueue(conversation('c1'));
  return s;
}

describe('timers fired by a late tick', () => {
  it('an offer made by an overflow step a minute late rings for its whole timeout from the tick', () => {
    const s = overflowDesk();
    const events = s.advance(60_000); // due at 20 s, fired at 60 s
    expect(only(events, 'overflowed')).toHaveLength(1);
    expect(only(events, 'offered')).toMatchObject([
      { conversationId: 'c1', agentId: 'jr', expiresAt: s.t + 15_000 },
    ]);
    expect(only(events, 'offer_missed')).toEqual([]);
    expect(only(events, 'presence_changed')).toEqual([]);
    s.t += 5_000;
    expect(() => s.when({ type: 'accept_offer', agentId: 'jr', conversationId: 'c1' })).not.toThrow();
  });

  it('a tick on time is unchanged: the offer rings from the step', () => {
    const s = overflowDesk();
    const events = s.advance(20_000);
    expect(only(events, 'offered')).toMatchObject([{ agentId: 'jr', expiresAt: s.t + 15_000 }]);
    // Not answered: missed when it expires, and (maxMissedOffers 1) the agent is set away.
    const later = s.advance(15_000);
    expect(only(later, 'offer_missed')).toMatchObject([{ agentId: 'jr', reason: 'timeout' }]);
    expect(only(later, 'presence_changed')).toMatchObject([{ agentId: 'jr', presence: 'away' }]);
  });

  it('a conversation a late tick assigns waited until the tick: its wait, explanation and service level say so', () => {
    const s = new Scenario();
    s.queue(
      queueConfig('q1', {
        serviceLevel: { target: 0.8, thresholdSeconds: 30, windowSeconds: 3600 },
        requiredSkills: [{ skill: 'x', minLevel: 5 }],
        overflow: [{ afterSeconds: 20, action: { kind: 'relax_skills', by: 4 } }],
      }),
    );
    s.online(agentConfig('jr', { skills: [{ skill: 'x', level: 1 }] }));
    s.enqueue(conversation('c1'));
    const events = s.advance(60_000); // the step was due at 20 s (in time); it ran at 60 s (late)
    expect(only(events, 'assigned')).toMatchObject([{ agentId: 'jr', explanation: { waitedMs: 60_000 } }]);
    const st = s.engine.query({ type: 'queue_stats', queueId: 'q1' }, s.t);
    expect(st.type === 'queue_stats' && st.stats).toMatchObject({ averageWaitMs: 60_000, serviceLevel: 0 });
  });
});

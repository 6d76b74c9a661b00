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

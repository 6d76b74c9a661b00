import { describe, expect, it } from 'vitest';
import type { EngineEvent } from '../engine/types.js';
import { matches } from './event-bus.js';

const transferred: EngineEvent = {
  type: 'transferred',
  conversationId: 'c1',
  fromAgentId: 'alice',
  toAgentId: 'bruno',
  fromQueueId: 'billing',
  queueId: 'support',
  fromParticipants: ['alice'],
};

describe('WatchEvents filters', () => {
  it('a transfer reaches watchers of both ends: the agent and queue it left as well as those it went to', () => {
    const f = (x: Partial<Parameters<typeof matches>[0]>) => matches({ tenant: 't', ...x }, transferred);
    expect(f({ agentId: 'alice' })).toBe(true);
    expect(f({ agentId: 'bruno' })).toBe(true);
    expect(f({ agentId: 'carla' })).toBe(false);
    expect(f({ queueId: 'billing' })).toBe(true);
    expect(f({ queueId: 'support' })).toBe(true);
    expect(f({ queueId: 'sales' })).toBe(false);
    expect(f({ agentId: 'alice', queueId: 'support', conversationId: 'c1' })).toBe(true);
    expect(f({ agentId: 'alice', conversationId: 'c2' })).toBe(false);
  });

  it('a transfer to a queue, with no agent at either end, matches no agent filter', () => {
    const toQueue: EngineEvent = {
      ...transferred,
      fromAgentId: null,
      toAgentId: null,
      fromParticipants: [],
    } as EngineEvent;
    expect(matches({ tenant: 't', agentId: 'alice' }, toQueue)).toBe(false);
    expect(matches({ tenant: 't', queueId: 'billing' }, toQueue)).toBe(true);
  });

  it('an end or a transfer reaches every agent it released, escalation helpers included', () => {
    const ended: EngineEvent = {
      type: 'conversation_ended',
      conversationId: 'c1',
      agentId: 'alice',
      queueId: 'support',
      outcome: 'resolved',
      handleMs: 1000,
      participants: ['alice', 'senior'],
    };
    const away: EngineEvent = { ...transferred, toAgentId: null, fromParticipants: ['alice', 'senior'] };
    for (const e of [ended, away]) {
      expect(matches({ tenant: 't', agentId: 'senior' }, e)).toBe(true);
      expect(matches({ tenant: 't', agentId: 'alice' }, e)).toBe(true);
      expect(matches({ tenant: 't', agentId: 'carla' }, e)).toBe(false);
    }
  });

  it('other events match on their own agent, queue and type', () => {
    const queued = {
      type: 'queued',
      conversationId: 'c9',
      queueId: 'billing',
      position: 1,
      estimatedWaitMs: 0,
    } as EngineEvent;
    expect(matches({ tenant: 't', queueId: 'billing', types: ['queued'] }, queued)).toBe(true);
    expect(matches({ tenant: 't', queueId: 'billing', types: ['assigned'] }, queued)).toBe(false);
    expect(matches({ tenant: 't', agentId: 'alice' }, queued)).toBe(false);
  });
});

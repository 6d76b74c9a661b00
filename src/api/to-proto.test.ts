import { describe, expect, it } from 'vitest';
import type { Explanation } from '../engine/types.js';
import { Event } from '../gen/switchboard/v1/events.js';
import { eventToProto } from './to-proto.js';

const at = Date.UTC(2026, 0, 5, 20, 0, 0);
const wire = (event: Parameters<typeof eventToProto>[0]['event']) =>
  // Through the wire format, as a gateway receives it.
  Event.decode(Event.encode(eventToProto({ tenant: 'acme', seq: 7, index: 0, at, event })).finish());

describe('events on the wire', () => {
  it('outside_hours carries when help resumes and the opening hours themselves', () => {
    const openingHours = {
      timeZone: 'Europe/Paris',
      windows: [{ day: 1, open: '09:00', close: '18:00' }],
      holidays: ['2026-01-06'],
    };
    const e = wire({
      type: 'outside_hours',
      conversationId: 'c1',
      queueId: 'q1',
      nextOpenAt: Date.UTC(2026, 0, 12, 8, 0, 0),
      openingHours,
    });
    expect(e.outsideHours).toEqual({
      conversationId: 'c1',
      queueId: 'q1',
      nextOpenAtMs: BigInt(Date.UTC(2026, 0, 12, 8, 0, 0)),
      openingHours,
    });
  });

  it('transferred names the queue it left as well as the one it is in', () => {
    const e = wire({
      type: 'transferred',
      conversationId: 'c1',
      fromAgentId: 'ann',
      queueId: 'billing',
      toAgentId: null,
      fromQueueId: 'support',
      fromParticipants: ['ann', 'senior'],
    });
    expect(e.transferred).toMatchObject({
      queueId: 'billing',
      fromQueueId: 'support',
      fromAgentId: 'ann',
      fromParticipants: ['ann', 'senior'],
    });
  });

  it('conversation_ended names every agent it released', () => {
    const e = wire({
      type: 'conversation_ended',
      conversationId: 'c1',
      agentId: 'ann',
      queueId: 'q1',
      outcome: 'resolved',
      handleMs: 5000,
      participants: ['ann', 'senior'],
    });
    expect(e.conversationEnded).toMatchObject({ agentId: 'ann', participants: ['ann', 'senior'] });
  });

  it("a most-skilled assignment's explanation carries the skills scored and the agent's score", () => {
    const base = {
      rule: 'strategy' as const,
      queueId: 'billing',
      candidates: 3,
      relaxed: [],
      waitedMs: 0,
    };
    const assigned = (explanation: Explanation) =>
      wire({
        type: 'assigned',
        conversationId: 'c1',
        agentId: 'ann',
        agentName: 'Ann',
        queueId: 'billing',
        expectedResponseMs: 20_000,
        explanation,
      }).assigned?.explanation;
    expect(
      assigned({ ...base, strategy: 'most_skilled', scoredSkills: ['billing', 'lang:fr'], skillScore: 15 }),
    ).toMatchObject({ scoredSkills: ['billing', 'lang:fr'], skillScore: 15 });
    // Other strategies score nothing: no skills, and no score rather than a score of 0.
    const other = assigned({ ...base, strategy: 'least_busy' });
    expect(other?.scoredSkills).toEqual([]);
    expect(other?.skillScore).toBeUndefined();
  });

  it("an escalation's explanation says whether the added agent can serve the conversation", () => {
    const explanation: Explanation = {
      rule: 'escalation',
      strategy: 'least_busy',
      queueId: 'tech',
      candidates: 2,
      relaxed: [],
      waitedMs: 0,
    };
    const escalated = (e: Explanation) =>
      wire({ type: 'escalated', conversationId: 'c1', agentId: 'bo', queueId: 'tech', explanation: e })
        .escalated?.explanation;
    expect(escalated({ ...explanation, qualified: false })?.qualified).toBe(false);
    expect(escalated({ ...explanation, qualified: true })?.qualified).toBe(true);
    // Absent for other rules, rather than a false that would read as "could not serve".
    expect(escalated(explanation)?.qualified).toBeUndefined();
  });
});

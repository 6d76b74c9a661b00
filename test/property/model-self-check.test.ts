/**
 * The invariant checkers must catch what they claim to catch: fed a hand-written incident (as events), the
 * event-built model reports it. Guards the property tests against passing vacuously.
 */
import { describe, expect, it } from 'vitest';
import type { ApplyResult, CommandEnvelope, EngineEvent } from '../../src/engine/types.js';
import { agent, conversation, EnvelopeClock, queue } from '../support/engine-builders.js';
import { RoutingModel } from '../support/engine-model.js';

const explanation = {
  rule: 'strategy' as const,
  strategy: 'least_busy' as const,
  queueId: 'q0',
  candidates: 1,
  relaxed: [],
  waitedMs: 0,
};

function setup(model: RoutingModel, clock: EnvelopeClock, cap = 1) {
  const ok = (events: EngineEvent[] = []): ApplyResult => ({ ok: true, reply: { kind: 'ok' }, events });
  const feed = (env: CommandEnvelope, events: EngineEvent[] = []) => model.observe(env, ok(events));
  feed(
    clock.envelope({
      type: 'upsert_queue',
      queue: queue('q0', { requiredSkills: [{ skill: 'billing', minLevel: 5 }] }),
    }),
  );
  feed(
    clock.envelope({
      type: 'upsert_agent',
      agent: agent('a0', { skills: [{ skill: 'billing', level: 6 }], capacity: { chat: cap } }),
    }),
  );
  feed(
    clock.envelope({
      type: 'upsert_agent',
      agent: agent('a1', { skills: [{ skill: 'billing', level: 2 }] }),
    }),
  );
  feed(clock.envelope({ type: 'set_presence', agentId: 'a0', presence: 'online' }));
  feed(clock.envelope({ type: 'set_presence', agentId: 'a1', presence: 'online' }));
  const enqueue = (id: string, events: EngineEvent[]) =>
    model.observe(clock.envelope({ type: 'enqueue', conversation: conversation(id, 'q0') }), {
      ok: true,
      reply: { kind: 'enqueued', conversationId: id, status: 'queued', queueId: 'q0' },
      events,
    });
  return { enqueue };
}

const assigned = (conversationId: string, agentId: string): EngineEvent => ({
  type: 'assigned',
  conversationId,
  agentId,
  agentName: agentId,
  queueId: 'q0',
  expectedResponseMs: 0,
  explanation,
});

describe('invariant checkers catch incidents', () => {
  it('flags a second conversation given to an agent with chat capacity 1', () => {
    const model = new RoutingModel();
    const { enqueue } = setup(model, new EnvelopeClock());
    enqueue('c1', [assigned('c1', 'a0')]);
    enqueue('c2', [assigned('c2', 'a0')]);
    expect(model.of('capacity')).toHaveLength(1);
  });

  it('flags a pending offer counted against capacity', () => {
    const model = new RoutingModel();
    const { enqueue } = setup(model, new EnvelopeClock());
    enqueue('c1', [{ type: 'offered', conversationId: 'c1', agentId: 'a0', queueId: 'q0', expiresAt: 0 }]);
    enqueue('c2', [assigned('c2', 'a0')]);
    expect(model.of('capacity')[0]).toMatch(/load at 2 > capacity 1/);
  });

  it('flags a conversation assigned twice', () => {
    const model = new RoutingModel();
    const { enqueue } = setup(model, new EnvelopeClock(), 3);
    enqueue('c1', [assigned('c1', 'a0'), assigned('c1', 'a0')]);
    expect(model.of('owner')).toHaveLength(1);
  });

  it('flags an assignment to an agent below the skill minimum', () => {
    const model = new RoutingModel();
    const { enqueue } = setup(model, new EnvelopeClock());
    enqueue('c1', [assigned('c1', 'a1')]);
    expect(model.of('eligibility')[0]).toMatch(/skill billing 2 < 5/);
  });

  it('flags a later conversation served before an earlier one of the same priority', () => {
    const model = new RoutingModel({ checkArrivalOrder: true });
    const { enqueue } = setup(model, new EnvelopeClock(), 3);
    enqueue('c1', []);
    enqueue('c2', [assigned('c2', 'a0')]);
    expect(model.of('arrival_order')).toHaveLength(1);
  });
});

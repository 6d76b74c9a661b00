/**
 * Incidents first found by the property tests, shrunk to their smallest form and kept as named scenarios
 * (given these commands, when this one, then these events / this state).
 */
import { describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine/api.js';
import { createEngine, restoreEngine } from '../../src/engine/index.js';
import type { ApplyResult, Command } from '../../src/engine/types.js';
import { agent, conversation, EnvelopeClock, queue, routingConfig } from '../support/engine-builders.js';

function desk(): { engine: Engine; run: (cmd: Command) => ApplyResult; clock: EnvelopeClock } {
  const engine = createEngine('tenant-incidents');
  const clock = new EnvelopeClock();
  return { engine, clock, run: (cmd) => engine.apply(clock.envelope(cmd)) };
}

describe('incidents found by the property tests', () => {
  it('an online agent who gains a queue’s skill is counted once among the agents online, live and after restore', () => {
    const { engine, run, clock } = desk();
    run({
      type: 'upsert_queue',
      queue: queue('fr', { requiredSkills: [{ skill: 'lang:fr', minLevel: 1 }] }),
    });
    run({ type: 'upsert_agent', agent: agent('amelie', { capacity: { chat: 0 } }) });
    run({ type: 'set_presence', agentId: 'amelie', presence: 'online' });
    // The supervisor adds French and a chat seat to an agent already online.
    run({
      type: 'upsert_agent',
      agent: agent('amelie', { skills: [{ skill: 'lang:fr', level: 1 }], capacity: { chat: 1 } }),
    });
    const live = engine.query({ type: 'queue_stats', queueId: 'fr' }, clock.at);
    const restored = restoreEngine(JSON.parse(JSON.stringify(engine.snapshot())));
    const after = restored.query({ type: 'queue_stats', queueId: 'fr' }, clock.at);
    expect(live.type === 'queue_stats' && live.stats?.agentsOnline).toBe(1);
    expect(after.type === 'queue_stats' && after.stats?.agentsOnline).toBe(1);
  });

  it('an online agent who loses a queue’s skill is no longer counted among its agents online', () => {
    const { engine, run, clock } = desk();
    run({
      type: 'upsert_queue',
      queue: queue('fr', { requiredSkills: [{ skill: 'lang:fr', minLevel: 1 }] }),
    });
    run({ type: 'upsert_agent', agent: agent('amelie', { skills: [{ skill: 'lang:fr', level: 3 }] }) });
    run({ type: 'upsert_agent', agent: agent('bruno', { skills: [{ skill: 'lang:fr', level: 3 }] }) });
    run({ type: 'set_presence', agentId: 'amelie', presence: 'online' });
    run({ type: 'set_presence', agentId: 'bruno', presence: 'online' });
    run({ type: 'upsert_agent', agent: agent('amelie', { skills: [] }) });
    const live = engine.query({ type: 'queue_stats', queueId: 'fr' }, clock.at);
    expect(live.type === 'queue_stats' && live.stats?.agentsOnline).toBe(1);
  });

  it('a supervisor removing overflow steps while an offer is pending does not break the offer timeout', () => {
    const { engine, run, clock } = desk();
    run({ type: 'set_routing_config', config: routingConfig() });
    const overflowing = queue('support', {
      requiredSkills: [{ skill: 'billing', minLevel: 5 }],
      strategy: 'round_robin',
      offerTimeoutSeconds: 30,
      overflow: [{ afterSeconds: 15, action: { kind: 'relax_skills', by: 2 } }],
    });
    run({ type: 'upsert_queue', queue: overflowing });
    run({ type: 'upsert_agent', agent: agent('junior', { skills: [{ skill: 'billing', level: 3 }] }) });
    run({ type: 'upsert_agent', agent: agent('senior', { skills: [{ skill: 'billing', level: 6 }] }) });
    run({ type: 'set_presence', agentId: 'junior', presence: 'online' });
    run({ type: 'set_presence', agentId: 'senior', presence: 'online' });
    run({ type: 'enqueue', conversation: conversation('c1', 'support') });
    clock.advance(30_000);
    // Senior times out; after the relax step the junior gets the offer.
    const t = run({ type: 'tick' });
    expect(t.ok && t.events.some((e) => e.type === 'offered' && e.agentId === 'junior')).toBe(true);
    run({ type: 'upsert_queue', queue: { ...overflowing, overflow: [] } });
    const digest = engine.digest();
    clock.advance(30_000);
    const timeout = run({ type: 'tick' });
    if (!timeout.ok) expect(engine.digest(), 'a failed command must change nothing').toBe(digest);
    expect(timeout).toMatchObject({ ok: true });
  });

  it('a conversation that itself requires billing keeps that requirement when its queue widens to general agents', () => {
    const { run, clock } = desk();
    run({ type: 'upsert_queue', queue: queue('general') });
    run({
      type: 'upsert_queue',
      queue: queue('billing', {
        requiredSkills: [{ skill: 'billing', minLevel: 3 }],
        overflow: [{ afterSeconds: 20, action: { kind: 'widen_to_queue', queueId: 'general' } }],
      }),
    });
    run({ type: 'upsert_agent', agent: agent('gina') });
    run({ type: 'set_presence', agentId: 'gina', presence: 'online' });
    // The customer's issue needs billing ≥ 3 whatever queue's agents end up serving it.
    const needsBilling = conversation('c1', 'billing', {
      requiredSkills: [{ skill: 'billing', minLevel: 3 }],
    });
    run({ type: 'enqueue', conversation: needsBilling });
    run({ type: 'enqueue', conversation: conversation('c2', 'billing') });
    clock.advance(20_000);
    const t = run({ type: 'tick' });
    const servedBy = (id: string) =>
      t.ok
        ? t.events.find((e) => (e.type === 'assigned' || e.type === 'offered') && e.conversationId === id)
        : undefined;
    expect(
      servedBy('c2'),
      'a plain billing-queue conversation may go to general agents once widened',
    ).toBeDefined();
    expect(servedBy('c1'), 'gina has no billing skill').toBeUndefined();
  });

  it('a conversation on offer while its queue’s overflow steps are removed and re-added does not jump to a step not yet due', () => {
    const { run, clock } = desk();
    run({ type: 'upsert_queue', queue: queue('general') });
    const fr = queue('fr', {
      requiredSkills: [{ skill: 'lang:fr', minLevel: 5 }],
      offerTimeoutSeconds: 60,
      overflow: [{ afterSeconds: 10, action: { kind: 'relax_skills', by: 2 } }],
    });
    run({ type: 'upsert_queue', queue: fr });
    run({ type: 'upsert_agent', agent: agent('amelie', { skills: [{ skill: 'lang:fr', level: 5 }] }) });
    run({ type: 'upsert_agent', agent: agent('claire', { skills: [{ skill: 'lang:fr', level: 3 }] }) });
    run({ type: 'upsert_agent', agent: agent('bob') });
    for (const id of ['amelie', 'claire', 'bob'])
      run({ type: 'set_presence', agentId: id, presence: 'online' });
    run({ type: 'enqueue', conversation: conversation('c1', 'fr') });
    clock.advance(10_000);
    // Amelie declines after 10 s: the relax step is due, Claire (French 3) gets the offer.
    const relaxed = run({ type: 'reject_offer', agentId: 'amelie', conversationId: 'c1' });
    expect(relaxed.ok && relaxed.events.some((e) => e.type === 'offered' && e.agentId === 'claire')).toBe(
      true,
    );
    // While Claire's offer is open the supervisor drops the overflow, then adds a widening due at 60 s.
    // Without the relax step Claire (French 3) no longer qualifies: her offer is withdrawn (only hers).
    const dropped = run({ type: 'upsert_queue', queue: { ...fr, overflow: [] } });
    expect(dropped.ok && dropped.events.filter((e) => e.type === 'offer_rescinded')).toMatchObject([
      { agentId: 'claire', conversationId: 'c1' },
    ]);
    const widened = run({
      type: 'upsert_queue',
      queue: {
        ...fr,
        overflow: [{ afterSeconds: 60, action: { kind: 'widen_to_queue', queueId: 'general' } }],
      },
    });
    clock.advance(20_000);
    const later = run({ type: 'tick' });
    // Nobody but Amelie (French 5, passed over until the 30 s re-check) may take it before 60 s: Bob
    // and Claire would both qualify through the widening to general agents.
    const offeredEarly = [dropped, widened, later].flatMap((r) =>
      r.ok ? r.events.filter((e) => e.type === 'offered').map((e) => e.agentId) : [],
    );
    expect(offeredEarly, 'the widening to general agents is only due at 60 s').toEqual([]);
  });

  it('an agent whose chat seat is removed loses the pending chat offer instead of accepting it over capacity', () => {
    const { run } = desk();
    run({ type: 'upsert_queue', queue: queue('sales', { offerTimeoutSeconds: 30 }) });
    run({ type: 'upsert_agent', agent: agent('nina', { capacity: { chat: 1 } }) });
    run({ type: 'set_presence', agentId: 'nina', presence: 'online' });
    const offered = run({ type: 'enqueue', conversation: conversation('c1', 'sales') });
    expect(offered).toMatchObject({ ok: true, reply: { status: 'offered' } });
    run({ type: 'upsert_agent', agent: agent('nina', { capacity: { chat: 0 } }) });
    const accept = run({ type: 'accept_offer', agentId: 'nina', conversationId: 'c1' });
    expect(accept.ok && accept.events.some((e) => e.type === 'assigned')).toBe(false);
  });
});

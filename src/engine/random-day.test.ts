import { describe, expect, it } from 'vitest';
import { mulberry32 as prng } from '../../loadtest/lib/prng.js';
import { agentConfig, conversation, customerConfig, queueConfig, routingConfig } from './fixtures.js';
import { createEngine, restoreEngine } from './index.js';
import type { Command, CommandEnvelope, EngineEvent, StrategyName } from './types.js';

const STRATEGIES: StrategyName[] = [
  'round_robin',
  'least_busy',
  'longest_idle',
  'most_skilled',
  'broadcast',
  'manual',
];

function randomDay(seed: number, n: number): CommandEnvelope[] {
  const r = prng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const agents = ['a0', 'a1', 'a2', 'a3', 'a4'];
  const queues = ['q0', 'q1', 'q2'];
  const convs: string[] = [];
  let at = Date.UTC(2026, 0, 5, 9, 0, 0);
  const out: CommandEnvelope[] = [];
  const push = (cmd: Command) => out.push({ id: `r${out.length}`, at, cmd });
  push({ type: 'set_routing_config', config: routingConfig({ maxMissedOffers: 2 }) });
  for (const q of queues) {
    push({
      type: 'upsert_queue',
      queue: queueConfig(q, {
        strategy: pick(STRATEGIES),
        broadcastWidth: 2,
        offerTimeoutSeconds: pick([0, 10]),
        requiredSkills: r() < 0.5 ? [{ skill: 'billing', minLevel: 3 }] : [],
        overflow: r() < 0.5 ? [{ afterSeconds: 15, action: { kind: 'relax_skills', by: 2 } }] : [],
        previousAgentWaitSeconds: pick([0, 20]),
        maxSize: pick([0, 3]),
      }),
    });
  }
  for (let i = 0; i < n; i++) {
    at += Math.floor(r() * 4000);
    const k = r();
    const a = pick(agents);
    if (k < 0.12) {
      push({
        type: 'upsert_agent',
        agent: agentConfig(a, {
          skills: [{ skill: 'billing', level: 1 + Math.floor(r() * 10) }],
          capacity: { chat: Math.floor(r() * 3) },
          wrapUpSeconds: pick([0, 5]),
          tier: 1 + Math.floor(r() * 3),
          seniority: pick(['new', 'experienced'] as const),
        }),
      });
    } else if (k < 0.22)
      push({
        type: 'set_presence',
        agentId: a,
        presence: pick(['online', 'online', 'away', 'offline'] as const),
      });
    else if (k < 0.45) {
      const id = `c${i}`;
      convs.push(id);
      push({
        type: 'enqueue',
        conversation: conversation(id, {
          queueId: pick(queues),
          customer: { id: pick(['u1', 'u2', `u${i}`]) },
          priority: Math.floor(r() * 4),
        }),
      });
    } else if (k < 0.52)
      push({ type: 'accept_offer', agentId: a, conversationId: pick(convs.length ? convs : ['none']) });
    else if (k < 0.56)
      push({ type: 'reject_offer', agentId: a, conversationId: pick(convs.length ? convs : ['none']) });
    else if (k < 0.64)
      push({
        type: 'end_conversation',
        conversationId: pick(convs.length ? convs : ['none']),
        outcome: 'resolved',
      });
    else if (k < 0.68) push({ type: 'cancel', conversationId: pick(convs.length ? convs : ['none']) });
    else if (k < 0.71)
      push({
        type: 'transfer',
        conversationId: pick(convs.length ? convs : ['none']),
        toQueueId: pick(queues),
      });
    else if (k < 0.73)
      push({ type: 'transfer', conversationId: pick(convs.length ? convs : ['none']), toAgentId: a });
    else if (k < 0.75)
      push({ type: 'escalate', conversationId: pick(convs.length ? convs : ['none']), toTier: 2 });
    else if (k < 0.77)
      push({ type: 'assign', conversationId: pick(convs.length ? convs : ['none']), agentId: a });
    else if (k < 0.79) push({ type: 'finish_wrap_up', agentId: a });
    else if (k < 0.8) push({ type: 'remove_agent', agentId: a });
    else if (k < 0.82)
      push({
        type: 'upsert_customer',
        customer: customerConfig('u1', { valueTier: 'high_value', dedicatedAgentId: a }),
      });
    else if (k < 0.835) push({ type: 'remove_customer', customerId: pick(['u1', 'u2', `u${i - 1}`]) });
    else push({ type: 'tick' });
  }
  return out;
}

/**
 * Seats in use per agent, followed from the events alone (every queue of the random day is chat):
 * offers and conversations held, escalations included.
 */
class SeatModel {
  private readonly offers = new Map<string, Set<string>>();
  private readonly holders = new Map<string, Set<string>>();
  readonly capacity = new Map<string, number>();

  seats(agent: string): number {
    let n = 0;
    for (const s of this.offers.values()) if (s.has(agent)) n++;
    for (const s of this.holders.values()) if (s.has(agent)) n++;
    return n;
  }

  private set(m: Map<string, Set<string>>, conv: string): Set<string> {
    let s = m.get(conv);
    if (!s) {
      s = new Set();
      m.set(conv, s);
    }
    return s;
  }

  /** Applies one command's events; returns the agents who gained a seat. */
  follow(events: EngineEvent[]): Set<string> {
    const gained = new Set<string>();
    for (const e of events) {
      switch (e.type) {
        case 'offered':
          this.set(this.offers, e.conversationId).add(e.agentId);
          gained.add(e.agentId);
          break;
        case 'offer_rescinded':
        case 'offer_missed':
          this.set(this.offers, e.conversationId).delete(e.agentId);
          break;
        case 'assigned':
          this.set(this.offers, e.conversationId).delete(e.agentId);
          this.set(this.holders, e.conversationId).add(e.agentId);
          gained.add(e.agentId);
          break;
        case 'transferred':
          this.holders.delete(e.conversationId);
          break;
        case 'escalated':
          this.set(this.holders, e.conversationId).add(e.agentId);
          gained.add(e.agentId);
          break;
        case 'conversation_ended':
        case 'abandoned':
          this.holders.delete(e.conversationId);
          this.offers.delete(e.conversationId);
          break;
      }
    }
    return gained;
  }
}

describe('a random day of supervisor, agent and customer actions', () => {
  for (const seed of Array.from({ length: Number(process.env.SB_RANDOM_DAYS ?? 6) }, (_, i) => i + 1)) {
    it(`never fails internally, never exceeds a seat, and restores exactly mid-day (seed ${seed})`, () => {
      const day = randomDay(seed, 400);
      const e = createEngine('tenant-random');
      let restored = null as ReturnType<typeof restoreEngine> | null;
      const model = new SeatModel();
      const accepted = new Map<string, number>();
      let seatChecks = 0;
      day.forEach((env, i) => {
        const r = e.apply(env);
        if (!r.ok) expect(r.error.code).not.toBe('SB_ERR_INTERNAL');
        if (restored) expect(restored.apply(env)).toEqual(r);
        if (i === 200) restored = restoreEngine(JSON.parse(JSON.stringify(e.snapshot())));
        if (!r.ok) return;
        accepted.set(env.cmd.type, (accepted.get(env.cmd.type) ?? 0) + 1);
        if (env.cmd.type === 'upsert_agent')
          model.capacity.set(env.cmd.agent.id, env.cmd.agent.capacity.chat ?? 0);
        for (const a of model.follow(r.events)) {
          seatChecks++;
          expect(model.seats(a), `${a} after ${JSON.stringify(env.cmd)}`).toBeLessThanOrEqual(
            model.capacity.get(a) ?? 0,
          );
        }
      });
      // The day really happened: the set-up and the conversations were accepted and agents were given
      // work (a day of refusals would pass every check above without testing anything).
      for (const type of ['upsert_queue', 'upsert_agent', 'set_presence', 'enqueue'])
        expect(accepted.get(type) ?? 0, `accepted ${type} commands`).toBeGreaterThan(0);
      expect(seatChecks, 'offers, assignments and escalations checked against capacity').toBeGreaterThan(0);
      expect(restored, 'the mid-day restore').not.toBeNull();
      expect(restored!.digest()).toBe(e.digest());
    });
  }
});

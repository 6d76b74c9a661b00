/**
 * Generates the golden contact-center day: `day.commands.jsonl` (one command envelope a line) and the
 * expectations in `day.digest.json` / `day.decisions.txt`.
 *
 * The day is simulated against the engine with a seeded PRNG (mulberry32), so agents react to what the
 * engine actually decided (accept or ignore offers, end conversations, finish wrap-up) and customers leave
 * when they wait too long. Once written, the log is frozen: the golden test replays it and any change in a
 * routing decision shows up as a changed line of `day.decisions.txt`.
 *
 * Regenerate (only when a decision change is intended, and say so in the commit):
 *   SB_GOLDEN_UPDATE=1 npx vitest run test/golden
 */

import { mulberry32 } from '../../loadtest/lib/prng.js';
import type { Engine } from '../../src/engine/api.js';
import type {
  AgentConfig,
  ApplyResult,
  Channel,
  Command,
  CommandEnvelope,
  EngineEvent,
  QueueConfig,
} from '../../src/engine/types.js';
import { agent, customer, queue, routingConfig } from '../support/engine-builders.js';

export const GOLDEN_PARTITION = 'tenant-golden';
export const GOLDEN_SEED = 20260105;
/** Monday 5 January 2026, 07:30 UTC (08:30 in Paris: the email queue opens half an hour in). */
const START = Date.UTC(2026, 0, 5, 7, 30, 0);
const DAY_MS = 5 * 3600_000;
const TICK_MS = 10_000;

const QUEUES: QueueConfig[] = [
  queue('sales_chat', {
    requiredSkills: [{ skill: 'sales', minLevel: 3 }],
    strategy: 'round_robin',
    priority: 6,
    offerTimeoutSeconds: 20,
    overflow: [{ afterSeconds: 60, action: { kind: 'relax_skills', by: 2 } }],
  }),
  queue('support_chat', {
    requiredSkills: [
      { skill: 'support', minLevel: 4 },
      { skill: 'lang:fr', minLevel: 5 },
    ],
    strategy: 'least_busy',
    priority: 5,
    overflow: [{ afterSeconds: 90, action: { kind: 'drop_skills', skills: ['lang:fr'] } }],
    previousAgentWaitSeconds: 30,
    newCustomersToNewAgents: true,
  }),
  queue('billing_voice', {
    channel: 'voice',
    requiredSkills: [{ skill: 'billing', minLevel: 5 }],
    strategy: 'longest_idle',
    priority: 8,
    offerTimeoutSeconds: 15,
    serviceLevel: { target: 0.8, thresholdSeconds: 20, windowSeconds: 1800 },
  }),
  queue('vip_chat', {
    requiredSkills: [{ skill: 'support', minLevel: 7 }],
    strategy: 'most_skilled',
    priority: 9,
  }),
  queue('tech_broadcast', {
    requiredSkills: [{ skill: 'tech', minLevel: 4 }],
    strategy: 'broadcast',
    broadcastWidth: 3,
    priority: 4,
    offerTimeoutSeconds: 30,
    overflow: [{ afterSeconds: 120, action: { kind: 'widen_to_queue', queueId: 'support_chat' } }],
  }),
  queue('email', {
    channel: 'email',
    requiredSkills: [{ skill: 'support', minLevel: 2 }],
    strategy: 'least_busy',
    priority: 1,
    maxSize: 60,
    serviceLevel: { target: 1, thresholdSeconds: 86_400, windowSeconds: 86_400 },
    businessHours: {
      timeZone: 'Europe/Paris',
      windows: [1, 2, 3, 4, 5].map((day) => ({ day, open: '09:00', close: '18:00' })),
      holidays: ['2026-01-01'],
    },
  }),
  queue('supervisor_desk', { strategy: 'manual', priority: 3 }),
];

const SKILLS = ['sales', 'support', 'lang:fr', 'billing', 'tech'];

function agents(rand: () => number): AgentConfig[] {
  const out: AgentConfig[] = [];
  for (let i = 0; i < 24; i++) {
    const skills = SKILLS.filter(() => rand() < 0.55).map((skill) => ({
      skill,
      level: 1 + Math.floor(rand() * 10),
    }));
    const senior = i % 4 === 0;
    out.push(
      agent(`agent-${String(i).padStart(2, '0')}`, {
        displayName: `Agent ${i}`,
        skills: skills.length > 0 ? skills : [{ skill: 'support', level: 3 }],
        teams: [i < 12 ? 'team-north' : 'team-south'],
        tier: senior ? 2 : 1,
        seniority: i % 3 === 0 ? 'new' : 'experienced',
        capacity: { chat: i % 3 === 0 ? 1 : 3, voice: i % 2, email: 5 },
        wrapUpSeconds: [0, 15, 30, 60][i % 4]!,
      }),
    );
  }
  return out;
}

interface Scheduled {
  at: number;
  seq: number;
  make: () => Command | null;
}

/** Simulates the golden day against `engine` and returns the envelopes it sent, in order. */
export function generateDay(engine: Engine, seed = GOLDEN_SEED): CommandEnvelope[] {
  const rand = mulberry32(seed);
  const log: CommandEnvelope[] = [];
  const timeline: Scheduled[] = [];
  let seq = 0;
  const schedule = (at: number, make: () => Command | null) => {
    timeline.push({ at, seq: seq++, make });
  };
  // What the desktops know, learnt from events only.
  const offers = new Set<string>();
  const owner = new Map<string, string>();
  const waiting = new Set<string>();
  const inWrapUp = new Set<string>();

  const send = (at: number, cmd: Command): ApplyResult => {
    const env: CommandEnvelope = { id: `req-${String(log.length).padStart(5, '0')}`, at, cmd };
    log.push(env);
    const r = engine.apply(env);
    if (r.ok) for (const e of r.events) react(at, e);
    return r;
  };

  const react = (at: number, e: EngineEvent) => {
    switch (e.type) {
      case 'offered': {
        const key = `${e.agentId}|${e.conversationId}`;
        offers.add(key);
        waiting.delete(e.conversationId);
        const roll = rand();
        const delay = 1000 + Math.floor(rand() * 12_000);
        // 85 % accept, 7 % reject, the rest let the offer time out.
        if (roll < 0.85) {
          schedule(at + delay, () =>
            offers.has(key)
              ? { type: 'accept_offer', agentId: e.agentId, conversationId: e.conversationId }
              : null,
          );
        } else if (roll < 0.92) {
          schedule(at + delay, () =>
            offers.has(key)
              ? { type: 'reject_offer', agentId: e.agentId, conversationId: e.conversationId }
              : null,
          );
        }
        break;
      }
      case 'offer_rescinded':
      case 'offer_missed':
        offers.delete(`${e.agentId}|${e.conversationId}`);
        break;
      case 'assigned': {
        offers.delete(`${e.agentId}|${e.conversationId}`);
        waiting.delete(e.conversationId);
        owner.set(e.conversationId, e.agentId);
        const handle = 60_000 + Math.floor(rand() * 600_000);
        const r = rand();
        const conv = e.conversationId;
        const agentId = e.agentId;
        if (r < 0.04) {
          schedule(at + handle / 3, () =>
            owner.get(conv) === agentId
              ? { type: 'transfer', conversationId: conv, toQueueId: 'support_chat' }
              : null,
          );
        } else if (r < 0.06) {
          schedule(at + handle / 2, () =>
            owner.get(conv) === agentId ? { type: 'escalate', conversationId: conv, toTier: 2 } : null,
          );
        }
        const outcome = (['resolved', 'resolved', 'resolved', 'closed', 'needs_follow_up'] as const)[
          Math.floor(rand() * 5)
        ]!;
        schedule(at + handle, () =>
          owner.get(conv) === agentId ? { type: 'end_conversation', conversationId: conv, outcome } : null,
        );
        break;
      }
      case 'queued':
      case 'over_capacity': {
        if (waiting.has(e.conversationId)) break;
        waiting.add(e.conversationId);
        const patience = 20_000 + Math.floor(rand() * 240_000);
        const conv = e.conversationId;
        schedule(at + patience, () => (waiting.has(conv) ? { type: 'cancel', conversationId: conv } : null));
        break;
      }
      case 'transferred':
        owner.delete(e.conversationId);
        break;
      case 'conversation_ended':
      case 'abandoned':
        owner.delete(e.conversationId);
        waiting.delete(e.conversationId);
        break;
      case 'wrap_up_started': {
        inWrapUp.add(e.agentId);
        if (rand() < 0.3) {
          const agentId = e.agentId;
          schedule(at + 3000, () => (inWrapUp.has(agentId) ? { type: 'finish_wrap_up', agentId } : null));
        }
        break;
      }
      case 'wrap_up_ended':
        inWrapUp.delete(e.agentId);
        break;
      default:
        break;
    }
  };

  // Morning set-up by the administrator.
  let at = START;
  send(at, {
    type: 'set_routing_config',
    config: routingConfig({
      maxMissedOffers: 3,
      agingPerMinute: 0.5,
      slaDrivenPriority: true,
      queueRules: [
        { channel: 'voice', queueId: 'billing_voice' },
        { channel: 'email', queueId: 'email' },
        { topic: 'sales', queueId: 'sales_chat' },
        { skills: ['tech'], queueId: 'tech_broadcast' },
        { queueId: 'support_chat' },
      ],
    }),
  });
  for (const q of QUEUES) send(at, { type: 'upsert_queue', queue: q });
  const team = agents(rand);
  for (const a of team) send(at, { type: 'upsert_agent', agent: a });
  for (let c = 0; c < 40; c++) {
    const high = c % 8 === 0;
    send(at, {
      type: 'upsert_customer',
      customer: customer(`customer-${c}`, {
        valueTier: high ? 'high_value' : 'standard',
        previousAgents: c % 5 === 0 ? [team[c % team.length]!.id] : [],
        ...(high ? { dedicatedAgentId: team[(c * 7) % team.length]!.id } : {}),
      }),
    });
  }
  // Agents log in over the first half hour; some take breaks later.
  for (const a of team) {
    const login = START + Math.floor(rand() * 1_800_000);
    schedule(login, () => ({ type: 'set_presence', agentId: a.id, presence: 'online' }));
    if (rand() < 0.5) {
      const away = login + 3_600_000 + Math.floor(rand() * 7_200_000);
      schedule(away, () => ({ type: 'set_presence', agentId: a.id, presence: 'away' }));
      schedule(away + 600_000 + Math.floor(rand() * 900_000), () => ({
        type: 'set_presence',
        agentId: a.id,
        presence: 'online',
      }));
    }
  }
  // Arrivals: a morning ramp then a lunchtime peak.
  let conv = 0;
  for (let t = START + 60_000; t < START + DAY_MS - 600_000; ) {
    const hour = (t - START) / 3_600_000;
    const rate = 2 + 4 * Math.exp(-((hour - 2.5) ** 2)); // arrivals per minute
    t += Math.floor((-Math.log(1 - rand()) / rate) * 60_000);
    const id = `conv-${String(conv++).padStart(4, '0')}`;
    const r = rand();
    const channel: Channel = r < 0.15 ? 'voice' : r < 0.25 ? 'email' : 'chat';
    const topic = rand() < 0.3 ? 'sales' : undefined;
    const cust = rand() < 0.6 ? `customer-${Math.floor(rand() * 40)}` : `walk-in-${conv}`;
    const techy = channel === 'chat' && rand() < 0.15;
    const explicitQueue =
      channel === 'chat' && rand() < 0.08 ? (rand() < 0.5 ? 'vip_chat' : 'supervisor_desk') : undefined;
    const priority = Math.floor(rand() * 4);
    schedule(t, () => ({
      type: 'enqueue',
      conversation: {
        id,
        channel,
        customer: { id: cust },
        requiredSkills: techy ? [{ skill: 'tech', minLevel: 4 }] : [],
        ...(explicitQueue ? { queueId: explicitQueue } : {}),
        ...(topic ? { topic } : {}),
        priority,
      },
    }));
    if (explicitQueue === 'supervisor_desk') {
      schedule(t + 45_000, () => {
        if (!waiting.has(id)) return null;
        return { type: 'assign', conversationId: id, agentId: team[conv % team.length]!.id };
      });
    }
  }

  let nextTick = START + TICK_MS;
  const end = START + DAY_MS;
  while (true) {
    timeline.sort((x, y) => x.at - y.at || x.seq - y.seq);
    const due = timeline[0];
    if (due && due.at <= nextTick) {
      timeline.shift();
      at = Math.max(at, due.at);
      const cmd = due.make();
      if (cmd) send(at, cmd);
      // Retried requests: re-send the previous envelope's id and command, later.
      if (cmd && cmd.type === 'enqueue' && rand() < 0.02) {
        const prev = log[log.length - 1]!;
        at += 150;
        log.push({ id: prev.id, at, cmd: prev.cmd });
        engine.apply(log[log.length - 1]!);
      }
      continue;
    }
    if (nextTick > end) break;
    at = nextTick;
    send(at, { type: 'tick' });
    nextTick += TICK_MS;
  }
  return log;
}

/** Serialises envelopes as JSON lines. */
export function toJsonl(envs: readonly CommandEnvelope[]): string {
  return envs.map((e) => JSON.stringify(e)).join('\n') + '\n';
}

/**
 * Scenario files: one contact-center day (or several identical days) described as data — queues, traffic
 * streams, agent groups with shifts and breaks. Validated with zod so a typo names the offending field.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { Channel, QueueConfig, RoutingConfig, StrategyName } from '../../src/engine/types.js';

const channel = z.enum(['chat', 'voice', 'email', 'sms', 'social']);
const strategy = z.enum(['round_robin', 'least_busy', 'longest_idle', 'most_skilled', 'broadcast', 'manual']);
const hhmm = z.string().regex(/^\d{1,2}:\d{2}$/, 'expected "HH:MM"');
const skillReq = z.object({ skill: z.string().min(1), minLevel: z.number().int().min(1).max(10).default(1) });
const skillLevel = z.object({ skill: z.string().min(1), level: z.number().int().min(1).max(10) });

const distribution = z.discriminatedUnion('dist', [
  z.object({ dist: z.literal('exponential'), mean: z.number().positive() }),
  z.object({ dist: z.literal('lognormal'), mean: z.number().positive(), sd: z.number().positive() }),
  z.object({ dist: z.literal('fixed'), value: z.number().nonnegative() }),
  z.object({ dist: z.literal('uniform'), min: z.number().nonnegative(), max: z.number().nonnegative() }),
]);

const queueSchema = z.object({
  id: z.string().min(1),
  name: z.string().optional(),
  channel,
  requiredSkills: z.array(skillReq).default([]),
  strategy: strategy.default('least_busy'),
  onlineOnly: z.boolean().default(false),
  broadcastWidth: z.number().int().min(1).default(3),
  priority: z.number().int().min(0).max(10).default(5),
  serviceLevel: z
    .object({
      target: z.number().min(0).max(1).default(0.8),
      thresholdSeconds: z.number().positive().default(20),
      windowSeconds: z.number().positive().default(3600),
    })
    .default({ target: 0.8, thresholdSeconds: 20, windowSeconds: 3600 }),
  maxSize: z.number().int().min(0).default(0),
  offerTimeoutSeconds: z.number().min(0).default(0),
  previousAgentWaitSeconds: z.number().min(0).default(0),
  newCustomersToNewAgents: z.boolean().default(false),
  overflow: z.array(z.any()).default([]),
});

const trafficSchema = z.object({
  /** Queue the stream's conversations are enqueued to. */
  queue: z.string().min(1),
  /** Expected conversations per day. */
  perDay: z.number().positive(),
  /** 24 relative weights, one per hour of the day (normalised); default flat. */
  hourlyProfile: z.array(z.number().nonnegative()).length(24).optional(),
  handleTime: distribution,
  /** How long a customer is willing to wait before leaving; absent = infinite patience. */
  patience: distribution.optional(),
  /** Extra skills some conversations require (e.g. a language), with their share of the stream. */
  skillMix: z.array(z.object({ share: z.number().nonnegative(), skills: z.array(skillReq) })).default([]),
  priority: z.number().int().min(0).max(10).default(5),
  /** Share of contacts from high-value customers (VIP pool), who jump the queue by `vipPriorityBoost`. */
  vipShare: z.number().min(0).max(1).default(0),
  vipPriorityBoost: z.number().int().min(0).max(10).default(3),
  /** Share of contacts from customers who already talked to someone earlier in the run. */
  returningShare: z.number().min(0).max(1).default(0),
});

const breakSchema = z.object({
  /** Local time the first agent of the group leaves for this break. */
  at: hhmm,
  minutes: z.number().positive(),
  /** Agent i leaves `i × staggerMinutes` later, so a team never breaks all at once. */
  staggerMinutes: z.number().min(0).default(0),
});

const agentGroupSchema = z.object({
  id: z.string().min(1),
  count: z.number().int().min(0),
  skills: z.array(skillLevel).default([]),
  capacity: z.partialRecord(channel, z.number().int().min(0)),
  wrapUpSeconds: z.number().min(0).default(0),
  tier: z.number().int().min(1).default(1),
  seniority: z.enum(['new', 'experienced']).default('experienced'),
  queues: z.array(z.string()).default([]),
  shift: z.object({ start: hhmm, end: hhmm }).default({ start: '00:00', end: '24:00' }),
  breaks: z.array(breakSchema).default([]),
  /** Seconds an agent takes to accept an offer (queues with an offer timeout). */
  acceptDelaySeconds: z.number().min(0).default(2),
  /** Some VIP customers have one of this group's agents as their dedicated agent. */
  dedicatedToVips: z.boolean().default(false),
});

export const scenarioSchema = z.object({
  name: z.string().min(1),
  description: z.string().default(''),
  seed: z.number().int().default(1),
  /** Number of consecutive identical days (same staffing plan, fresh arrivals). */
  days: z.number().int().min(1).default(1),
  /** Seconds at the start of the run excluded from the statistics (steady-state checks). */
  warmupSeconds: z.number().min(0).default(0),
  routing: z
    .object({
      maxMissedOffers: z.number().int().min(0).default(3),
      agingPerMinute: z.number().min(0).default(0.5),
      slaDrivenPriority: z.boolean().default(false),
      slaAtRiskMargin: z.number().min(0).default(0.05),
    })
    .default({ maxMissedOffers: 3, agingPerMinute: 0.5, slaDrivenPriority: false, slaAtRiskMargin: 0.05 }),
  queues: z.array(queueSchema).min(1),
  traffic: z.array(trafficSchema).min(1),
  agents: z.array(agentGroupSchema).min(1),
  customers: z.object({ vipCount: z.number().int().min(0).default(20) }).default({ vipCount: 20 }),
});

export type Scenario = z.infer<typeof scenarioSchema>;
export type TrafficStream = Scenario['traffic'][number];
export type AgentGroup = Scenario['agents'][number];

/** Parses and validates a scenario object; throws an Error naming the first bad field. */
export function parseScenario(raw: unknown, source = 'scenario'): Scenario {
  const r = scenarioSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new Error(`${source}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const s = r.data;
  const queueIds = new Set(s.queues.map((q) => q.id));
  s.traffic.forEach((t, i) => {
    if (!queueIds.has(t.queue)) throw new Error(`${source}: traffic.${i}.queue: unknown queue "${t.queue}"`);
  });
  return s;
}

export function loadScenario(path: string): Scenario {
  return parseScenario(JSON.parse(readFileSync(path, 'utf8')), path);
}

/** The engine record for a scenario queue. */
export function toQueueConfig(q: Scenario['queues'][number]): QueueConfig {
  return {
    id: q.id,
    name: q.name ?? q.id,
    channel: q.channel as Channel,
    requiredSkills: q.requiredSkills,
    strategy: q.strategy as StrategyName,
    onlineOnly: q.onlineOnly,
    broadcastWidth: q.broadcastWidth,
    priority: q.priority,
    serviceLevel: q.serviceLevel,
    maxSize: q.maxSize,
    offerTimeoutSeconds: q.offerTimeoutSeconds,
    overflow: q.overflow,
    previousAgentWaitSeconds: q.previousAgentWaitSeconds,
    newCustomersToNewAgents: q.newCustomersToNewAgents,
  };
}

export function toRoutingConfig(s: Scenario): RoutingConfig {
  return { ...s.routing, queueRules: [] };
}

/** "HH:MM" → seconds after midnight. */
export function clockSeconds(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h! * 3600 + m! * 60;
}

/**
 * A what-if change, e.g. `{"agents": +5}` (JSON with a leading plus tolerated), `{"strategy": "round_robin"}`,
 * `{"group": {"chat-en": 3}}` (agents added to one group), `{"volume": 1.2}`, `{"wrapUpSeconds": 0}`.
 */
export interface WhatIf {
  agents?: number;
  group?: Record<string, number>;
  strategy?: StrategyName;
  /** Multiplies traffic volume: arrivals then differ from the base day (more customers). */
  volume?: number;
  wrapUpSeconds?: number;
  offerTimeoutSeconds?: number;
}

export function parseWhatIf(text: string): WhatIf {
  const json = text.replace(/:\s*\+(\d)/g, ': $1');
  const w = JSON.parse(json) as WhatIf;
  const known = new Set(['agents', 'group', 'strategy', 'volume', 'wrapUpSeconds', 'offerTimeoutSeconds']);
  for (const k of Object.keys(w)) if (!known.has(k)) throw new Error(`--what-if: unknown key "${k}"`);
  return w;
}

/** Applies a what-if to a copy of the scenario; extra agents go round-robin over groups, largest first. */
export function applyWhatIf(base: Scenario, w: WhatIf): Scenario {
  const s = structuredClone(base);
  if (w.agents) {
    const order = [...s.agents].sort((a, b) => b.count - a.count);
    for (let i = 0; i < Math.abs(w.agents); i++) {
      const g = order[i % order.length]!;
      g.count = Math.max(0, g.count + Math.sign(w.agents));
    }
  }
  for (const [id, n] of Object.entries(w.group ?? {})) {
    const g = s.agents.find((a) => a.id === id);
    if (!g) throw new Error(`--what-if: unknown agent group "${id}"`);
    g.count = Math.max(0, g.count + n);
  }
  if (w.strategy) for (const q of s.queues) q.strategy = w.strategy;
  if (w.volume !== undefined) for (const t of s.traffic) t.perDay *= w.volume;
  if (w.wrapUpSeconds !== undefined) for (const g of s.agents) g.wrapUpSeconds = w.wrapUpSeconds;
  if (w.offerTimeoutSeconds !== undefined)
    for (const q of s.queues) q.offerTimeoutSeconds = w.offerTimeoutSeconds;
  return s;
}

/** Staffing from another scenario file on the base day's traffic and seed (`--compare`). */
export function withStaffingOf(base: Scenario, other: Scenario): Scenario {
  return {
    ...structuredClone(other),
    traffic: structuredClone(base.traffic),
    seed: base.seed,
    days: base.days,
  };
}

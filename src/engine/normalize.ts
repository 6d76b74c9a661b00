/**
 * Canonical copies of configuration records: fixed key order, no unknown fields, no shared references
 * with the caller. Stored configs are therefore stable for snapshots and digests whatever the caller's
 * object looked like.
 */
import type {
  AgentConfig,
  BusinessHours,
  Channel,
  CustomerConfig,
  OverflowAction,
  QueueConfig,
  RoutingConfig,
} from './types.js';
import { CHANNELS } from './types.js';

export function normAgent(a: AgentConfig): AgentConfig {
  const capacity: Partial<Record<Channel, number>> = {};
  for (const ch of CHANNELS) if (a.capacity[ch] !== undefined) capacity[ch] = a.capacity[ch];
  return {
    id: a.id,
    displayName: a.displayName,
    skills: a.skills.map((s) => ({ skill: s.skill, level: s.level })),
    teams: a.teams.slice(),
    tier: a.tier,
    seniority: a.seniority,
    capacity,
    wrapUpSeconds: a.wrapUpSeconds,
    queues: a.queues.slice(),
  };
}

function normAction(a: OverflowAction): OverflowAction {
  switch (a.kind) {
    case 'relax_skills':
      return { kind: a.kind, by: a.by };
    case 'drop_skills':
      return { kind: a.kind, skills: a.skills.slice() };
    case 'widen_to_queue':
      return { kind: a.kind, queueId: a.queueId };
    case 'escalate_tier':
      return { kind: a.kind, tier: a.tier };
  }
}

function normHours(h: BusinessHours): BusinessHours {
  return {
    timeZone: h.timeZone,
    windows: h.windows.map((w) => ({ day: w.day, open: w.open, close: w.close })),
    holidays: h.holidays.slice(),
  };
}

export function normQueue(q: QueueConfig): QueueConfig {
  const out: QueueConfig = {
    id: q.id,
    name: q.name,
    channel: q.channel,
    requiredSkills: q.requiredSkills.map((r) => ({ skill: r.skill, minLevel: r.minLevel })),
    strategy: q.strategy,
    onlineOnly: q.onlineOnly,
    broadcastWidth: q.broadcastWidth,
    priority: q.priority,
    serviceLevel: {
      target: q.serviceLevel.target,
      thresholdSeconds: q.serviceLevel.thresholdSeconds,
      windowSeconds: q.serviceLevel.windowSeconds,
    },
    maxSize: q.maxSize,
    offerTimeoutSeconds: q.offerTimeoutSeconds,
    overflow: q.overflow.map((s) => ({ afterSeconds: s.afterSeconds, action: normAction(s.action) })),
    previousAgentWaitSeconds: q.previousAgentWaitSeconds,
    newCustomersToNewAgents: q.newCustomersToNewAgents,
  };
  if (q.businessHours) out.businessHours = normHours(q.businessHours);
  return out;
}

export function normCustomer(c: CustomerConfig): CustomerConfig {
  const out: CustomerConfig = { id: c.id, valueTier: c.valueTier, previousAgents: c.previousAgents.slice() };
  if (c.dedicatedAgentId !== undefined) out.dedicatedAgentId = c.dedicatedAgentId;
  return out;
}

export function normRouting(r: RoutingConfig): RoutingConfig {
  return {
    maxMissedOffers: r.maxMissedOffers,
    agingPerMinute: r.agingPerMinute,
    slaDrivenPriority: r.slaDrivenPriority,
    queueRules: r.queueRules.map((x) => {
      const o: RoutingConfig['queueRules'][number] = { queueId: x.queueId };
      if (x.channel !== undefined) o.channel = x.channel;
      if (x.topic !== undefined) o.topic = x.topic;
      if (x.skills !== undefined) o.skills = x.skills.slice();
      return o;
    }),
    slaAtRiskMargin: r.slaAtRiskMargin,
  };
}

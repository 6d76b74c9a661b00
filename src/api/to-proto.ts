/**
 * Engine records → generated proto messages (the answers). The inverse of `validate/*`. Epoch-ms times
 * become `bigint` (int64 with forceLong=bigint); `null` becomes an unset optional field.
 */

import type {
  AgentConfig,
  AgentStats,
  BusinessHours,
  Channel,
  ConversationView,
  CustomerConfig,
  EngineEvent,
  Explanation,
  LintFinding,
  OverflowAction,
  QueueConfig,
  QueueStats,
  Reply,
  RoutingConfig,
} from '../engine/types.js';
import type { LintFinding as PbLintFinding } from '../gen/switchboard/v1/admin.js';
import {
  type Agent,
  type Customer,
  Channel as PbChannel,
  type Explanation as PbExplanation,
  Outcome as PbOutcome,
  type OverflowAction as PbOverflowAction,
  Presence as PbPresence,
  type RoutingConfig as PbRoutingConfig,
  Seniority as PbSeniority,
  Strategy as PbStrategy,
  ValueTier as PbValueTier,
  type BusinessHours as ProtoBusinessHours,
  type Queue,
} from '../gen/switchboard/v1/common.js';
import type { Event } from '../gen/switchboard/v1/events.js';
import {
  type Conversation,
  type EnqueueResponse,
  EnqueueStatus,
  ConversationStatus as PbConversationStatus,
} from '../gen/switchboard/v1/gateway.js';
import {
  type AgentStats as PbAgentStats,
  type QueueStats as PbQueueStats,
  ServiceLevelState as PbServiceLevelState,
} from '../gen/switchboard/v1/statistics.js';
import type { PublishedEvent } from '../host/router.js';

export const PB_CHANNEL: Record<Channel, PbChannel> = {
  chat: PbChannel.CHANNEL_CHAT,
  voice: PbChannel.CHANNEL_VOICE,
  email: PbChannel.CHANNEL_EMAIL,
  sms: PbChannel.CHANNEL_SMS,
  social: PbChannel.CHANNEL_SOCIAL,
};
const PB_PRESENCE = {
  offline: PbPresence.PRESENCE_OFFLINE,
  online: PbPresence.PRESENCE_ONLINE,
  away: PbPresence.PRESENCE_AWAY,
} as const;
const PB_STRATEGY = {
  round_robin: PbStrategy.STRATEGY_ROUND_ROBIN,
  least_busy: PbStrategy.STRATEGY_LEAST_BUSY,
  longest_idle: PbStrategy.STRATEGY_LONGEST_IDLE,
  most_skilled: PbStrategy.STRATEGY_MOST_SKILLED,
  broadcast: PbStrategy.STRATEGY_BROADCAST,
  manual: PbStrategy.STRATEGY_MANUAL,
} as const;
const PB_OUTCOME = {
  resolved: PbOutcome.OUTCOME_RESOLVED,
  closed: PbOutcome.OUTCOME_CLOSED,
  needs_follow_up: PbOutcome.OUTCOME_NEEDS_FOLLOW_UP,
} as const;
const PB_ENQUEUE_STATUS = {
  assigned: EnqueueStatus.ENQUEUE_STATUS_ASSIGNED,
  offered: EnqueueStatus.ENQUEUE_STATUS_OFFERED,
  queued: EnqueueStatus.ENQUEUE_STATUS_QUEUED,
  over_capacity: EnqueueStatus.ENQUEUE_STATUS_OVER_CAPACITY,
  outside_hours: EnqueueStatus.ENQUEUE_STATUS_OUTSIDE_HOURS,
} as const;
const PB_CONVERSATION_STATUS = {
  waiting: PbConversationStatus.CONVERSATION_STATUS_WAITING,
  offered: PbConversationStatus.CONVERSATION_STATUS_OFFERED,
  assigned: PbConversationStatus.CONVERSATION_STATUS_ASSIGNED,
  wrap_up: PbConversationStatus.CONVERSATION_STATUS_WRAP_UP,
  closed: PbConversationStatus.CONVERSATION_STATUS_CLOSED,
  abandoned: PbConversationStatus.CONVERSATION_STATUS_ABANDONED,
} as const;

const PB_SERVICE_LEVEL_STATE = {
  ok: PbServiceLevelState.SERVICE_LEVEL_STATE_OK,
  at_risk: PbServiceLevelState.SERVICE_LEVEL_STATE_AT_RISK,
  breached: PbServiceLevelState.SERVICE_LEVEL_STATE_BREACHED,
} as const;

/**
 * An engine enum value as its proto number, UNSPECIFIED (0) for a value this build does not know. Such
 * values reach this node from newer ones in a rolling upgrade: a newer owner's events (`SB_EVENTS`) and
 * its answers to forwarded calls. Indexing the map alone gave `undefined`, which the binary encoder
 * refuses (`invalid int32: undefined`): the event or the call failed instead of saying "unknown".
 */
function pbEnum<K extends string, V extends number>(map: Readonly<Record<K, V>>, v: K): V {
  return map[v] ?? (0 as V);
}

/** Epoch ms → int64. Engine times are integers; truncation only guards against a stray fraction. */
export function ms64(n: number): bigint {
  return BigInt(Number.isInteger(n) ? n : Math.trunc(n));
}

export function agentToProto(a: AgentConfig): Agent {
  const capacity: { [key: string]: number } = {};
  for (const [k, v] of Object.entries(a.capacity)) if (v !== undefined) capacity[k] = v;
  return {
    id: a.id,
    displayName: a.displayName,
    skills: a.skills.map((s) => ({ skill: s.skill, level: s.level })),
    teams: a.teams.slice(),
    tier: a.tier,
    seniority: a.seniority === 'new' ? PbSeniority.SENIORITY_NEW : PbSeniority.SENIORITY_EXPERIENCED,
    capacity,
    wrapUpSeconds: a.wrapUpSeconds,
    queues: a.queues.slice(),
  };
}

export function overflowActionToProto(a: OverflowAction): PbOverflowAction {
  switch (a.kind) {
    case 'relax_skills':
      return { relaxSkills: { by: a.by } };
    case 'drop_skills':
      return { dropSkills: { skills: a.skills.slice() } };
    case 'widen_to_queue':
      return { widenToQueue: { queueId: a.queueId } };
    case 'escalate_tier':
      return { escalateTier: { tier: a.tier } };
  }
}

export function queueToProto(q: QueueConfig): Queue {
  return {
    id: q.id,
    name: q.name,
    channel: pbEnum(PB_CHANNEL, q.channel),
    requiredSkills: q.requiredSkills.map((s) => ({ skill: s.skill, minLevel: s.minLevel })),
    strategy: pbEnum(PB_STRATEGY, q.strategy),
    onlineOnly: q.onlineOnly,
    broadcastWidth: q.broadcastWidth,
    priority: q.priority,
    serviceLevel: { ...q.serviceLevel },
    businessHours: q.businessHours === undefined ? undefined : businessHoursToProto(q.businessHours),
    maxSize: q.maxSize,
    offerTimeoutSeconds: q.offerTimeoutSeconds,
    overflow: q.overflow.map((s) => ({
      afterSeconds: s.afterSeconds,
      action: overflowActionToProto(s.action),
    })),
    previousAgentWaitSeconds: q.previousAgentWaitSeconds,
    newCustomersToNewAgents: q.newCustomersToNewAgents,
  };
}

export function customerToProto(c: CustomerConfig): Customer {
  return {
    id: c.id,
    valueTier:
      c.valueTier === 'high_value' ? PbValueTier.VALUE_TIER_HIGH_VALUE : PbValueTier.VALUE_TIER_STANDARD,
    previousAgents: c.previousAgents.slice(),
    dedicatedAgentId: c.dedicatedAgentId,
  };
}

export function routingConfigToProto(c: RoutingConfig): PbRoutingConfig {
  return {
    maxMissedOffers: c.maxMissedOffers,
    agingPerMinute: c.agingPerMinute,
    slaDrivenPriority: c.slaDrivenPriority,
    queueRules: c.queueRules.map((r) => ({
      channel: r.channel === undefined ? PbChannel.CHANNEL_UNSPECIFIED : pbEnum(PB_CHANNEL, r.channel),
      topic: r.topic,
      skills: r.skills ? r.skills.slice() : [],
      queueId: r.queueId,
    })),
    slaAtRiskMargin: c.slaAtRiskMargin,
  };
}

export function explanationToProto(e: Explanation): PbExplanation {
  return {
    rule: e.rule,
    strategy: pbEnum(PB_STRATEGY, e.strategy),
    queueId: e.queueId,
    candidates: e.candidates,
    candidatesTruncated: e.candidatesTruncated === true,
    relaxed: e.relaxed.slice(),
    waitedMs: e.waitedMs,
    scoredSkills: e.scoredSkills === undefined ? [] : e.scoredSkills.slice(),
    skillScore: e.skillScore,
    qualified: e.qualified,
    offeredAfterMs: e.offeredAfterMs,
  };
}

export function enqueueReplyToProto(r: Reply): EnqueueResponse {
  if (r.kind !== 'enqueued') throw new TypeError(`enqueue answered with a "${r.kind}" reply`);
  return {
    conversationId: r.conversationId,
    status: pbEnum(PB_ENQUEUE_STATUS, r.status),
    queueId: r.queueId,
    agentId: r.agentId,
    agentName: r.agentName,
    position: r.position,
    estimatedWaitMs: r.estimatedWaitMs,
    nextOpenAtMs: r.nextOpenAt === undefined || r.nextOpenAt === null ? undefined : ms64(r.nextOpenAt),
  };
}

export function conversationToProto(c: ConversationView): Conversation {
  return {
    id: c.id,
    channel: pbEnum(PB_CHANNEL, c.channel),
    customerId: c.customerId,
    queueId: c.queueId,
    priority: c.priority,
    status: pbEnum(PB_CONVERSATION_STATUS, c.status),
    createdAtMs: ms64(c.createdAt),
    agentId: c.agentId ?? undefined,
    participants: c.participants.slice(),
    offeredTo: c.offeredTo.slice(),
    outcome: c.outcome === null ? PbOutcome.OUTCOME_UNSPECIFIED : pbEnum(PB_OUTCOME, c.outcome),
    explanation: c.explanation === null ? undefined : explanationToProto(c.explanation),
    position: c.position ?? undefined,
    estimatedWaitMs: c.estimatedWaitMs ?? undefined,
  };
}

export function queueStatsToProto(s: QueueStats): PbQueueStats {
  return {
    queueId: s.queueId,
    waiting: s.waiting,
    longestWaitMs: s.longestWaitMs,
    agentsOnline: s.agentsOnline,
    agentsAvailable: s.agentsAvailable,
    serviceLevel: s.serviceLevel ?? undefined,
    waitingPastThreshold: s.waitingPastThreshold,
    averageWaitMs: s.averageWaitMs,
    abandonmentRate: s.abandonmentRate,
    averageHandleMs: s.averageHandleMs,
    inbound: BigInt(s.inbound),
    assigned: BigInt(s.assigned),
    abandoned: BigInt(s.abandoned),
    transferred: BigInt(s.transferred),
    serviceLevelState: pbEnum(PB_SERVICE_LEVEL_STATE, s.serviceLevelState),
    overCapacity: s.overCapacity,
    open: s.open,
    serviceLevelTarget: s.serviceLevelTarget,
  };
}

export function agentStatsToProto(s: AgentStats): PbAgentStats {
  return {
    agentId: s.agentId,
    presence: pbEnum(PB_PRESENCE, s.presence),
    busy: s.busy,
    handled: BigInt(s.handled),
    open: s.open,
    averageHandleMs: s.averageHandleMs,
    missedOffers: BigInt(s.missedOffers),
    consecutiveMisses: s.consecutiveMisses,
    occupancy: s.occupancy,
    lastAssignedAtMs: s.lastAssignedAt === null ? undefined : ms64(s.lastAssignedAt),
  };
}

export function lintFindingToProto(f: LintFinding): PbLintFinding {
  return {
    code: f.code,
    severity: f.severity,
    message: f.message,
    queueId: f.queueId,
    agentId: f.agentId,
  };
}

/** One engine event as a proto `Event` (the oneof field is named after the event type, camelCased). */
export function eventToProto(p: PublishedEvent): Event {
  const out: Event = {
    tenant: p.tenant,
    seq: BigInt(p.seq),
    atMs: ms64(p.at),
    index: p.index ?? 0,
    incarnation: BigInt(p.incarnation ?? 0),
  };
  const e: EngineEvent = p.event;
  switch (e.type) {
    case 'offered':
      out.offered = {
        conversationId: e.conversationId,
        agentId: e.agentId,
        queueId: e.queueId,
        expiresAtMs: ms64(e.expiresAt),
      };
      break;
    case 'offer_rescinded':
      out.offerRescinded = {
        conversationId: e.conversationId,
        agentId: e.agentId,
        queueId: e.queueId,
        reason: e.reason,
      };
      break;
    case 'offer_missed':
      out.offerMissed = {
        conversationId: e.conversationId,
        agentId: e.agentId,
        queueId: e.queueId,
        reason: e.reason,
        consecutiveMisses: e.consecutiveMisses,
      };
      break;
    case 'assigned':
      out.assigned = {
        conversationId: e.conversationId,
        agentId: e.agentId,
        agentName: e.agentName,
        queueId: e.queueId,
        expectedResponseMs: e.expectedResponseMs,
        explanation: explanationToProto(e.explanation),
      };
      break;
    case 'queued':
      out.queued = {
        conversationId: e.conversationId,
        queueId: e.queueId,
        position: e.position,
        estimatedWaitMs: e.estimatedWaitMs,
      };
      break;
    case 'over_capacity':
      out.overCapacity = {
        conversationId: e.conversationId,
        queueId: e.queueId,
        position: e.position,
        estimatedWaitMs: e.estimatedWaitMs,
      };
      break;
    case 'outside_hours':
      out.outsideHours = {
        conversationId: e.conversationId,
        queueId: e.queueId,
        nextOpenAtMs: e.nextOpenAt === null ? undefined : ms64(e.nextOpenAt),
        openingHours: businessHoursToProto(e.openingHours),
      };
      break;
    case 'overflowed':
      out.overflowed = {
        conversationId: e.conversationId,
        queueId: e.queueId,
        step: e.step,
        action: overflowActionToProto(e.action),
      };
      break;
    case 'abandoned':
      out.abandoned = { conversationId: e.conversationId, queueId: e.queueId, waitedMs: e.waitedMs };
      break;
    case 'transferred':
      out.transferred = {
        conversationId: e.conversationId,
        fromAgentId: e.fromAgentId ?? undefined,
        queueId: e.queueId,
        toAgentId: e.toAgentId ?? undefined,
        fromQueueId: e.fromQueueId,
        fromParticipants: e.fromParticipants.slice(),
      };
      break;
    case 'escalated':
      out.escalated = {
        conversationId: e.conversationId,
        agentId: e.agentId,
        queueId: e.queueId,
        explanation: explanationToProto(e.explanation),
      };
      break;
    case 'conversation_ended':
      out.conversationEnded = {
        conversationId: e.conversationId,
        agentId: e.agentId,
        queueId: e.queueId,
        outcome: pbEnum(PB_OUTCOME, e.outcome),
        handleMs: e.handleMs,
        participants: e.participants.slice(),
      };
      break;
    case 'wrap_up_started':
      out.wrapUpStarted = { agentId: e.agentId, conversationId: e.conversationId, endsAtMs: ms64(e.endsAt) };
      break;
    case 'wrap_up_ended':
      out.wrapUpEnded = { agentId: e.agentId };
      break;
    case 'presence_changed':
      out.presenceChanged = {
        agentId: e.agentId,
        presence: pbEnum(PB_PRESENCE, e.presence),
        reason: e.reason,
      };
      break;
    case 'alert':
      out.alert = { alert: e.alert, queueId: e.queueId, agentId: e.agentId, value: e.value };
      break;
  }
  return out;
}

function businessHoursToProto(bh: BusinessHours): ProtoBusinessHours {
  return {
    timeZone: bh.timeZone,
    windows: bh.windows.map((w) => ({ ...w })),
    holidays: bh.holidays.slice(),
  };
}

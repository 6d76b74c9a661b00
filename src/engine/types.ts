/**
 * The engine's contract: configuration records, commands in, events and replies out.
 *
 * Everything here is plain data (structured-clone and JSON safe) because it crosses worker threads,
 * goes into the command log and into snapshots. Times are epoch milliseconds taken from the command
 * envelope — the engine never reads a clock.
 *
 * Compatibility rule: this file is shared by the engine, the API, the actor host, the cluster and the
 * simulator. Add fields and variants freely; renaming or removing one is a breaking change for the
 * command log (old logs must still replay), so do it only with a migration.
 */

export type Channel = 'chat' | 'voice' | 'email' | 'sms' | 'social';
export const CHANNELS: readonly Channel[] = ['chat', 'voice', 'email', 'sms', 'social'];

/** Presence an agent (or the engine, after missed offers) can set. `busy` is derived, never set. */
export type Presence = 'offline' | 'online' | 'away';
export type Seniority = 'new' | 'experienced';
export type Outcome = 'resolved' | 'closed' | 'needs_follow_up';

export type StrategyName =
  | 'round_robin'
  | 'least_busy'
  | 'longest_idle'
  | 'most_skilled'
  | 'broadcast'
  | 'manual';

/** A skill held by an agent, with proficiency 1–10. Names are free-form: `billing`, `lang:fr`, `tier:2`. */
export interface SkillLevel {
  skill: string;
  level: number;
}

/** A skill a queue or conversation requires, at or above `minLevel` (1–10). */
export interface SkillRequirement {
  skill: string;
  minLevel: number;
}

export interface AgentConfig {
  id: string;
  displayName: string;
  skills: SkillLevel[];
  teams: string[];
  /** Support tier, 1 = first line. Escalation goes to a higher tier. */
  tier: number;
  seniority: Seniority;
  /** Concurrent conversations per channel; a channel absent or 0 means the agent never takes it. */
  capacity: Partial<Record<Channel, number>>;
  /** Wrap-up time after each conversation, seconds (0 = none). */
  wrapUpSeconds: number;
  /** Queues this agent serves explicitly. Empty = every queue whose required skills the agent holds. */
  queues: string[];
}

export interface ServiceLevelTarget {
  /** Fraction to be answered within the threshold, e.g. 0.9. */
  target: number;
  /** Answer-time threshold, seconds, e.g. 10 for chat, 20 for voice, 86 400 for email. */
  thresholdSeconds: number;
  /** Sliding window over which the service level is computed, seconds (default 3600). */
  windowSeconds: number;
}

export interface BusinessHoursWindow {
  /** 0 = Sunday … 6 = Saturday, in the queue's time zone. */
  day: number;
  /** "HH:MM", 24 h clock, local time. */
  open: string;
  /** "HH:MM"; may be "24:00". A window never crosses midnight: split it in two. */
  close: string;
}

export interface BusinessHours {
  /** IANA zone name, e.g. "Europe/Paris". */
  timeZone: string;
  windows: BusinessHoursWindow[];
  /** Local dates "YYYY-MM-DD" on which the queue is closed all day. */
  holidays: string[];
}

export type OverflowAction =
  /** Lower every required skill's minimum level by `by` (never below 1). */
  | { kind: 'relax_skills'; by: number }
  /** Drop named requirements altogether (e.g. `lang:fr` after 60 s). */
  | { kind: 'drop_skills'; skills: string[] }
  /** Also offer to agents of another queue (the conversation stays counted in its own queue). */
  | { kind: 'widen_to_queue'; queueId: string }
  /** Require an agent of at least this tier. */
  | { kind: 'escalate_tier'; tier: number };

export interface OverflowStep {
  /** Seconds since the conversation entered the queue. */
  afterSeconds: number;
  action: OverflowAction;
}

export interface QueueConfig {
  id: string;
  name: string;
  channel: Channel;
  requiredSkills: SkillRequirement[];
  strategy: StrategyName;
  /** With `round_robin`: skip agents that are not `online` rather than waiting for them (cost-centred teams). */
  onlineOnly: boolean;
  /**
   * For `broadcast`: how many agents get the offer at once (first to accept wins); 0 = every matching
   * available agent, up to 64 (the engine's search bound, `SEARCH_LIMIT`).
   */
  broadcastWidth: number;
  /** Queue priority 0–10: a freed agent serves higher-priority queues first. */
  priority: number;
  serviceLevel: ServiceLevelTarget;
  /** Absent = always open. */
  businessHours?: BusinessHours;
  /**
   * Customers waiting beyond this (in line, ringing at a desk or held for an agent) get `over_capacity`
   * (still queued) and raise `queue_over_capacity` — 0 = unlimited.
   */
  maxSize: number;
  /** 0 = assign directly; otherwise the agent must accept within this many seconds. */
  offerTimeoutSeconds: number;
  overflow: OverflowStep[];
  /** Returning customers wait up to this many seconds for their previous agent (0 = never wait). */
  previousAgentWaitSeconds: number;
  /** Steer new customers to `seniority: new` agents when one is eligible. */
  newCustomersToNewAgents: boolean;
}

export type ValueTier = 'standard' | 'high_value';

export interface CustomerConfig {
  id: string;
  valueTier: ValueTier;
  /** Most recent first. */
  previousAgents: string[];
  dedicatedAgentId?: string;
}

/** Partition-wide routing settings. */
export interface RoutingConfig {
  /** Consecutive missed offers (reject or timeout) before the agent is set `away`. 0 = never. */
  maxMissedOffers: number;
  /** Effective priority gained per minute of waiting, so low priority never starves. */
  agingPerMinute: number;
  /** Raise urgency as the service-level threshold approaches. */
  slaDrivenPriority: boolean;
  /** Rules choosing a queue when the conversation names none: first match wins. */
  queueRules: QueueRule[];
  /** Service level below target + margin ⇒ `at_risk` alert (e.g. 0.05). */
  slaAtRiskMargin: number;
}

export interface QueueRule {
  channel?: Channel;
  topic?: string;
  /** The rule matches when the conversation requires all of these skills. */
  skills?: string[];
  queueId: string;
}

export interface CustomerRef {
  id: string;
  /** Overrides the stored tier for this contact when given. */
  valueTier?: ValueTier;
}

export interface ConversationRequest {
  /** Given by the gateway; the idempotency key for enqueue. */
  id: string;
  channel: Channel;
  customer: CustomerRef;
  requiredSkills: SkillRequirement[];
  /** Explicit queue; absent = chosen by the queue rules. */
  queueId?: string;
  topic?: string;
  /** 0–10, higher first. */
  priority: number;
}

export type Command =
  | { type: 'upsert_agent'; agent: AgentConfig }
  | { type: 'remove_agent'; agentId: string }
  | { type: 'upsert_queue'; queue: QueueConfig }
  | { type: 'remove_queue'; queueId: string }
  | { type: 'upsert_customer'; customer: CustomerConfig }
  /** Forget a customer (erasure): profile and history; idempotent. */
  | { type: 'remove_customer'; customerId: string }
  | { type: 'set_routing_config'; config: RoutingConfig }
  | { type: 'set_presence'; agentId: string; presence: Presence }
  | { type: 'accept_offer'; agentId: string; conversationId: string }
  | { type: 'reject_offer'; agentId: string; conversationId: string }
  | { type: 'enqueue'; conversation: ConversationRequest }
  | { type: 'cancel'; conversationId: string }
  | { type: 'transfer'; conversationId: string; toQueueId?: string; toAgentId?: string }
  | { type: 'escalate'; conversationId: string; toAgentId?: string; toTier?: number }
  /** Supervisor assigns by hand (the only way out of a `manual` queue). */
  | { type: 'assign'; conversationId: string; agentId: string }
  /** The agent finished talking: the conversation ends and wrap-up starts. */
  | { type: 'end_conversation'; conversationId: string; outcome: Outcome }
  /** The agent finished wrap-up early (otherwise it ends `wrapUpSeconds` after the end). */
  | { type: 'finish_wrap_up'; agentId: string }
  /** Advances time to the envelope's `at`: offer timeouts, overflow steps, wrap-up ends, SLA windows. */
  | { type: 'tick' };

export type CommandType = Command['type'];

/** What travels in the log: a command, its unique id (dedupe key) and the time it was accepted. */
export interface CommandEnvelope {
  /** Request id; a repeated id is answered from memory and changes nothing. */
  id: string;
  /** Epoch milliseconds, stamped once by the node that accepted the command. */
  at: number;
  cmd: Command;
  /**
   * `upsert_queue` / `upsert_agent`: the most queues / agents the tenant may have; one more is refused
   * (`SB_ERR_TENANT_LIMIT_REACHED`). Stamped by the API from the node's configuration and logged with the
   * command, so a replay decides as the live apply did, whatever the configuration is then.
   */
  limit?: number;
}

/** Why an assignment went where it did. */
export interface Explanation {
  rule:
    | 'dedicated_agent'
    | 'previous_agent'
    | 'new_customer_to_new_agent'
    | 'strategy'
    | 'manual_assign'
    | 'transfer'
    | 'escalation';
  strategy: StrategyName;
  queueId: string;
  /**
   * Available agents who qualified for the conversation when it was decided (could have taken it). For
   * a conversation with skills of its own or agents who missed it, the ones the bounded search met.
   */
  candidates: number;
  /**
   * Present (true) when `candidates` is a lower bound: the search stopped (at the first that qualified,
   * or after `SEARCH_LIMIT` agents) before it had looked at every available agent.
   */
  candidatesTruncated?: boolean;
  /** Overflow steps applied before the match, e.g. ["relax_skills:1", "widen_to_queue:q2"]. */
  relaxed: string[];
  /** How long the customer waited for this agent: until the assignment, or for an offer until its accept. */
  waitedMs: number;
  /** Accepted offers only: how long the customer had waited when the offer went out. */
  offeredAfterMs?: number;
  /**
   * `most_skilled` strategy picks only: the skills the agent was scored on — the queue's required skills
   * after the overflow steps applied, then the conversation's own beyond them — and the agent's summed
   * level on them. Absent for every other rule and strategy.
   */
  scoredSkills?: string[];
  skillScore?: number;
  /**
   * Escalations only: whether the added agent can serve the conversation — its queue's requirements
   * after the overflow steps applied, its own required skills, and the agent's queue list allowing the
   * queue. An escalation to a tier picks among those who can (`candidates` counts them); false means
   * none of the tier could and it fell back to the others (`candidates` counts those).
   */
  qualified?: boolean;
}

export type EngineEvent =
  | { type: 'offered'; conversationId: string; agentId: string; queueId: string; expiresAt: number }
  | {
      type: 'offer_rescinded';
      conversationId: string;
      agentId: string;
      queueId: string;
      reason: 'accepted_elsewhere' | 'cancelled' | 'agent_unavailable';
    }
  | {
      type: 'offer_missed';
      conversationId: string;
      agentId: string;
      queueId: string;
      reason: 'rejected' | 'timeout';
      consecutiveMisses: number;
    }
  | {
      type: 'assigned';
      conversationId: string;
      agentId: string;
      agentName: string;
      queueId: string;
      /** The queue's service-level threshold: the response time committed to for its channel. */
      expectedResponseMs: number;
      explanation: Explanation;
    }
  | { type: 'queued'; conversationId: string; queueId: string; position: number; estimatedWaitMs: number }
  | {
      type: 'over_capacity';
      conversationId: string;
      queueId: string;
      position: number;
      estimatedWaitMs: number;
    }
  | {
      type: 'outside_hours';
      conversationId: string;
      queueId: string;
      nextOpenAt: number | null;
      /** The queue's opening hours, for the message to the customer. */
      openingHours: BusinessHours;
    }
  | { type: 'overflowed'; conversationId: string; queueId: string; step: number; action: OverflowAction }
  | { type: 'abandoned'; conversationId: string; queueId: string; waitedMs: number }
  | {
      type: 'transferred';
      conversationId: string;
      fromAgentId: string | null;
      /** The queue it is now in. */
      queueId: string;
      toAgentId: string | null;
      /** The queue it left (counted there as transferred out). */
      fromQueueId: string;
      /**
       * Every agent who held it and no longer does (`fromAgentId` first, then escalation helpers; empty
       * when it was waiting): each one's seat is released.
       */
      fromParticipants: readonly string[];
    }
  | {
      type: 'escalated';
      conversationId: string;
      agentId: string;
      queueId: string;
      /**
       * Rule `escalation`; `qualified` says whether the agent can serve the conversation, candidates =
       * the available agents of the requested tier it was chosen among (1 when named).
       */
      explanation: Explanation;
    }
  | {
      type: 'conversation_ended';
      conversationId: string;
      agentId: string;
      queueId: string;
      outcome: Outcome;
      /** Talk time, assignment to end (the statistics' handle time adds the wrap-up). */
      handleMs: number;
      /** Every agent who held it (`agentId` first, then escalation helpers): each one's seat is released. */
      participants: readonly string[];
    }
  | { type: 'wrap_up_started'; agentId: string; conversationId: string; endsAt: number }
  | { type: 'wrap_up_ended'; agentId: string }
  | {
      type: 'presence_changed';
      agentId: string;
      presence: Presence;
      reason: 'agent' | 'missed_offers' | 'removed';
    }
  | {
      type: 'alert';
      alert:
        | 'sla_at_risk'
        | 'sla_breached'
        | 'sla_recovered'
        | 'queue_over_capacity'
        | 'queue_capacity_recovered'
        | 'agent_missed_offers';
      queueId?: string;
      agentId?: string;
      value: number;
    };

export type EventType = EngineEvent['type'];

/** The direct answer to a command, beside its events. */
export type Reply =
  | { kind: 'ok' }
  | {
      kind: 'enqueued';
      conversationId: string;
      status: 'assigned' | 'offered' | 'queued' | 'over_capacity' | 'outside_hours';
      queueId: string;
      agentId?: string;
      agentName?: string;
      position?: number;
      estimatedWaitMs?: number;
      nextOpenAt?: number | null;
    };

export interface EngineError {
  /** A code from the error catalogue, e.g. `SB_ERR_AGENT_NOT_FOUND`. */
  code: string;
  message: string;
  /** Path of the offending field, e.g. `agent.skills[2].level`. */
  field?: string;
}

export type ApplyResult =
  | { ok: true; reply: Reply; events: EngineEvent[]; duplicate?: boolean }
  | { ok: false; error: EngineError; duplicate?: boolean };

export type ConversationStatus = 'waiting' | 'offered' | 'assigned' | 'wrap_up' | 'closed' | 'abandoned';

/** Read model of one conversation (queries are not commands: they are not logged). */
export interface ConversationView {
  id: string;
  channel: Channel;
  customerId: string;
  queueId: string;
  priority: number;
  status: ConversationStatus;
  createdAt: number;
  agentId: string | null;
  participants: string[];
  offeredTo: string[];
  outcome: Outcome | null;
  explanation: Explanation | null;
  position: number | null;
  estimatedWaitMs: number | null;
}

export interface QueueStats {
  queueId: string;
  /** Not yet taken by an agent: in line, held for a previous or dedicated agent, or being offered. */
  waiting: number;
  /** Wait so far of the oldest of `waiting`. */
  longestWaitMs: number;
  /** Agents of the queue online with a seat (capacity > 0) on its channel. */
  agentsOnline: number;
  agentsAvailable: number;
  /**
   * Answered within the threshold ÷ (answered + abandoned after the threshold + waiting past it now),
   * over the sliding window; null with none of them. The wait it judges runs over opening time: from the
   * later of arrival and the queue's (re)opening, 0 while the queue is closed (`open`). Within the
   * threshold = a wait of at most the threshold.
   */
  serviceLevel: number | null;
  /**
   * Conversations waiting longer than the service-level threshold now, by the same clock: none while the
   * queue is closed (not counting one already answered in this queue and transferred back into it: its
   * service level was counted when it was answered).
   */
  waitingPastThreshold: number;
  /** Average wait of the conversations answered in the window: the customer's whole wait, closed hours too. */
  averageWaitMs: number;
  /** Abandoned ÷ (answered + abandoned) over the sliding window, 0–1 (0 with neither). */
  abandonmentRate: number;
  /** Talk + wrap-up of the conversations (transfer segments) handled in the window, counted at wrap-up end. */
  averageHandleMs: number;
  inbound: number;
  assigned: number;
  abandoned: number;
  transferred: number;
  /**
   * The service-level alert state, as last announced (`sla_at_risk`, `sla_breached`, `sla_recovered`):
   * judged by the engine at its own events, so a query for a later time may read a `serviceLevel` the
   * state has not caught up with yet.
   */
  serviceLevelState: 'ok' | 'at_risk' | 'breached';
  /**
   * More customers waiting than the maximum size, as last announced (`queue_over_capacity` until
   * `queue_capacity_recovered`, at ≤ maxSize − max(1, ⌈5 % of maxSize⌉) waiting).
   */
  overCapacity: boolean;
  /** Within its business hours now (always, without them): the service level's clock runs only then. */
  open: boolean;
  /** The queue's own service-level target (`serviceLevel.target`, 0–1), for alert rules to compare against. */
  serviceLevelTarget: number;
}

export interface AgentStats {
  agentId: string;
  presence: Presence;
  busy: boolean;
  /** Conversations handled (their wrap-up over), a transferring agent's part included. */
  handled: number;
  open: number;
  /** Talk + wrap-up per conversation handled. */
  averageHandleMs: number;
  missedOffers: number;
  consecutiveMisses: number;
  /**
   * Time handling or in wrap-up ÷ time staffed (online, plus busy while away or offline; away or offline
   * with nothing open is left out), over the agent's lifetime in this partition.
   */
  occupancy: number;
  /** When the agent was last given a conversation (epoch ms), null if never. */
  lastAssignedAt: number | null;
}

export interface LintFinding {
  code:
    | 'SKILL_NOBODY_HAS'
    | 'QUEUE_NOBODY_SERVES'
    | 'OVERFLOW_AFTER_SLA'
    | 'CHANNEL_NO_CAPACITY'
    | 'SLA_NO_AT_RISK_BAND'
    | 'UNKNOWN_QUEUE_REF'
    | 'UNKNOWN_AGENT_REF';
  severity: 'error' | 'warning';
  message: string;
  queueId?: string;
  agentId?: string;
}

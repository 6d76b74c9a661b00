/**
 * Builders for engine configuration records and command envelopes, with contact-center defaults, so a
 * test states only what matters to it. Shared by the property tests, the golden log and the benches'
 * sanity checks.
 */
import type {
  AgentConfig,
  Command,
  CommandEnvelope,
  ConversationRequest,
  CustomerConfig,
  QueueConfig,
  RoutingConfig,
} from '../../src/engine/types.js';

/** Monday 5 January 2026, 09:00 UTC: a working day, so business hours are open by default. */
export const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);

/** An agent online-capable on chat (capacity 2), no skills, no wrap-up, serving every queue it qualifies for. */
export function agent(id: string, over: Partial<AgentConfig> = {}): AgentConfig {
  return {
    id,
    displayName: `Agent ${id}`,
    skills: [],
    teams: [],
    tier: 1,
    seniority: 'experienced',
    capacity: { chat: 2 },
    wrapUpSeconds: 0,
    queues: [],
    ...over,
  };
}

/** A chat queue, least-busy, direct assignment, always open, no overflow, 90 % in 20 s. */
export function queue(id: string, over: Partial<QueueConfig> = {}): QueueConfig {
  return {
    id,
    name: `Queue ${id}`,
    channel: 'chat',
    requiredSkills: [],
    strategy: 'least_busy',
    onlineOnly: true,
    broadcastWidth: 1,
    priority: 5,
    serviceLevel: { target: 0.9, thresholdSeconds: 20, windowSeconds: 3600 },
    maxSize: 0,
    offerTimeoutSeconds: 0,
    overflow: [],
    previousAgentWaitSeconds: 0,
    newCustomersToNewAgents: false,
    ...over,
  };
}

/** Routing settings with misses never sending agents away and slow aging. */
export function routingConfig(over: Partial<RoutingConfig> = {}): RoutingConfig {
  return {
    maxMissedOffers: 0,
    agingPerMinute: 0.1,
    slaDrivenPriority: false,
    queueRules: [],
    slaAtRiskMargin: 0.05,
    ...over,
  };
}

export function customer(id: string, over: Partial<CustomerConfig> = {}): CustomerConfig {
  return { id, valueTier: 'standard', previousAgents: [], ...over };
}

/** A chat conversation for `queueId` from customer `customerId`, priority 0, no extra skills. */
export function conversation(
  id: string,
  queueId: string,
  over: Partial<ConversationRequest> = {},
): ConversationRequest {
  return {
    id,
    channel: 'chat',
    customer: { id: `cust-${id}` },
    requiredSkills: [],
    queueId,
    priority: 0,
    ...over,
  };
}

/** Stamps commands into envelopes with sequential ids and a clock the test advances explicitly. */
export class EnvelopeClock {
  private seq = 0;
  constructor(
    public at: number = T0,
    private readonly prefix = 'cmd',
  ) {}

  /** Moves the clock forward by `ms` (never backwards). */
  advance(ms: number): this {
    this.at += Math.max(0, ms);
    return this;
  }

  envelope(cmd: Command): CommandEnvelope {
    this.seq += 1;
    return { id: `${this.prefix}-${this.seq}`, at: this.at, cmd };
  }
}

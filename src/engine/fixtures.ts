/**
 * Builders and a given/when/then harness for engine scenarios (used by unit, property and golden tests).
 * Pure: time is a counter the scenario advances explicitly.
 */
import type { Engine } from './api.js';
import { createEngine, type EngineOptions } from './index.js';
import type {
  AgentConfig,
  ApplyResult,
  Command,
  ConversationRequest,
  CustomerConfig,
  EngineEvent,
  QueueConfig,
  RoutingConfig,
} from './types.js';

export function agentConfig(id: string, o: Partial<AgentConfig> = {}): AgentConfig {
  return {
    id,
    displayName: o.displayName ?? `Agent ${id}`,
    skills: o.skills ?? [],
    teams: o.teams ?? [],
    tier: o.tier ?? 1,
    seniority: o.seniority ?? 'experienced',
    capacity: o.capacity ?? { chat: 1 },
    wrapUpSeconds: o.wrapUpSeconds ?? 0,
    queues: o.queues ?? [],
  };
}

export function queueConfig(id: string, o: Partial<QueueConfig> = {}): QueueConfig {
  const q: QueueConfig = {
    id,
    name: o.name ?? `Queue ${id}`,
    channel: o.channel ?? 'chat',
    requiredSkills: o.requiredSkills ?? [],
    strategy: o.strategy ?? 'least_busy',
    onlineOnly: o.onlineOnly ?? false,
    broadcastWidth: o.broadcastWidth ?? 0,
    priority: o.priority ?? 0,
    serviceLevel: o.serviceLevel ?? { target: 0.8, thresholdSeconds: 20, windowSeconds: 3600 },
    maxSize: o.maxSize ?? 0,
    offerTimeoutSeconds: o.offerTimeoutSeconds ?? 0,
    overflow: o.overflow ?? [],
    previousAgentWaitSeconds: o.previousAgentWaitSeconds ?? 0,
    newCustomersToNewAgents: o.newCustomersToNewAgents ?? false,
  };
  if (o.businessHours) q.businessHours = o.businessHours;
  return q;
}

export function conversation(id: string, o: Partial<ConversationRequest> = {}): ConversationRequest {
  const c: ConversationRequest = {
    id,
    channel: o.channel ?? 'chat',
    customer: o.customer ?? { id: `customer-${id}` },
    requiredSkills: o.requiredSkills ?? [],
    priority: o.priority ?? 0,
  };
  if (o.queueId !== undefined) c.queueId = o.queueId;
  else if (!('queueId' in o)) c.queueId = 'q1';
  if (o.topic !== undefined) c.topic = o.topic;
  return c;
}

export function customerConfig(id: string, o: Partial<CustomerConfig> = {}): CustomerConfig {
  const c: CustomerConfig = {
    id,
    valueTier: o.valueTier ?? 'standard',
    previousAgents: o.previousAgents ?? [],
  };
  if (o.dedicatedAgentId !== undefined) c.dedicatedAgentId = o.dedicatedAgentId;
  return c;
}

export function routingConfig(o: Partial<RoutingConfig> = {}): RoutingConfig {
  return {
    maxMissedOffers: o.maxMissedOffers ?? 3,
    agingPerMinute: o.agingPerMinute ?? 1,
    slaDrivenPriority: o.slaDrivenPriority ?? false,
    queueRules: o.queueRules ?? [],
    slaAtRiskMargin: o.slaAtRiskMargin ?? 0.05,
  };
}

/** Drives one engine with a clock that only moves when told to. */
export class Scenario {
  readonly engine: Engine;
  t: number;
  private n = 0;

  constructor(
    start = Date.UTC(2026, 0, 5, 10, 0, 0),
    partition = 'tenant-test',
    options: EngineOptions = {},
  ) {
    this.engine = createEngine(partition, options);
    this.t = start;
  }

  /** Applies commands that must succeed (the "given" part). */
  given(...cmds: Command[]): this {
    for (const c of cmds) {
      const r = this.run(c);
      if (!r.ok)
        throw new Error(`given ${c.type} failed: ${r.error.code} ${r.error.field ?? ''} ${r.error.message}`);
    }
    return this;
  }

  run(cmd: Command, id = `cmd-${++this.n}`): ApplyResult {
    return this.engine.apply({ id, at: this.t, cmd });
  }

  /** Applies one command and returns its events (throws if it was rejected). */
  when(cmd: Command): EngineEvent[] {
    const r = this.run(cmd);
    if (!r.ok)
      throw new Error(`${cmd.type} failed: ${r.error.code} ${r.error.field ?? ''} ${r.error.message}`);
    return r.events;
  }

  /** Moves the clock forward and fires due timers. */
  advance(ms: number): EngineEvent[] {
    this.t += ms;
    return this.when({ type: 'tick' });
  }

  online(...agents: (AgentConfig | string)[]): this {
    for (const a of agents) {
      if (typeof a !== 'string') this.given({ type: 'upsert_agent', agent: a });
      const id = typeof a === 'string' ? a : a.id;
      this.given({ type: 'set_presence', agentId: id, presence: 'online' });
    }
    return this;
  }

  queue(q: QueueConfig): this {
    return this.given({ type: 'upsert_queue', queue: q });
  }

  enqueue(c: ConversationRequest): EngineEvent[] {
    return this.when({ type: 'enqueue', conversation: c });
  }
}

export function only<T extends EngineEvent['type']>(
  events: EngineEvent[],
  type: T,
): Extract<EngineEvent, { type: T }>[] {
  return events.filter((e): e is Extract<EngineEvent, { type: T }> => e.type === type);
}

/** "conversation → agent" for every assignment among the events. */
export function assignments(events: EngineEvent[]): string[] {
  return only(events, 'assigned').map((e) => `${e.conversationId}→${e.agentId}`);
}

/** "conversation → agent" for every offer among the events. */
export function offers(events: EngineEvent[]): string[] {
  return only(events, 'offered').map((e) => `${e.conversationId}→${e.agentId}`);
}

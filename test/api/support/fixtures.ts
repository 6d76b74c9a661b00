/** Proto-shaped configuration records for the API tests, in contact-center terms. */
import {
  type Agent,
  Channel,
  type Queue,
  Seniority,
  Strategy,
} from '../../../src/gen/switchboard/v1/common.js';
import type { ConversationRequest } from '../../../src/gen/switchboard/v1/gateway.js';

export function chatAgent(id: string, over: Partial<Agent> = {}): Agent {
  return {
    id,
    displayName: `Agent ${id}`,
    skills: [{ skill: 'billing', level: 5 }],
    teams: ['support'],
    tier: 1,
    seniority: Seniority.SENIORITY_EXPERIENCED,
    capacity: { chat: 1 },
    wrapUpSeconds: 0,
    queues: [],
    ...over,
  };
}

export function chatQueue(id: string, over: Partial<Queue> = {}): Queue {
  return {
    id,
    name: `Queue ${id}`,
    channel: Channel.CHANNEL_CHAT,
    requiredSkills: [{ skill: 'billing', minLevel: 1 }],
    strategy: Strategy.STRATEGY_LEAST_BUSY,
    onlineOnly: false,
    broadcastWidth: 0,
    priority: 5,
    serviceLevel: { target: 0.9, thresholdSeconds: 10, windowSeconds: 3600 },
    businessHours: undefined,
    maxSize: 0,
    offerTimeoutSeconds: 0,
    overflow: [],
    previousAgentWaitSeconds: 0,
    newCustomersToNewAgents: false,
    ...over,
  };
}

export function chat(
  id: string,
  queueId = 'billing',
  over: Partial<ConversationRequest> = {},
): ConversationRequest {
  return {
    id,
    channel: Channel.CHANNEL_CHAT,
    customer: { id: `cust-${id}`, valueTier: 0 },
    requiredSkills: [],
    queueId,
    topic: undefined,
    priority: 5,
    ...over,
  };
}

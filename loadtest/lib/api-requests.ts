/**
 * What the load scripts send through the public API, in one place: a chat queue, a chat agent, an
 * enqueue, the three clients of a node and a unary call with a deadline.
 */
import * as grpc from '@grpc/grpc-js';
import { AdminServiceClient } from '../../src/gen/switchboard/v1/admin.js';
import { AgentDeskServiceClient } from '../../src/gen/switchboard/v1/agent_desk.js';
import {
  type Agent,
  Channel,
  type Queue,
  Seniority,
  Strategy,
  ValueTier,
} from '../../src/gen/switchboard/v1/common.js';
import { type EnqueueRequest, GatewayServiceClient } from '../../src/gen/switchboard/v1/gateway.js';

/** A chat queue: least busy, direct offers, no overflow, 90 % within 20 s. */
export function chatQueue(id: string, over: Partial<Queue> = {}): Queue {
  return {
    id,
    name: 'Chat',
    channel: Channel.CHANNEL_CHAT,
    requiredSkills: [],
    strategy: Strategy.STRATEGY_LEAST_BUSY,
    onlineOnly: false,
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

/** Agent number `i`, taking up to `chats` chat conversations at once, no wrap-up. */
export function chatAgent(id: string, i: number, chats: number, over: Partial<Agent> = {}): Agent {
  return {
    id,
    displayName: `Agent ${i}`,
    skills: [],
    teams: [],
    tier: 1,
    seniority: Seniority.SENIORITY_EXPERIENCED,
    capacity: { chat: chats },
    wrapUpSeconds: 0,
    queues: [],
    ...over,
  };
}

/** A chat conversation `id` of customer `customerId` for queue `queueId`. */
export function chatEnqueue(tenant: string, queueId: string, id: string, customerId: string): EnqueueRequest {
  return {
    tenant,
    requestId: '',
    conversation: {
      id,
      channel: Channel.CHANNEL_CHAT,
      customer: { id: customerId, valueTier: ValueTier.VALUE_TIER_UNSPECIFIED },
      requiredSkills: [],
      queueId,
      priority: 5,
    },
  };
}

export interface Clients {
  gateway: GatewayServiceClient;
  desk: AgentDeskServiceClient;
  admin: AdminServiceClient;
}

/** The gateway, agent-desk and admin clients of the node at `target` (insecure, loopback). */
export function clientsFor(target: string): Clients {
  const creds = grpc.credentials.createInsecure();
  return {
    gateway: new GatewayServiceClient(target, creds),
    desk: new AgentDeskServiceClient(target, creds),
    admin: new AdminServiceClient(target, creds),
  };
}

type Cb<T> = (err: grpc.ServiceError | null, res: T) => void;

/** One unary call with a deadline `timeoutMs` from now, as a promise. */
export function unary<Req, Res>(
  client: object,
  fn: (req: Req, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: Cb<Res>) => unknown,
  req: Req,
  timeoutMs: number,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) =>
      err ? reject(err) : resolve(res),
    );
  });
}

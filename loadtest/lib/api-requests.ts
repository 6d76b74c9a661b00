/**
 * What the load scripts send through the public API, in one place: a chat queue, a chat agent, an
 * enqueue, the three clients of a node and a unary call with a deadline.
 */
import * as grpc from '@grpc/grpc-js';
import { AdminServiceClient } from '../../src/gen/switchboard/v1/admin.js';
import { AgentDeskServiceClient } from '../../src/gen/switchboard/v1/agent_desk.js';
import type { Agent, Queue } from '../../src/gen/switchboard/v1/common.js';
import { type EnqueueRequest, GatewayServiceClient } from '../../src/gen/switchboard/v1/gateway.js';
import * as fixtures from '../../test/api/support/fixtures.js';

/** A chat queue with no skills required: least busy, direct offers, no overflow, 90 % within 20 s. */
export function chatQueue(id: string, over: Partial<Queue> = {}): Queue {
  return fixtures.chatQueue(id, {
    name: 'Chat',
    requiredSkills: [],
    broadcastWidth: 1,
    serviceLevel: { target: 0.9, thresholdSeconds: 20, windowSeconds: 3600 },
    ...over,
  });
}

/** Agent number `i` with no skills or teams, taking up to `chats` chat conversations at once. */
export function chatAgent(id: string, i: number, chats: number, over: Partial<Agent> = {}): Agent {
  return fixtures.chatAgent(id, {
    displayName: `Agent ${i}`,
    skills: [],
    teams: [],
    capacity: { chat: chats },
    ...over,
  });
}

/** A chat conversation `id` of customer `customerId` for queue `queueId`. */
export function chatEnqueue(tenant: string, queueId: string, id: string, customerId: string): EnqueueRequest {
  return {
    tenant,
    requestId: '',
    conversation: fixtures.chat(id, queueId, { customer: { id: customerId, valueTier: 0 } }),
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

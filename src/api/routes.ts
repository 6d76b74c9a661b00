/**
 * The HTTP/JSON mirror of every unary gRPC method. Bodies and answers use the proto3 JSON mapping
 * (camelCase fields, enum names such as "CHANNEL_CHAT", int64 as strings). Path parameters fill the
 * request fields they name; `body` says which request field the JSON body is: the whole request (`*`),
 * one field (e.g. the agent for UpsertAgent, so `curl -d @agent.json` works), or none.
 *
 * Every route also takes the headers `authorization: Bearer <token>`, `idempotency-key: <request id>`
 * and `x-timeout-ms: <deadline>`; a body `requestId` as well as the header must be the same id (else 400
 * naming `requestId`). Query strings are checked like bodies: a parameter the route does not
 * take (`pageSize` and `pageToken` on the lists, the filters on `/events`), or one given twice, is INVALID_ARGUMENT naming it; each may be spelled as its proto field
 * too (`page_size`, `page_token`, `conversation_id`), both spellings at once being the same parameter
 * twice; `/events` takes `types` repeated, comma-separated, or both.
 *
 * | method | path                                                         | rpc                                |
 * |--------|--------------------------------------------------------------|------------------------------------|
 * | PUT    | /v1/tenants/{tenant}/agents/{agentId}                        | AdminService.UpsertAgent           |
 * | DELETE | /v1/tenants/{tenant}/agents/{agentId}                        | AdminService.RemoveAgent           |
 * | GET    | /v1/tenants/{tenant}/agents/{agentId}                        | AdminService.GetAgent              |
 * | GET    | /v1/tenants/{tenant}/agents?pageSize=&pageToken=             | AdminService.ListAgents            |
 * | PUT    | /v1/tenants/{tenant}/queues/{queueId}                        | AdminService.UpsertQueue           |
 * | DELETE | /v1/tenants/{tenant}/queues/{queueId}                        | AdminService.RemoveQueue           |
 * | GET    | /v1/tenants/{tenant}/queues/{queueId}                        | AdminService.GetQueue              |
 * | GET    | /v1/tenants/{tenant}/queues?pageSize=&pageToken=             | AdminService.ListQueues            |
 * | PUT    | /v1/tenants/{tenant}/customers/{customerId}                  | AdminService.UpsertCustomer        |
 * | GET    | /v1/tenants/{tenant}/customers/{customerId}                  | AdminService.GetCustomer           |
 * | DELETE | /v1/tenants/{tenant}/customers/{customerId}                  | AdminService.RemoveCustomer        |
 * | PUT    | /v1/tenants/{tenant}/routing-config                          | AdminService.SetRoutingConfig      |
 * | GET    | /v1/tenants/{tenant}/routing-config                          | AdminService.GetRoutingConfig      |
 * | GET    | /v1/tenants/{tenant}/lint                                    | AdminService.Lint                  |
 * | DELETE | /v1/tenants/{tenant}  (body: optional `{"force": true}`)     | AdminService.DeleteTenant          |
 * | POST   | /v1/tenants/{tenant}/agents/{agentId}/presence               | AgentDeskService.SetPresence       |
 * | POST   | /v1/tenants/{tenant}/agents/{agentId}/offers/{conversationId}:accept | AgentDeskService.AcceptOffer |
 * | POST   | /v1/tenants/{tenant}/agents/{agentId}/offers/{conversationId}:reject | AgentDeskService.RejectOffer |
 * | POST   | /v1/tenants/{tenant}/conversations/{conversationId}:end      | AgentDeskService.EndConversation   |
 * | POST   | /v1/tenants/{tenant}/agents/{agentId}:finishWrapUp           | AgentDeskService.FinishWrapUp      |
 * | POST   | /v1/tenants/{tenant}/conversations                           | GatewayService.Enqueue             |
 * | POST   | /v1/tenants/{tenant}/conversations/{conversationId}:cancel   | GatewayService.Cancel              |
 * | POST   | /v1/tenants/{tenant}/conversations/{conversationId}:transfer | GatewayService.Transfer            |
 * | POST   | /v1/tenants/{tenant}/conversations/{conversationId}:escalate | GatewayService.Escalate            |
 * | POST   | /v1/tenants/{tenant}/conversations/{conversationId}:assign   | GatewayService.Assign              |
 * | GET    | /v1/tenants/{tenant}/conversations/{conversationId}          | GatewayService.GetConversation     |
 * | GET    | /v1/tenants/{tenant}/queues/{queueId}/stats                  | StatisticsService.GetQueueStats    |
 * | GET    | /v1/tenants/{tenant}/queue-stats?pageSize=&pageToken=        | StatisticsService.ListQueueStats   |
 * | GET    | /v1/tenants/{tenant}/queues/{queueId}/waiting                | GatewayService.ListWaiting         |
 * | GET    | /v1/tenants/{tenant}/agents/{agentId}/conversations          | GatewayService.ListAgentConversations |
 * | GET    | /v1/tenants/{tenant}/agents/{agentId}/stats                  | StatisticsService.GetAgentStats    |
 * | GET    | /v1/tenants/{tenant}/agent-stats?pageSize=&pageToken=        | StatisticsService.ListAgentStats   |
 * | GET    | /v1/tenants/{tenant}/queues/{queueId}/agent-stats?pageSize=&pageToken= | StatisticsService.ListAgentStats |
 * | GET    | /v1/tenants/{tenant}/teams/{team}/agent-stats?pageSize=&pageToken=     | StatisticsService.ListAgentStats |
 * | GET    | /v1/tenants/{tenant}/events?queueId=&agentId=&conversationId=&types= | EventService.WatchEvents (SSE) |
 * | GET    | /healthz, /readyz, /metrics                                  | liveness, readiness, Prometheus    |
 */
import * as admin from '../gen/switchboard/v1/admin.js';
import * as desk from '../gen/switchboard/v1/agent_desk.js';
import * as gw from '../gen/switchboard/v1/gateway.js';
import * as stats from '../gen/switchboard/v1/statistics.js';
import type { UnaryMethod } from './service.js';

/** The generated JSON codec of a message (ts-proto `fromJSON`/`toJSON`). */
export interface JsonCodec {
  fromJSON(object: unknown): unknown;
  toJSON(message: never): unknown;
}

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /**
   * Path template. `{name}` captures one segment into request field `name`; `{agent.id}` fills a field
   * of the body field. A last segment `{x}:verb` is a custom method on resource `x`.
   */
  path: string;
  rpc: UnaryMethod;
  /** Which request field the JSON body fills: `*` = the whole request; null = no body. */
  body: '*' | string | null;
  /** Request fields a GET may also take from the query string (`?pageSize=50`); no other is accepted. */
  query?: readonly string[];
  request: JsonCodec;
  response: JsonCodec;
  /** For the README and error messages. */
  summary: string;
}

const T = '/v1/tenants/{tenant}';
/** The list routes' paging parameters (AIP-158; `page_size` / `page_token` also accepted). */
const PAGE = ['pageSize', 'pageToken'] as const;

export const ROUTES: readonly Route[] = [
  // Admin: agents.
  {
    method: 'PUT',
    path: `${T}/agents/{agent.id}`,
    rpc: 'upsertAgent',
    body: 'agent',
    request: admin.UpsertAgentRequest,
    response: admin.UpsertAgentResponse,
    summary: 'Create or replace an agent (body: Agent).',
  },
  {
    method: 'DELETE',
    path: `${T}/agents/{agentId}`,
    rpc: 'removeAgent',
    body: null,
    request: admin.RemoveAgentRequest,
    response: admin.RemoveAgentResponse,
    summary: 'Remove an agent.',
  },
  {
    method: 'GET',
    path: `${T}/agents/{agentId}`,
    rpc: 'getAgent',
    body: null,
    request: admin.GetAgentRequest,
    response: admin.GetAgentResponse,
    summary: "Read an agent's configuration.",
  },
  {
    method: 'GET',
    path: `${T}/agents`,
    rpc: 'listAgents',
    body: null,
    query: PAGE,
    request: admin.ListAgentsRequest,
    response: admin.ListAgentsResponse,
    summary: 'List the agents by id, a page at a time (500, or ?pageSize= up to 1000; ?pageToken=).',
  },
  // Admin: queues.
  {
    method: 'PUT',
    path: `${T}/queues/{queue.id}`,
    rpc: 'upsertQueue',
    body: 'queue',
    request: admin.UpsertQueueRequest,
    response: admin.UpsertQueueResponse,
    summary: 'Create or replace a queue (body: Queue).',
  },
  {
    method: 'DELETE',
    path: `${T}/queues/{queueId}`,
    rpc: 'removeQueue',
    body: null,
    request: admin.RemoveQueueRequest,
    response: admin.RemoveQueueResponse,
    summary: 'Remove a queue.',
  },
  {
    method: 'GET',
    path: `${T}/queues/{queueId}`,
    rpc: 'getQueue',
    body: null,
    request: admin.GetQueueRequest,
    response: admin.GetQueueResponse,
    summary: "Read a queue's configuration.",
  },
  {
    method: 'GET',
    path: `${T}/queues`,
    rpc: 'listQueues',
    body: null,
    query: PAGE,
    request: admin.ListQueuesRequest,
    response: admin.ListQueuesResponse,
    summary: 'List the queues by id, a page at a time (1000, or ?pageSize=; ?pageToken=).',
  },
  // Admin: customers, routing settings, lint.
  {
    method: 'PUT',
    path: `${T}/customers/{customer.id}`,
    rpc: 'upsertCustomer',
    body: 'customer',
    request: admin.UpsertCustomerRequest,
    response: admin.UpsertCustomerResponse,
    summary: 'Create or replace a customer profile (body: Customer).',
  },
  {
    method: 'GET',
    path: `${T}/customers/{customerId}`,
    rpc: 'getCustomer',
    body: null,
    request: admin.GetCustomerRequest,
    response: admin.GetCustomerResponse,
    summary: 'Read a customer profile.',
  },
  {
    method: 'DELETE',
    path: `${T}/customers/{customerId}`,
    rpc: 'removeCustomer',
    body: null,
    request: admin.RemoveCustomerRequest,
    response: admin.RemoveCustomerResponse,
    summary: 'Forget a customer (erasure request): profile and history; idempotent.',
  },
  {
    method: 'PUT',
    path: `${T}/routing-config`,
    rpc: 'setRoutingConfig',
    body: 'config',
    request: admin.SetRoutingConfigRequest,
    response: admin.SetRoutingConfigResponse,
    summary: 'Replace the tenant-wide routing settings (body: RoutingConfig).',
  },
  {
    method: 'GET',
    path: `${T}/routing-config`,
    rpc: 'getRoutingConfig',
    body: null,
    request: admin.GetRoutingConfigRequest,
    response: admin.GetRoutingConfigResponse,
    summary: 'Read the tenant-wide routing settings.',
  },
  {
    method: 'GET',
    path: `${T}/lint`,
    rpc: 'lint',
    body: null,
    request: admin.LintRequest,
    response: admin.LintResponse,
    summary: 'Check the configuration for mistakes.',
  },
  {
    method: 'DELETE',
    path: T,
    rpc: 'deleteTenant',
    body: '*',
    request: admin.DeleteTenantRequest,
    response: admin.DeleteTenantResponse,
    summary:
      'Delete the tenant for good (admin token; optional body {"force": true} while conversations are open).',
  },
  // Agent desk.
  {
    method: 'POST',
    path: `${T}/agents/{agentId}/presence`,
    rpc: 'setPresence',
    body: '*',
    request: desk.SetPresenceRequest,
    response: desk.SetPresenceResponse,
    summary: 'Set presence (body: {"presence":"PRESENCE_ONLINE"}).',
  },
  {
    method: 'POST',
    path: `${T}/agents/{agentId}/offers/{conversationId}:accept`,
    rpc: 'acceptOffer',
    body: '*',
    request: desk.AcceptOfferRequest,
    response: desk.AcceptOfferResponse,
    summary: 'Accept a pending offer.',
  },
  {
    method: 'POST',
    path: `${T}/agents/{agentId}/offers/{conversationId}:reject`,
    rpc: 'rejectOffer',
    body: '*',
    request: desk.RejectOfferRequest,
    response: desk.RejectOfferResponse,
    summary: 'Reject a pending offer (counts as a miss).',
  },
  {
    method: 'POST',
    path: `${T}/conversations/{conversationId}:end`,
    rpc: 'endConversation',
    body: '*',
    request: desk.EndConversationRequest,
    response: desk.EndConversationResponse,
    summary: 'End a conversation (body: {"outcome":"OUTCOME_RESOLVED"}); wrap-up starts.',
  },
  {
    method: 'POST',
    path: `${T}/agents/{agentId}:finishWrapUp`,
    rpc: 'finishWrapUp',
    body: '*',
    request: desk.FinishWrapUpRequest,
    response: desk.FinishWrapUpResponse,
    summary: "End the agent's wrap-up early.",
  },
  // Gateway.
  {
    method: 'POST',
    path: `${T}/conversations`,
    rpc: 'enqueue',
    body: 'conversation',
    request: gw.EnqueueRequest,
    response: gw.EnqueueResponse,
    summary: 'Route a new conversation (body: ConversationRequest); the id is the idempotency key.',
  },
  {
    method: 'POST',
    path: `${T}/conversations/{conversationId}:cancel`,
    rpc: 'cancel',
    body: '*',
    request: gw.CancelRequest,
    response: gw.CancelResponse,
    summary: 'The customer left: abandon the conversation.',
  },
  {
    method: 'POST',
    path: `${T}/conversations/{conversationId}:transfer`,
    rpc: 'transfer',
    body: '*',
    request: gw.TransferRequest,
    response: gw.TransferResponse,
    summary: 'Transfer to a queue or agent (body: {"toQueueId":..} or {"toAgentId":..}).',
  },
  {
    method: 'POST',
    path: `${T}/conversations/{conversationId}:escalate`,
    rpc: 'escalate',
    body: '*',
    request: gw.EscalateRequest,
    response: gw.EscalateResponse,
    summary: 'Add a senior agent (body: {"toAgentId":..} or {"toTier":2}).',
  },
  {
    method: 'POST',
    path: `${T}/conversations/{conversationId}:assign`,
    rpc: 'assign',
    body: '*',
    request: gw.AssignRequest,
    response: gw.AssignResponse,
    summary: 'Supervisor assignment (body: {"agentId":..}).',
  },
  {
    method: 'GET',
    path: `${T}/conversations/{conversationId}`,
    rpc: 'getConversation',
    body: null,
    request: gw.GetConversationRequest,
    response: gw.GetConversationResponse,
    summary: 'Read a conversation with the explanation of its routing.',
  },
  // Statistics.
  {
    method: 'GET',
    path: `${T}/queues/{queueId}/stats`,
    rpc: 'getQueueStats',
    body: null,
    request: stats.GetQueueStatsRequest,
    response: stats.GetQueueStatsResponse,
    summary: "A queue's real-time statistics.",
  },
  {
    method: 'GET',
    path: `${T}/queue-stats`,
    rpc: 'listQueueStats',
    body: null,
    query: PAGE,
    request: stats.ListQueueStatsRequest,
    response: stats.ListQueueStatsResponse,
    summary:
      "Every queue's real-time statistics by queue id, a page at a time (1000; ?pageSize=, ?pageToken=).",
  },
  {
    method: 'GET',
    path: `${T}/queues/{queueId}/waiting`,
    rpc: 'listWaiting',
    body: null,
    query: PAGE,
    request: gw.ListWaitingRequest,
    response: gw.ListWaitingResponse,
    summary:
      'The conversations waiting in a queue, first in line first, a page at a time (100, or ?pageSize= up to 1000; ?pageToken=).',
  },
  {
    method: 'GET',
    path: `${T}/agents/{agentId}/conversations`,
    rpc: 'listAgentConversations',
    body: null,
    request: gw.ListAgentConversationsRequest,
    response: gw.ListAgentConversationsResponse,
    summary: 'The conversations an agent holds now, oldest assignment first (a desktop reconnecting).',
  },
  {
    method: 'GET',
    path: `${T}/agents/{agentId}/stats`,
    rpc: 'getAgentStats',
    body: null,
    request: stats.GetAgentStatsRequest,
    response: stats.GetAgentStatsResponse,
    summary: "An agent's real-time statistics.",
  },
  {
    method: 'GET',
    path: `${T}/agent-stats`,
    rpc: 'listAgentStats',
    body: null,
    query: PAGE,
    request: stats.ListAgentStatsRequest,
    response: stats.ListAgentStatsResponse,
    summary:
      "Every agent's real-time statistics (a wallboard) by agent id, a page at a time (500, or ?pageSize= up to 1000; ?pageToken=).",
  },
  {
    method: 'GET',
    path: `${T}/queues/{queueId}/agent-stats`,
    rpc: 'listAgentStats',
    body: null,
    query: PAGE,
    request: stats.ListAgentStatsRequest,
    response: stats.ListAgentStatsResponse,
    summary: 'The real-time statistics of the agents who can serve a queue.',
  },
  {
    method: 'GET',
    path: `${T}/teams/{team}/agent-stats`,
    rpc: 'listAgentStats',
    body: null,
    query: PAGE,
    request: stats.ListAgentStatsRequest,
    response: stats.ListAgentStatsResponse,
    summary: "The real-time statistics of a team's agents.",
  },
];

/** Path of the server-sent-events mirror of WatchEvents. */
export const EVENTS_PATH = `${T}/events`;

type Segment = { literal: string } | { param: string };

export interface CompiledRoute {
  route: Route;
  segments: Segment[];
  /** Custom verb of the last segment (`cancel` in `{conversationId}:cancel`), or null. */
  verb: string | null;
}

export function compileRoute(route: Route): CompiledRoute {
  const parts = route.path.split('/').slice(1);
  let verb: string | null = null;
  const last = parts[parts.length - 1]!;
  const colon = last.lastIndexOf(':');
  if (colon > 0 && last.endsWith('}') === false) {
    verb = last.slice(colon + 1);
    parts[parts.length - 1] = last.slice(0, colon);
  }
  const segments = parts.map(
    (p): Segment => (p.startsWith('{') ? { param: p.slice(1, -1) } : { literal: p }),
  );
  return { route, segments, verb };
}

/** A matched route with its decoded path parameters. */
export interface RouteMatch {
  route: Route;
  params: Record<string, string>;
}

/**
 * Routes indexed by method and segment count; matching walks a handful of candidates. Returns null for
 * an unknown path, and throws URIError for a malformed percent-encoding (the caller answers 400).
 */
export class RouteTable {
  private readonly byKey = new Map<string, CompiledRoute[]>();
  /** Paths that exist with another method (for the 404 message). */
  readonly routes: readonly Route[];

  constructor(routes: readonly Route[] = ROUTES) {
    this.routes = routes;
    for (const r of routes) {
      const c = compileRoute(r);
      const key = `${r.method} ${c.segments.length}`;
      const list = this.byKey.get(key) ?? [];
      list.push(c);
      this.byKey.set(key, list);
    }
  }

  /** Methods that do serve `pathname` (for 405 + Allow when the method was wrong). */
  allowedMethods(pathname: string): string[] {
    const out: string[] = [];
    try {
      for (const m of ['GET', 'POST', 'PUT', 'DELETE']) if (this.match(m, pathname) !== null) out.push(m);
    } catch {
      // A malformed percent-encoding serves no method.
    }
    return out;
  }

  match(method: string, pathname: string): RouteMatch | null {
    const parts = pathname.split('/').slice(1);
    const candidates = this.byKey.get(`${method} ${parts.length}`);
    if (candidates === undefined) return null;
    for (const c of candidates) {
      const params = matchSegments(c, parts);
      if (params !== null) return { route: c.route, params };
    }
    return null;
  }
}

function matchSegments(c: CompiledRoute, parts: string[]): Record<string, string> | null {
  const n = parts.length;
  let lastPart = parts[n - 1]!;
  if (c.verb !== null) {
    const suffix = `:${c.verb}`;
    if (!lastPart.endsWith(suffix) || lastPart.length === suffix.length) return null;
    lastPart = lastPart.slice(0, -suffix.length);
  }
  const params: Record<string, string> = {};
  for (let i = 0; i < n; i++) {
    const seg = c.segments[i]!;
    const part = i === n - 1 ? lastPart : parts[i]!;
    if ('literal' in seg) {
      if (seg.literal !== part) return null;
    } else {
      if (part.length === 0) return null;
      params[seg.param] = decodeURIComponent(part);
    }
  }
  return params;
}

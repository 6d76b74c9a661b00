/**
 * Starts the real API (gRPC + HTTP on free ports) over an in-memory router and gives typed clients:
 * generated grpc-js clients, a promise wrapper per unary call, and an HTTP helper.
 */
import * as grpc from '@grpc/grpc-js';
import { type Logger, pino } from 'pino';
import { Registry } from 'prom-client';
import type { KeepaliveOptions } from '../../../src/api/grpc-server.js';
import { type Api, type ApiOptions, createApi } from '../../../src/api/index.js';
import type { TlsFiles } from '../../../src/api/tls.js';
import { AdminServiceClient } from '../../../src/gen/switchboard/v1/admin.js';
import { AgentDeskServiceClient } from '../../../src/gen/switchboard/v1/agent_desk.js';
import { type Agent, Presence } from '../../../src/gen/switchboard/v1/common.js';
import { EventServiceClient } from '../../../src/gen/switchboard/v1/events.js';
import { GatewayServiceClient } from '../../../src/gen/switchboard/v1/gateway.js';
import { StatisticsServiceClient } from '../../../src/gen/switchboard/v1/statistics.js';
import { InMemoryRouter } from './engine-router.js';
import { chatQueue } from './fixtures.js';

export const TOKENS = { acme: 'tok-acme', globex: 'tok-globex' };
/** acme's second token: the one it is rotating to (both work). */
export const NEXT_ACME_TOKEN = 'tok-acme-next';
export const ADMIN_TOKEN = 'tok-admin';

export interface Harness {
  api: Api;
  router: InMemoryRouter;
  registry: Registry;
  grpcPort: number;
  httpPort: number;
  admin: InstanceType<typeof AdminServiceClient>;
  desk: InstanceType<typeof AgentDeskServiceClient>;
  gateway: InstanceType<typeof GatewayServiceClient>;
  stats: InstanceType<typeof StatisticsServiceClient>;
  events: InstanceType<typeof EventServiceClient>;
  close(): Promise<void>;
}

export async function startHarness(
  opts: {
    maxMessageBytes?: number;
    auth?: boolean;
    keepalive?: KeepaliveOptions;
    tls?: TlsFiles;
    /** Default: pino at SB_TEST_LOG or silent. */
    logger?: Logger;
    watchBufferBytes?: number;
    /** Default: engines with default options. */
    router?: InMemoryRouter;
    limits?: ApiOptions['limits'];
    tenantLimits?: ApiOptions['tenantLimits'];
    watcherLimits?: ApiOptions['watcherLimits'];
  } = {},
): Promise<Harness> {
  const router = opts.router ?? new InMemoryRouter();
  const registry = new Registry();
  const api = createApi({
    router,
    clock: { now: () => Date.now() },
    auth:
      opts.auth === false
        ? { tokens: {} }
        : { tokens: { ...TOKENS, acme: [TOKENS.acme, NEXT_ACME_TOKEN] }, adminToken: ADMIN_TOKEN },
    registry,
    logger: opts.logger ?? pino({ level: process.env.SB_TEST_LOG ?? 'silent' }),
    maxMessageBytes: opts.maxMessageBytes ?? 64 * 1024,
    ...(opts.keepalive ? { keepalive: opts.keepalive } : {}),
    ...(opts.tls ? { tls: opts.tls } : {}),
    ...(opts.watchBufferBytes !== undefined ? { watchBufferBytes: opts.watchBufferBytes } : {}),
    ...(opts.limits ? { limits: opts.limits } : {}),
    ...(opts.tenantLimits ? { tenantLimits: opts.tenantLimits } : {}),
    ...(opts.watcherLimits ? { watcherLimits: opts.watcherLimits } : {}),
  });
  const { grpcPort, httpPort } = await api.start({ host: '127.0.0.1', grpcPort: 0, httpPort: 0 });
  // With TLS the test makes its own clients (with the CA it generated); these then stay unconnected.
  const addr = `127.0.0.1:${grpcPort}`;
  const creds = grpc.credentials.createInsecure();
  const admin = new AdminServiceClient(addr, creds);
  const desk = new AgentDeskServiceClient(addr, creds);
  const gateway = new GatewayServiceClient(addr, creds);
  const stats = new StatisticsServiceClient(addr, creds);
  const events = new EventServiceClient(addr, creds);
  return {
    api,
    router,
    registry,
    grpcPort,
    httpPort,
    admin,
    desk,
    gateway,
    stats,
    events,
    async close() {
      for (const c of [admin, desk, gateway, stats, events]) c.close();
      await api.stop(500);
    },
  };
}

/** Metadata with a bearer token. */
export function bearer(token: string | null): grpc.Metadata {
  const md = new grpc.Metadata();
  if (token !== null) md.set('authorization', `Bearer ${token}`);
  return md;
}

type UnaryFn<Req, Res> = (
  req: Req,
  md: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  cb: (err: grpc.ServiceError | null, res: Res) => void,
) => unknown;

/** Promise wrapper for a generated unary client method (bound to its client). */
export function call<Req, Res>(
  client: grpc.Client,
  fn: UnaryFn<Req, Res>,
  req: Req,
  token: string | null = TOKENS.acme,
  options: Partial<grpc.CallOptions> = {},
): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn.call(client, req, bearer(token), options, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/**
 * The desk most API tests start from: queue `billing` (chat) and the given agents, brought online when
 * `online` is set, through the real API.
 */
export async function billingDesk(
  h: Harness,
  tenant: string,
  agents: Agent[],
  online = false,
): Promise<void> {
  await call(h.admin, h.admin.upsertQueue, { tenant, requestId: '', queue: chatQueue('billing') });
  for (const agent of agents) {
    await call(h.admin, h.admin.upsertAgent, { tenant, requestId: '', agent });
    if (online)
      await call(h.desk, h.desk.setPresence, {
        tenant,
        requestId: '',
        agentId: agent.id,
        presence: Presence.PRESENCE_ONLINE,
      });
  }
}

/** The gRPC error of a call that must fail. */
export async function callError<Req, Res>(
  client: grpc.Client,
  fn: UnaryFn<Req, Res>,
  req: Req,
  token: string | null = TOKENS.acme,
  options: Partial<grpc.CallOptions> = {},
): Promise<grpc.ServiceError> {
  try {
    await call(client, fn, req, token, options);
  } catch (e) {
    return e as grpc.ServiceError;
  }
  throw new Error('expected the call to fail');
}

export interface HttpAnswer {
  status: number;
  body: unknown;
  text: string;
}

export async function http(
  h: Pick<Harness, 'httpPort'>,
  method: string,
  path: string,
  body?: unknown,
  token: string | null = TOKENS.acme,
  headers: Record<string, string> = {},
): Promise<HttpAnswer> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (token !== null) (init.headers as Record<string, string>).authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  const res = await fetch(`http://127.0.0.1:${h.httpPort}${path}`, init);
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  return { status: res.status, body: parsed, text };
}

/**
 * Three things operators and gateways rely on: every error answer is counted in
 * `switchboard_errors_total{method,code}` (gRPC and HTTP alike), a tenant can hold two tokens while it
 * rotates them, and an Enqueue answered OFFERED names the agent whose desk rings.
 */
import * as grpc from '@grpc/grpc-js';
import type { Counter } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Presence, Queue, Strategy } from '../../src/gen/switchboard/v1/common.js';
import { ConversationRequest, EnqueueStatus } from '../../src/gen/switchboard/v1/gateway.js';
import { chat, chatAgent, chatQueue } from './support/fixtures.js';
import {
  call,
  callError,
  type Harness,
  http,
  NEXT_ACME_TOKEN,
  startHarness,
  TOKENS,
} from './support/harness.js';

let h: Harness;
const T = 'acme';
const base = `/v1/tenants/${T}`;

/** Current value of `switchboard_errors_total{method,code}` (0 when the series does not exist yet). */
async function errorsTotal(method: string, code: string): Promise<number> {
  const c = h.registry.getSingleMetric('switchboard_errors_total') as Counter<'method' | 'code'> | undefined;
  if (!c) return 0;
  const { values } = await c.get();
  return values.find((v) => v.labels.method === method && v.labels.code === code)?.value ?? 0;
}

beforeAll(async () => {
  h = await startHarness();
  const offers = chatQueue('offers', { offerTimeoutSeconds: 30, strategy: Strategy.STRATEGY_ROUND_ROBIN });
  await call(h.admin, h.admin.upsertQueue, { tenant: T, requestId: '', queue: offers });
  await call(h.admin, h.admin.upsertQueue, { tenant: T, requestId: '', queue: chatQueue('billing') });
  for (const id of ['ona', 'otto']) {
    const agent = chatAgent(id, { queues: ['offers'], capacity: { chat: 5 } });
    await call(h.admin, h.admin.upsertAgent, { tenant: T, requestId: '', agent });
  }
});
afterAll(async () => {
  await h.close();
});

describe('switchboard_errors_total', () => {
  it('counts each gRPC error answer by method and code, and not the successful calls', async () => {
    const notFound = () =>
      callError(h.admin, h.admin.getAgent, { tenant: T, requestId: '', agentId: 'ghost' });
    const before = await errorsTotal('getAgent', 'SB_ERR_AGENT_NOT_FOUND');
    expect((await notFound()).code).toBe(grpc.status.NOT_FOUND);
    expect((await notFound()).code).toBe(grpc.status.NOT_FOUND);
    expect(await errorsTotal('getAgent', 'SB_ERR_AGENT_NOT_FOUND')).toBe(before + 2);

    const denied = await callError(
      h.admin,
      h.admin.getAgent,
      { tenant: T, requestId: '', agentId: 'ona' },
      TOKENS.globex,
    );
    expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(await errorsTotal('getAgent', 'SB_ERR_PERMISSION_DENIED')).toBe(1);

    const bad = await callError(h.gateway, h.gateway.enqueue, {
      tenant: T,
      requestId: '',
      conversation: chat('', 'billing'),
    });
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(await errorsTotal('enqueue', 'SB_ERR_INVALID_ARGUMENT')).toBe(1);

    await call(h.admin, h.admin.getAgent, { tenant: T, requestId: '', agentId: 'ona' });
    expect(await errorsTotal('getAgent', 'SB_ERR_AGENT_NOT_FOUND')).toBe(before + 2);
  });

  it('counts HTTP error answers under the same method names, and unrouted paths as "http"', async () => {
    const before = await errorsTotal('getConversation', 'SB_ERR_CONVERSATION_NOT_FOUND');
    expect((await http(h, 'GET', `${base}/conversations/ghost`)).status).toBe(404);
    expect(await errorsTotal('getConversation', 'SB_ERR_CONVERSATION_NOT_FOUND')).toBe(before + 1);

    expect((await http(h, 'POST', `${base}/conversations`, '{not json')).status).toBe(400);
    expect(await errorsTotal('enqueue', 'SB_ERR_INVALID_ARGUMENT')).toBeGreaterThanOrEqual(1);

    expect((await http(h, 'GET', `${base}/agents/ona`, undefined, null)).status).toBe(401);
    expect(await errorsTotal('getAgent', 'SB_ERR_UNAUTHENTICATED')).toBe(1);

    const unrouted = await errorsTotal('http', 'SB_ERR_NOT_IMPLEMENTED');
    expect((await http(h, 'GET', '/v1/nothing/here')).status).toBe(404);
    expect(await errorsTotal('http', 'SB_ERR_NOT_IMPLEMENTED')).toBe(unrouted + 1);

    const m = await http(h, 'GET', '/metrics');
    expect(m.text).toMatch(
      /switchboard_errors_total\{method="getConversation",code="SB_ERR_CONVERSATION_NOT_FOUND"\} [1-9]/,
    );
  });
});

describe('switchboard_command_duration_seconds counts every answered call', () => {
  /** `_count` of the command histogram for `method` (0 when the series does not exist yet). */
  async function calls(method: string): Promise<number> {
    const text = await h.registry.getSingleMetricAsString('switchboard_command_duration_seconds');
    const m = new RegExp(
      `^switchboard_command_duration_seconds_count\\{method="${method}"\\} (\\d+)$`,
      'm',
    ).exec(text);
    return m ? Number(m[1]) : 0;
  }

  it('errors the HTTP layer answers itself (bad JSON, unknown field, no route, no token) are calls too: the error-rate denominator holds its numerator', async () => {
    const enqueues = await calls('enqueue');
    const unrouted = await calls('http');
    const reads = await calls('getAgent');
    expect((await http(h, 'POST', `${base}/conversations`, '{not json')).status).toBe(400);
    expect((await http(h, 'POST', `${base}/conversations`, { id: 'x', nonsense: 1 })).status).toBe(400);
    expect((await http(h, 'GET', '/v1/nothing/here')).status).toBe(404);
    expect((await http(h, 'PATCH', `${base}/conversations`)).status).toBe(405);
    expect((await http(h, 'GET', `${base}/agents/ona`, undefined, null)).status).toBe(401);
    expect(await calls('enqueue')).toBe(enqueues + 2);
    expect(await calls('http')).toBe(unrouted + 2);
    expect(await calls('getAgent')).toBe(reads + 1);
  });
});

describe('two tokens per tenant (rotation)', () => {
  it('the current and the next token both open the tenant, over gRPC and HTTP; neither opens another tenant', async () => {
    for (const token of [TOKENS.acme, NEXT_ACME_TOKEN]) {
      const r = await call(
        h.admin,
        h.admin.getQueue,
        { tenant: T, requestId: '', queueId: 'billing' },
        token,
      );
      expect(r.queue?.id).toBe('billing');
      const viaHttp = await http(h, 'GET', `${base}/queues/billing`, undefined, token);
      expect(viaHttp.status).toBe(200);
      expect((viaHttp.body as { queue: unknown }).queue).toMatchObject(Queue.toJSON(r.queue!) as object);
    }
    const other = await callError(
      h.admin,
      h.admin.getQueue,
      { tenant: 'globex', requestId: '', queueId: 'billing' },
      NEXT_ACME_TOKEN,
    );
    expect(other.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(
      (await http(h, 'GET', '/v1/tenants/globex/queues/billing', undefined, NEXT_ACME_TOKEN)).status,
    ).toBe(403);
  });
  it('an unknown token is told only that, over gRPC as over HTTP: not what is wrong with the tenant', async () => {
    const viaGrpc = await callError(
      h.admin,
      h.admin.getQueue,
      { tenant: 'bad tenant', requestId: '', queueId: 'billing' },
      'not-a-token',
    );
    expect(viaGrpc.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(viaGrpc.details).not.toMatch(/tenant/);
    const viaHttp = await http(h, 'GET', '/v1/tenants/bad%20tenant/queues/billing', undefined, 'not-a-token');
    expect(viaHttp.status).toBe(401);
    // A known token still learns what is wrong with the tenant.
    const known = await callError(
      h.admin,
      h.admin.getQueue,
      { tenant: 'bad tenant', requestId: '', queueId: 'billing' },
      TOKENS.acme,
    );
    expect(known.code).toBe(grpc.status.INVALID_ARGUMENT);
  });
});

describe('an Enqueue answered OFFERED', () => {
  const online = (agentId: string) =>
    call(h.desk, h.desk.setPresence, {
      tenant: T,
      requestId: '',
      agentId,
      presence: Presence.PRESENCE_ONLINE,
    });

  it('names the agent being offered the conversation, over gRPC, on a repeat, and over HTTP', async () => {
    await online('ona');
    await online('otto');
    const r = await call(h.gateway, h.gateway.enqueue, {
      tenant: T,
      requestId: '',
      conversation: chat('lead-1', 'offers'),
    });
    expect(r.status).toBe(EnqueueStatus.ENQUEUE_STATUS_OFFERED);
    const conv = await call(h.gateway, h.gateway.getConversation, {
      tenant: T,
      requestId: '',
      conversationId: 'lead-1',
    });
    expect(r.agentId).toBeDefined();
    expect(conv.conversation?.offeredTo).toEqual([r.agentId]);

    const again = await call(h.gateway, h.gateway.enqueue, {
      tenant: T,
      requestId: '',
      conversation: chat('lead-1', 'offers'),
    });
    expect(again).toEqual(r);

    const viaHttp = await http(
      h,
      'POST',
      `${base}/conversations`,
      ConversationRequest.toJSON(chat('lead-2', 'offers')),
    );
    expect(viaHttp.status).toBe(200);
    expect(viaHttp.body).toMatchObject({ status: 'ENQUEUE_STATUS_OFFERED' });
    const offeredTo = (
      await call(h.gateway, h.gateway.getConversation, { tenant: T, requestId: '', conversationId: 'lead-2' })
    ).conversation?.offeredTo;
    expect((viaHttp.body as { agentId?: string }).agentId).toBe(offeredTo?.[0]);
  });
});

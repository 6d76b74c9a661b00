import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, Channel, Queue, RoutingConfig, Strategy } from '../../src/gen/switchboard/v1/common.js';
import {
  ConversationRequest,
  EnqueueResponse,
  GetConversationResponse,
} from '../../src/gen/switchboard/v1/gateway.js';
import { waitFor } from '../support/wait-for.js';
import { chat, chatAgent, chatQueue } from './support/fixtures.js';
import { call, type Harness, http, startHarness, TOKENS } from './support/harness.js';

let h: Harness;
const base = '/v1/tenants/acme';
type ErrorBody = { error: { code: string; message: string; field?: string } };

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('HTTP/JSON mirror', () => {
  it('defines a queue and an agent, and routes a chat to the agent once online', async () => {
    const q = await http(h, 'PUT', `${base}/queues/billing`, Queue.toJSON(chatQueue('billing')));
    expect(q.status).toBe(200);
    expect((q.body as { queue: { channel: string } }).queue.channel).toBe('CHANNEL_CHAT');
    const a = await http(h, 'PUT', `${base}/agents/ana`, Agent.toJSON(chatAgent('ana')));
    expect(a.status).toBe(200);
    const p = await http(h, 'POST', `${base}/agents/ana/presence`, { presence: 'PRESENCE_ONLINE' });
    expect(p.status).toBe(200);
    const e = await http(h, 'POST', `${base}/conversations`, ConversationRequest.toJSON(chat('h1')));
    expect(e.status).toBe(200);
    expect(e.body).toMatchObject({ conversationId: 'h1', status: 'ENQUEUE_STATUS_ASSIGNED', agentId: 'ana' });
    const g = await http(h, 'GET', `${base}/conversations/h1`);
    expect(g.body).toMatchObject({
      conversation: { id: 'h1', agentId: 'ana', status: 'CONVERSATION_STATUS_ASSIGNED' },
    });
  });

  it('a busy team queues the chat with position; a repeat gives the same answer; cancel abandons it', async () => {
    const first = await http(h, 'POST', `${base}/conversations`, ConversationRequest.toJSON(chat('h2')));
    expect(first.body).toMatchObject({ status: 'ENQUEUE_STATUS_QUEUED', position: 1 });
    const again = await http(h, 'POST', `${base}/conversations`, ConversationRequest.toJSON(chat('h2')));
    expect(again.body).toEqual(first.body);
    const stats = await http(h, 'GET', `${base}/queues/billing/stats`);
    // The alert state rides along (proto3 JSON leaves out overCapacity while it is false).
    expect(stats.body).toMatchObject({
      stats: { queueId: 'billing', waiting: 1, serviceLevelState: 'SERVICE_LEVEL_STATE_OK' },
    });
    expect(stats.body).not.toHaveProperty('stats.overCapacity');
    const c = await http(h, 'POST', `${base}/conversations/h2:cancel`, {});
    expect(c.status).toBe(200);
    const g = await http(h, 'GET', `${base}/conversations/h2`);
    expect(g.body).toMatchObject({ conversation: { status: 'CONVERSATION_STATUS_ABANDONED' } });
  });

  it('the HTTP mirror answers exactly what gRPC answers for the same calls', async () => {
    const viaGrpc = await call(h.gateway, h.gateway.enqueue, {
      tenant: 'acme',
      requestId: '',
      conversation: chat('both-1'),
    });
    const viaHttp = await http(
      h,
      'POST',
      `${base}/conversations`,
      ConversationRequest.toJSON(chat('both-1')),
    );
    expect(viaHttp.body).toEqual(EnqueueResponse.toJSON(viaGrpc));
    // A waiting conversation's estimate depends on when it is asked, so compare everything else.
    const conv = await call(h.gateway, h.gateway.getConversation, {
      tenant: 'acme',
      requestId: '',
      conversationId: 'both-1',
    });
    const fromHttp = (await http(h, 'GET', `${base}/conversations/both-1`)).body as {
      conversation: Record<string, unknown>;
    };
    const fromGrpc = GetConversationResponse.toJSON(conv) as { conversation: Record<string, unknown> };
    delete fromHttp.conversation.estimatedWaitMs;
    delete fromGrpc.conversation.estimatedWaitMs;
    expect(fromHttp).toEqual(fromGrpc);
    await http(h, 'POST', `${base}/conversations/both-1:cancel`, {});
  });

  it('ending a conversation frees the agent; stats and lists answer', async () => {
    const end = await http(h, 'POST', `${base}/conversations/h1:end`, { outcome: 'OUTCOME_RESOLVED' });
    expect(end.status).toBe(200);
    const s = await http(h, 'GET', `${base}/agents/ana/stats`);
    expect(s.body).toMatchObject({ stats: { agentId: 'ana', presence: 'PRESENCE_ONLINE' } });
    expect((await http(h, 'GET', `${base}/agents`)).status).toBe(200);
    expect((await http(h, 'GET', `${base}/queues`)).status).toBe(200);
    expect((await http(h, 'GET', `${base}/queue-stats`)).status).toBe(200);
  });

  it('routing settings read back as set; lint reports a queue needing a skill no agent has', async () => {
    const config = RoutingConfig.toJSON({
      maxMissedOffers: 4,
      agingPerMinute: 0.5,
      slaDrivenPriority: true,
      queueRules: [{ channel: Channel.CHANNEL_CHAT, topic: 'refund', skills: [], queueId: 'billing' }],
      slaAtRiskMargin: 0.1,
    });
    const put = await http(h, 'PUT', `${base}/routing-config`, config);
    expect(put.status, put.text).toBe(200);
    const got = await http(h, 'GET', `${base}/routing-config`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual({ config });
    const q = await http(
      h,
      'PUT',
      `${base}/queues/spanish`,
      Queue.toJSON(chatQueue('spanish', { requiredSkills: [{ skill: 'lang:es', minLevel: 1 }] })),
    );
    expect(q.status, q.text).toBe(200);
    const lint = await http(h, 'GET', `${base}/lint`);
    expect(lint.status).toBe(200);
    expect((lint.body as { findings?: unknown[] }).findings).toContainEqual(
      expect.objectContaining({ code: 'SKILL_NOBODY_HAS', severity: 'error', queueId: 'spanish' }),
    );
    expect((await http(h, 'DELETE', `${base}/queues/spanish`)).status).toBe(200);
    const after = (await http(h, 'GET', `${base}/lint`)).body as { findings?: { queueId?: string }[] };
    expect((after.findings ?? []).filter((f) => f.queueId === 'spanish')).toEqual([]);
  });

  it("agent statistics for a wallboard: every agent, a queue's agents, a team's, the same over gRPC", async () => {
    await http(
      h,
      'PUT',
      `${base}/queues/sales`,
      Queue.toJSON(chatQueue('sales', { requiredSkills: [{ skill: 'sales', minLevel: 1 }] })),
    );
    await http(h, 'PUT', `${base}/agents/bo`, Agent.toJSON(chatAgent('bo', { teams: ['night'] })));
    await http(
      h,
      'PUT',
      `${base}/agents/cy`,
      Agent.toJSON(chatAgent('cy', { skills: [{ skill: 'sales', level: 3 }], teams: ['night'] })),
    );
    const ids = async (path: string) => {
      const r = await http(h, 'GET', `${base}${path}`);
      expect(r.status, path).toBe(200);
      // proto3 JSON leaves an empty list out.
      return ((r.body as { stats?: { agentId: string }[] }).stats ?? []).map((s) => s.agentId);
    };
    expect(await ids('/agent-stats')).toEqual(['ana', 'bo', 'cy']);
    expect(await ids('/queues/sales/agent-stats')).toEqual(['cy']);
    expect(await ids('/queues/billing/agent-stats')).toEqual(['ana', 'bo']);
    expect(await ids('/teams/night/agent-stats')).toEqual(['bo', 'cy']);
    expect(await ids('/teams/nobody/agent-stats')).toEqual([]);
    const missing = await http(h, 'GET', `${base}/queues/no-such-queue/agent-stats`);
    expect(missing.status).toBe(404);
    expect((missing.body as ErrorBody).error).toMatchObject({
      code: 'SB_ERR_QUEUE_NOT_FOUND',
      field: 'queueId',
    });
    const viaGrpc = await call(h.stats, h.stats.listAgentStats, {
      tenant: 'acme',
      requestId: '',
      queueId: 'billing',
      team: 'night',
      pageSize: 0,
      pageToken: '',
    });
    expect(viaGrpc.stats.map((s) => s.agentId)).toEqual(['bo']);
    for (const id of ['bo', 'cy']) await http(h, 'DELETE', `${base}/agents/${id}`);
    await http(h, 'DELETE', `${base}/queues/sales`);
  });

  it('a supervisor lists the waiting line of a manual queue, first in line first, and assigns from it', async () => {
    const put = await http(
      h,
      'PUT',
      `${base}/queues/desk`,
      Queue.toJSON(chatQueue('desk', { strategy: Strategy.STRATEGY_MANUAL })),
    );
    expect(put.status).toBe(200);
    for (const [id, priority] of [
      ['w1', 5],
      ['w2', 9],
      ['w3', 5],
    ] as const) {
      const e = await http(
        h,
        'POST',
        `${base}/conversations`,
        ConversationRequest.toJSON(chat(id, 'desk', { priority })),
      );
      expect(e.body).toMatchObject({ status: 'ENQUEUE_STATUS_QUEUED' });
    }
    type Listing = { conversations?: { id: string; position: number }[]; totalWaiting: number };
    const line = async (q = '') => (await http(h, 'GET', `${base}/queues/desk/waiting${q}`)).body as Listing;
    expect((await line()).conversations?.map((c) => [c.id, c.position])).toEqual([
      ['w2', 1],
      ['w1', 2],
      ['w3', 3],
    ]);
    expect(await line('?pageSize=1')).toMatchObject({ conversations: [{ id: 'w2' }], totalWaiting: 3 });
    const bad = await http(h, 'GET', `${base}/queues/desk/waiting?pageSize=5000`);
    expect(bad.status).toBe(400);
    expect((bad.body as ErrorBody).error.field).toBe('pageSize');
    expect((await http(h, 'GET', `${base}/queues/nope/waiting`)).status).toBe(404);
    // The same over gRPC; then the supervisor assigns the first in line.
    const viaGrpc = await call(h.gateway, h.gateway.listWaiting, {
      tenant: 'acme',
      requestId: '',
      queueId: 'desk',
      pageSize: 2,
      pageToken: '',
    });
    expect(viaGrpc.conversations.map((c) => c.id)).toEqual(['w2', 'w1']);
    expect(viaGrpc.totalWaiting).toBe(3);
    const assigned = await call(h.gateway, h.gateway.assign, {
      tenant: 'acme',
      requestId: '',
      conversationId: 'w2',
      agentId: 'ana',
    });
    expect(assigned).toBeDefined();
    expect((await line()).conversations?.map((c) => [c.id, c.position])).toEqual([
      ['w1', 1],
      ['w3', 2],
    ]);
    await http(h, 'POST', `${base}/conversations/w2:end`, { outcome: 'OUTCOME_RESOLVED' });
    for (const id of ['w1', 'w3']) await http(h, 'POST', `${base}/conversations/${id}:cancel`, {});
    // proto3 JSON leaves out an empty list and a zero.
    expect(await line()).toEqual({});
    await http(h, 'DELETE', `${base}/queues/desk`);
  });

  it("a reconnecting desktop lists the agent's conversations; an unknown agent is 404", async () => {
    const e = await http(h, 'POST', `${base}/conversations`, ConversationRequest.toJSON(chat('desk-1')));
    expect(e.body).toMatchObject({ status: 'ENQUEUE_STATUS_ASSIGNED', agentId: 'ana' });
    const mine = await http(h, 'GET', `${base}/agents/ana/conversations`);
    expect(mine.status).toBe(200);
    expect((mine.body as { conversations: { id: string; status: string }[] }).conversations).toMatchObject([
      { id: 'desk-1', status: 'CONVERSATION_STATUS_ASSIGNED' },
    ]);
    const viaGrpc = await call(h.gateway, h.gateway.listAgentConversations, {
      tenant: 'acme',
      requestId: '',
      agentId: 'ana',
    });
    expect(viaGrpc.conversations.map((c) => c.id)).toEqual(['desk-1']);
    await http(h, 'POST', `${base}/conversations/desk-1:end`, { outcome: 'OUTCOME_RESOLVED' });
    expect((await http(h, 'GET', `${base}/agents/ana/conversations`)).body).toEqual({});
    const unknown = await http(h, 'GET', `${base}/agents/nobody/conversations`);
    expect(unknown.status).toBe(404);
    expect((unknown.body as ErrorBody).error).toMatchObject({
      code: 'SB_ERR_AGENT_NOT_FOUND',
      field: 'agentId',
    });
  });

  it('an idempotency-key header makes a repeated presence change one command with one answer', async () => {
    const key = { 'idempotency-key': 'desk-42' };
    const before = h.router.submitted.length;
    const a = await http(
      h,
      'POST',
      `${base}/agents/ana/presence`,
      { presence: 'PRESENCE_AWAY' },
      TOKENS.acme,
      key,
    );
    const b = await http(
      h,
      'POST',
      `${base}/agents/ana/presence`,
      { presence: 'PRESENCE_AWAY' },
      TOKENS.acme,
      key,
    );
    expect(a.status).toBe(200);
    expect(b.body).toEqual(a.body);
    const ids = h.router.submitted.slice(before).map((e) => e.id);
    expect(ids).toEqual(['r:desk-42', 'r:desk-42']);
    await http(h, 'POST', `${base}/agents/ana/presence`, { presence: 'PRESENCE_ONLINE' });
  });

  it('a bad field answers 400 naming the field', async () => {
    const bad = Agent.toJSON(
      chatAgent('eve', {
        skills: [
          { skill: 'billing', level: 5 },
          { skill: 'x', level: 0 },
        ],
      }),
    );
    const r = await http(h, 'PUT', `${base}/agents/eve`, bad);
    expect(r.status).toBe(400);
    expect((r.body as ErrorBody).error).toMatchObject({
      code: 'SB_ERR_INVALID_ARGUMENT',
      field: 'agent.skills[1].level',
    });
  });

  it('bad JSON answers 400 with field "body"; an unknown route answers 404 JSON', async () => {
    const r = await http(h, 'POST', `${base}/conversations`, '{"id": ');
    expect(r.status).toBe(400);
    expect((r.body as ErrorBody).error.field).toBe('body');
    const n = await http(h, 'GET', '/v1/nowhere');
    expect(n.status).toBe(404);
    expect((n.body as ErrorBody).error.code).toBe('SB_ERR_NOT_IMPLEMENTED');
    const wrong = await http(h, 'PATCH', `${base}/agents/ana`, {});
    expect(wrong.status).toBe(405);
    expect((wrong.body as ErrorBody).error.code).toBe('SB_ERR_METHOD_NOT_ALLOWED');
  });

  it('an unknown conversation answers 404; a path/body id mismatch answers 400', async () => {
    const r = await http(h, 'GET', `${base}/conversations/ghost`);
    expect(r.status).toBe(404);
    expect((r.body as ErrorBody).error.code).toBe('SB_ERR_CONVERSATION_NOT_FOUND');
    const m = await http(h, 'PUT', `${base}/agents/ana`, Agent.toJSON(chatAgent('bob')));
    expect(m.status).toBe(400);
    expect((m.body as ErrorBody).error.field).toBe('agent.id');
  });

  it('auth: no token 401, another tenant’s token 403', async () => {
    expect((await http(h, 'GET', `${base}/agents/ana`, undefined, null)).status).toBe(401);
    expect((await http(h, 'GET', `${base}/agents/ana`, undefined, TOKENS.globex)).status).toBe(403);
  });

  it('an oversized body answers 413', async () => {
    const r = await http(h, 'PUT', `${base}/agents/big`, {
      ...(Agent.toJSON(chatAgent('big')) as object),
      displayName: 'x'.repeat(100_000),
    });
    expect(r.status).toBe(413);
    expect((r.body as ErrorBody).error.code).toBe('SB_ERR_PAYLOAD_TOO_LARGE');
  });

  it('a request slower than x-timeout-ms answers 504', async () => {
    h.router.delayMs = 300;
    try {
      const r = await http(
        h,
        'POST',
        `${base}/conversations`,
        ConversationRequest.toJSON(chat('slow')),
        TOKENS.acme,
        {
          'x-timeout-ms': '50',
        },
      );
      expect(r.status).toBe(504);
    } finally {
      h.router.delayMs = 0;
    }
  });

  it('liveness, readiness and Prometheus metrics', async () => {
    expect((await http(h, 'GET', '/healthz')).status).toBe(200);
    expect((await http(h, 'GET', '/readyz')).status).toBe(200);
    h.router.isReady = false;
    expect((await http(h, 'GET', '/readyz')).status).toBe(503);
    h.router.isReady = true;
    const m = await http(h, 'GET', '/metrics');
    expect(m.text).toContain('switchboard_command_duration_seconds_bucket{le="0.00005",method="enqueue"}');
  });

  it('server-sent events need the tenant token', async () => {
    const r = await http(h, 'GET', `${base}/events`, undefined, TOKENS.globex);
    expect(r.status).toBe(403);
  });

  it('server-sent events carry a routing event of the watched queue', async () => {
    const ctrl = new AbortController();
    const res = await fetch(`http://127.0.0.1:${h.httpPort}${base}/events?queueId=billing&types=queued`, {
      headers: { authorization: `Bearer ${TOKENS.acme}` },
      signal: ctrl.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await waitFor(() => h.router.subscriberCount === 1, { what: 'the event stream to subscribe' });
    await http(h, 'POST', `${base}/conversations`, ConversationRequest.toJSON(chat('h3')));
    await http(h, 'POST', `${base}/conversations`, ConversationRequest.toJSON(chat('h4')));
    let text = '';
    while (!text.includes('data: ')) {
      const { value } = await reader.read();
      text += new TextDecoder().decode(value);
    }
    expect(text).toContain('event: queued');
    expect(text).toMatch(/"conversationId":"h[34]"/);
    ctrl.abort();
    await waitFor(() => h.router.subscriberCount === 0, {
      what: 'the aborted event stream to unsubscribe from the router',
    });
  });
});

describe('query strings', () => {
  it('a query parameter the route does not take is 400 naming it, as is one given twice', async () => {
    for (const [path, field] of [
      // A name the request does not have: it used to be dropped (`?conversation_id=` streamed the whole
      // tenant unfiltered before the proto spelling of a field was taken as the field).
      [`${base}/events?conversation=zz9`, 'conversation'],
      [`${base}/events?queueId=billing&queueId=sales`, 'queueId'],
      // The JSON and the proto spelling of one field: the field given twice.
      [`${base}/events?conversation_id=zz9&conversationId=zz8`, 'conversationId'],
      [`${base}/queues/billing/waiting?page=1`, 'page'],
      [`${base}/queues/billing/waiting?pageSize=1&pageSize=2`, 'pageSize'],
      [`${base}/agents/ana?verbose=1`, 'verbose'],
    ] as const) {
      // Not `http()`: an event stream wrongly accepted would never end.
      const res = await fetch(`http://127.0.0.1:${h.httpPort}${path}`, {
        headers: { authorization: `Bearer ${TOKENS.acme}` },
      });
      if (res.status === 200) await res.body?.cancel();
      expect(res.status, path).toBe(400);
      expect(((await res.json()) as ErrorBody).error).toMatchObject({
        code: 'SB_ERR_INVALID_ARGUMENT',
        field,
      });
    }
    expect(h.router.subscriberCount).toBe(0);
    for (const size of ['pageSize', 'page_size']) {
      const page = await http(h, 'GET', `${base}/queues/billing/waiting?${size}=1`);
      expect(page.status, page.text).toBe(200);
      expect((page.body as { conversations: unknown[] }).conversations).toHaveLength(1);
    }
  });

  it('server-sent events take types repeated and comma-separated, every value counting', async () => {
    const ctrl = new AbortController();
    const res = await fetch(
      `http://127.0.0.1:${h.httpPort}${base}/events?conversationId=q9&types=abandoned&types=queued,assigned`,
      { headers: { authorization: `Bearer ${TOKENS.acme}` }, signal: ctrl.signal },
    );
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await waitFor(() => h.router.subscriberCount === 1, { what: 'the event stream to subscribe' });
    await http(h, 'POST', `${base}/conversations`, ConversationRequest.toJSON(chat('q9')));
    await http(h, 'POST', `${base}/conversations/q9:cancel`, {});
    let text = '';
    const twoEvents = async () => {
      while ((text.match(/^event: /gm) ?? []).length < 2) {
        const { value, done } = await reader.read();
        if (done) return;
        text += new TextDecoder().decode(value);
      }
    };
    // A dropped `types` value shows as a missing event: stop waiting for it after a while.
    await Promise.race([twoEvents(), new Promise((r) => setTimeout(r, 3000).unref())]);
    ctrl.abort();
    expect(text.match(/^event: .*$/gm)).toEqual(['event: queued', 'event: abandoned']);
    await waitFor(() => h.router.subscriberCount === 0, { what: 'the aborted stream to unsubscribe' });
  });
});

describe('requests the HTTP parser refuses', () => {
  /** One raw request on its own connection; the whole answer as text. */
  async function raw(request: string): Promise<string> {
    const socket = connect(h.httpPort, '127.0.0.1');
    let text = '';
    socket.on('data', (d) => {
      text += d.toString();
    });
    socket.write(request);
    await new Promise((r) => socket.once('close', r));
    return text;
  }

  it('oversized headers get 413 with the catalogue error body, malformed requests 400 with one', async () => {
    const big = await raw(
      `GET ${base}/agents/ana HTTP/1.1\r\nhost: x\r\nidempotency-key: ${'k'.repeat(20_000)}\r\n\r\n`,
    );
    expect(big).toMatch(/^HTTP\/1\.1 413 /);
    expect(JSON.parse(big.slice(big.indexOf('\r\n\r\n') + 4))).toMatchObject({
      error: { code: 'SB_ERR_PAYLOAD_TOO_LARGE' },
    });
    const garbage = await raw('THIS IS NOT HTTP\r\n\r\n');
    expect(garbage).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(garbage.slice(garbage.indexOf('\r\n\r\n') + 4))).toMatchObject({
      error: { code: 'SB_ERR_INVALID_ARGUMENT' },
    });
  });
});

/**
 * Request ids and conversation ids as idempotency keys, over HTTP and gRPC: a retry (same key, same
 * request) gets the first answer and changes nothing; the same key on a different request is refused,
 * never answered as if the different request had been carried out; and a request id can never collide
 * with a conversation id (ids may contain `:`).
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine/index.js';
import { Presence } from '../../src/gen/switchboard/v1/common.js';
import { ConversationStatus, EnqueueStatus } from '../../src/gen/switchboard/v1/gateway.js';
import { InMemoryRouter } from './support/engine-router.js';
import { chat, chatAgent, chatQueue } from './support/fixtures.js';
import { billingDesk, call, callError, type Harness, http, startHarness } from './support/harness.js';

let h: Harness;
const T = 'acme';
const base = `/v1/tenants/${T}`;
type Body = { error?: { code?: string; field?: string }; agent?: { displayName?: string; tier?: number } };

beforeAll(async () => {
  h = await startHarness();
  await billingDesk(h, T, [chatAgent('ana')], true);
});
afterAll(async () => {
  await h.close();
});

describe('idempotency keys', () => {
  it('a request id reused for a different upsert is refused (422, field requestId) and changes nothing; the same request again is answered as the first', async () => {
    const key = { 'idempotency-key': 'up-1' };
    const first = { displayName: 'First', capacity: { chat: 1 } };
    expect((await http(h, 'PUT', `${base}/agents/zed`, first, undefined, key)).status).toBe(200);
    for (const [path, body] of [
      [`${base}/agents/zed`, { displayName: 'Second', capacity: { voice: 1 }, tier: 5 }],
      [`${base}/agents/yan`, first],
    ] as const) {
      const r = await http(h, 'PUT', path, body, undefined, key);
      expect(r.status, r.text).toBe(422);
      expect((r.body as Body).error).toMatchObject({ code: 'SB_ERR_REQUEST_ID_REUSED', field: 'requestId' });
    }
    expect(((await http(h, 'GET', `${base}/agents/zed`)).body as Body).agent?.displayName).toBe('First');
    expect((await http(h, 'GET', `${base}/agents/yan`)).status).toBe(404);
    const again = await http(h, 'PUT', `${base}/agents/zed`, first, undefined, key);
    expect(again.status).toBe(200);
    expect((again.body as Body).agent?.displayName).toBe('First');

    // gRPC: the same rule, FAILED_PRECONDITION naming the field.
    const e = await callError(h.admin, h.admin.upsertAgent, {
      tenant: T,
      requestId: 'up-1',
      agent: chatAgent('zed', { displayName: 'Third' }),
    });
    expect(e.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(e.metadata.get('sb-field')).toEqual(['requestId']);
  });

  it('a request id reused on a different method is refused (422, field requestId) and changes nothing, over both transports', async () => {
    const key = { 'idempotency-key': 'r9' };
    const first = await http(
      h,
      'PUT',
      `${base}/agents/a3`,
      { displayName: 'A3', capacity: { chat: 1 } },
      undefined,
      key,
    );
    expect(first.status, first.text).toBe(200);
    for (const [method, path, body] of [
      ['POST', `${base}/agents/a3/presence`, { presence: 'PRESENCE_ONLINE' }],
      ['PUT', `${base}/customers/cu1`, { valueTier: 2 }],
    ] as const) {
      const r = await http(h, method, path, body, undefined, key);
      expect(r.status, `${method} ${path}: ${r.text}`).toBe(422);
      expect((r.body as Body).error).toMatchObject({ code: 'SB_ERR_REQUEST_ID_REUSED', field: 'requestId' });
    }
    const e = await callError(h.desk, h.desk.setPresence, {
      tenant: T,
      requestId: 'r9',
      agentId: 'a3',
      presence: Presence.PRESENCE_AWAY,
    });
    expect(e.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(e.metadata.get('sb-field')).toEqual(['requestId']);
    const stats = await call(h.stats, h.stats.getAgentStats, { tenant: T, requestId: '', agentId: 'a3' });
    expect(stats.stats?.presence).toBe(Presence.PRESENCE_OFFLINE);
    expect((await http(h, 'GET', `${base}/customers/cu1`)).status).toBe(404);
    // The first request itself is still a retry.
    const again = await http(
      h,
      'PUT',
      `${base}/agents/a3`,
      { displayName: 'A3', capacity: { chat: 1 } },
      undefined,
      key,
    );
    expect(again.status).toBe(200);
  });

  it('an idempotency-key header and a body requestId that differ are 400 naming requestId, changing nothing; equal ones are one key', async () => {
    const presence = async () =>
      (await call(h.stats, h.stats.getAgentStats, { tenant: T, requestId: '', agentId: 'ana' })).stats
        ?.presence;
    const before = await presence();
    for (const body of [
      { presence: 'PRESENCE_AWAY', requestId: 'body-1' },
      { presence: 'PRESENCE_AWAY', request_id: 'body-1' },
    ]) {
      const r = await http(h, 'POST', `${base}/agents/ana/presence`, body, undefined, {
        'idempotency-key': 'header-1',
      });
      expect(r.status, r.text).toBe(400);
      expect((r.body as Body).error).toMatchObject({ code: 'SB_ERR_INVALID_ARGUMENT', field: 'requestId' });
    }
    expect(await presence()).toBe(before);
    const same = await http(
      h,
      'POST',
      `${base}/agents/ana/presence`,
      { presence: 'PRESENCE_ONLINE', requestId: 'same-1' },
      undefined,
      { 'idempotency-key': 'same-1' },
    );
    expect(same.status, same.text).toBe(200);
    // The header and the body named the same key: a retry with either alone is that request.
    const e = await callError(h.desk, h.desk.setPresence, {
      tenant: T,
      requestId: 'same-1',
      agentId: 'ana',
      presence: Presence.PRESENCE_AWAY,
    });
    expect(e.metadata.get('sb-field')).toEqual(['requestId']);
  });

  it('a conversation enqueued again with different content is refused (409); with the same content it gets its first answer', async () => {
    const r1 = await call(h.gateway, h.gateway.enqueue, {
      tenant: T,
      requestId: '',
      conversation: chat('c1'),
    });
    const same = await call(h.gateway, h.gateway.enqueue, {
      tenant: T,
      requestId: '',
      conversation: chat('c1'),
    });
    expect(same).toEqual(r1);
    const e = await callError(h.gateway, h.gateway.enqueue, {
      tenant: T,
      requestId: '',
      conversation: chat('c1', 'billing', { priority: 9, customer: { id: 'someone-else', valueTier: 0 } }),
    });
    expect(e.code).toBe(grpc.status.ALREADY_EXISTS);
    const viaHttp = await http(h, 'POST', `${base}/conversations`, {
      id: 'c1',
      channel: 'CHANNEL_CHAT',
      customer: { id: 'someone-else' },
      queueId: 'billing',
    });
    expect(viaHttp.status).toBe(409);
    expect((viaHttp.body as Body).error?.code).toBe('SB_ERR_CONVERSATION_EXISTS');
  });

  it('a request id never stands for a conversation id: cancelling "c3" with request id "x3" is not taken for the cancel of conversation "r:x3"', async () => {
    for (const id of ['r:x3', 'c3']) {
      await call(h.gateway, h.gateway.enqueue, { tenant: T, requestId: '', conversation: chat(id) });
    }
    expect((await http(h, 'POST', `${base}/conversations/r:x3:cancel`, {})).status).toBe(200);
    const c3 = await http(h, 'POST', `${base}/conversations/c3:cancel`, {}, undefined, {
      'idempotency-key': 'x3',
    });
    expect(c3.status).toBe(200);
    const got = await call(h.gateway, h.gateway.getConversation, {
      tenant: T,
      requestId: '',
      conversationId: 'c3',
    });
    expect(got.conversation?.status).toBe(ConversationStatus.CONVERSATION_STATUS_ABANDONED);
  });

  it('a malformed request id is refused on read calls too, over both transports', async () => {
    const bad = `bad id\u0001${'x'.repeat(300)}`;
    const e = await callError(h.admin, h.admin.getAgent, { tenant: T, requestId: bad, agentId: 'ana' });
    expect(e.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(e.metadata.get('sb-field')).toEqual(['requestId']);
    const r = await http(h, 'GET', `${base}/agents/ana`, undefined, undefined, {
      'idempotency-key': 'x'.repeat(300),
    });
    expect(r.status).toBe(400);
    expect((r.body as Body).error?.field).toBe('requestId');
  });

  it('a conversation ended again with another outcome is refused as already ended; ended again alike it is a retry', async () => {
    // A desk of its own, so e1 is assigned whatever the other tests left busy.
    await call(h.admin, h.admin.upsertQueue, { tenant: T, requestId: '', queue: chatQueue('ends') });
    await call(h.admin, h.admin.upsertAgent, {
      tenant: T,
      requestId: '',
      agent: chatAgent('eve', { queues: ['ends'] }),
    });
    await call(h.desk, h.desk.setPresence, {
      tenant: T,
      requestId: '',
      agentId: 'eve',
      presence: Presence.PRESENCE_ONLINE,
    });
    await call(h.gateway, h.gateway.enqueue, { tenant: T, requestId: '', conversation: chat('e1', 'ends') });
    await call(h.desk, h.desk.endConversation, {
      tenant: T,
      requestId: '',
      conversationId: 'e1',
      outcome: 1,
    });
    // A retry of the same end (its answer was lost) is accepted.
    await call(h.desk, h.desk.endConversation, {
      tenant: T,
      requestId: '',
      conversationId: 'e1',
      outcome: 1,
    });
    const e = await callError(h.desk, h.desk.endConversation, {
      tenant: T,
      requestId: '',
      conversationId: 'e1',
      outcome: 2,
    });
    expect(e.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(e.details).toMatch(/already ended/);
  });
});

describe('an Enqueue retried after the dedupe window', () => {
  it('gets the first answer inside the window, the current status after it, and CONVERSATION_EXISTS once closed', async () => {
    // A window of 2 commands, so a few calls push an enqueue out of it.
    const small = await startHarness({
      router: new InMemoryRouter((p) => createEngine(p, { dedupeWindow: 2 })),
    });
    try {
      await call(small.admin, small.admin.upsertQueue, {
        tenant: T,
        requestId: '',
        queue: chatQueue('billing'),
      });
      const enqueue = (id: string) =>
        call(small.gateway, small.gateway.enqueue, { tenant: T, requestId: '', conversation: chat(id) });
      const pushOut = () =>
        call(small.admin, small.admin.upsertQueue, { tenant: T, requestId: '', queue: chatQueue('other') });
      await enqueue('w1');
      const first = await enqueue('w2');
      expect(first).toMatchObject({ status: EnqueueStatus.ENQUEUE_STATUS_QUEUED, position: 2 });
      expect(await enqueue('w2')).toEqual(first);
      await call(small.gateway, small.gateway.cancel, { tenant: T, requestId: '', conversationId: 'w1' });
      await pushOut();
      // Out of the window: answered from the conversation as it is now (second in line no more).
      expect(await enqueue('w2')).toMatchObject({ status: EnqueueStatus.ENQUEUE_STATUS_QUEUED, position: 1 });
      await call(small.gateway, small.gateway.cancel, { tenant: T, requestId: '', conversationId: 'w2' });
      await pushOut();
      await pushOut();
      const closed = await callError(small.gateway, small.gateway.enqueue, {
        tenant: T,
        requestId: '',
        conversation: chat('w2'),
      });
      expect(closed.code).toBe(grpc.status.ALREADY_EXISTS);
      expect(closed.metadata.get('sb-error-code')).toEqual(['SB_ERR_CONVERSATION_EXISTS']);
    } finally {
      await small.close();
    }
  });
});

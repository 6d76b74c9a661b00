/**
 * The HTTP mirror checks JSON value types as a proto3 JSON parser does, instead of letting the generated
 * codec coerce them: `"false"` for a bool used to be stored as true, an object for a string as
 * "[object Object]", `[7]` for an int as 7, unknown keys were dropped. Each is now a 400 naming the
 * field's path, and changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Channel } from '../../src/gen/switchboard/v1/common.js';
import { chat, chatAgent } from './support/fixtures.js';
import { billingDesk, callError, type Harness, http, startHarness } from './support/harness.js';

let h: Harness;
const base = '/v1/tenants/acme';
type ErrorBody = { error?: { code?: string; field?: string; message?: string } };

beforeAll(async () => {
  h = await startHarness();
  await billingDesk(h, 'acme', [chatAgent('ana')], true);
});
afterAll(async () => {
  await h.close();
});

describe('HTTP JSON value types', () => {
  it.each([
    [
      'PUT',
      `${base}/queues/q1`,
      { channel: 'CHANNEL_CHAT', strategy: 'STRATEGY_MANUAL', onlineOnly: 'false' },
      'queue.onlineOnly',
    ],
    ['PUT', `${base}/routing-config`, { slaDrivenPriority: 'false' }, 'config.slaDrivenPriority'],
    ['PUT', `${base}/agents/weird`, { displayName: { x: 1 }, capacity: { chat: 1 } }, 'agent.displayName'],
    [
      'PUT',
      `${base}/agents/weird`,
      { displayName: 'W', teams: [null], capacity: { chat: 1 } },
      'agent.teams[0]',
    ],
    [
      'PUT',
      `${base}/agents/weird`,
      { displayName: 'W', teams: [{ a: 1 }], capacity: { chat: 1 } },
      'agent.teams[0]',
    ],
    ['PUT', `${base}/agents/weird`, { displayName: 'W', tier: true, capacity: { chat: 1 } }, 'agent.tier'],
    ['PUT', `${base}/agents/weird`, { displayName: 'W', capacity: { chat: 'three' } }, 'agent.capacity.chat'],
    ['PUT', `${base}/agents/weird`, { displayName: 'W', capacity: { chat: 1 }, tier: 1.5 }, 'agent.tier'],
    [
      'PUT',
      `${base}/agents/weird`,
      { displayName: 'W', capacity: { chat: 1 }, nickname: 'x' },
      'agent.nickname',
    ],
    [
      'POST',
      `${base}/conversations`,
      { id: 'j1', channel: 'CHANNEL_CHAT', customer: { id: 'c' }, queueId: 'billing', priority: [7] },
      'conversation.priority',
    ],
    [
      'POST',
      `${base}/conversations`,
      { id: 'j1', channel: 'CHANNEL_CARRIER_PIGEON', customer: { id: 'c' }, queueId: 'billing' },
      'conversation.channel',
    ],
    [
      'POST',
      `${base}/conversations`,
      { id: 'j1', channel: 'CHANNEL_CHAT', customer: 'c', queueId: 'billing' },
      'conversation.customer',
    ],
  ])('%s %s %j → 400 naming %s, nothing changed', async (method, path, body, field) => {
    const before = (await http(h, 'GET', `${base}/agents`)).text;
    const r = await http(h, method, path, body);
    expect(r.status, r.text).toBe(400);
    expect((r.body as ErrorBody).error).toMatchObject({ code: 'SB_ERR_INVALID_ARGUMENT', field });
    expect((await http(h, 'GET', `${base}/agents`)).text).toBe(before);
  });

  it('an unknown enum value is worded alike over HTTP and gRPC, and UNSPECIFIED is never offered', async () => {
    const offered =
      'conversation.channel: must be one of CHANNEL_CHAT, CHANNEL_VOICE, CHANNEL_EMAIL, CHANNEL_SMS, CHANNEL_SOCIAL';
    const viaHttp = await http(h, 'POST', `${base}/conversations`, {
      id: 'j2',
      channel: 'CHANNEL_FAX',
      customer: { id: 'c' },
      queueId: 'billing',
    });
    expect((viaHttp.body as ErrorBody).error?.message).toBe(`${offered}, not the string "CHANNEL_FAX"`);
    const viaGrpc = await callError(h.gateway, h.gateway.enqueue, {
      tenant: 'acme',
      requestId: '',
      conversation: { ...chat('j2'), channel: 99 as Channel },
    });
    expect(viaGrpc.details).toBe(offered);
    // The other shape of message from the JSON check: `<path>: <what is wrong>` as well.
    const tier = await http(h, 'PUT', `${base}/agents/weird`, { displayName: 'W', tier: true });
    expect((tier.body as ErrorBody).error?.message).toBe('agent.tier: must be an integer, not boolean true');
  });

  it('what proto3 JSON allows still goes through: integers as decimal text, enum numbers, null for a default', async () => {
    const r = await http(h, 'PUT', `${base}/agents/tess`, {
      displayName: 'Tess',
      tier: '2',
      seniority: 2,
      teams: ['support'],
      capacity: { chat: '2' },
      wrapUpSeconds: null,
    });
    expect(r.status, r.text).toBe(200);
    const got = await http(h, 'GET', `${base}/agents/tess`);
    expect(got.body).toMatchObject({ agent: { displayName: 'Tess', tier: 2, capacity: { chat: 2 } } });
    const q = await http(h, 'PUT', `${base}/queues/q2`, {
      channel: 'CHANNEL_CHAT',
      strategy: 'STRATEGY_MANUAL',
      onlineOnly: false,
    });
    expect(q.status, q.text).toBe(200);
    const stored = (await http(h, 'GET', `${base}/queues/q2`)).body as { queue: { onlineOnly?: boolean } };
    expect(stored.queue.onlineOnly ?? false).toBe(false);
  });
});

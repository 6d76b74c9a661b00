/**
 * The agent-desk and gateway calls that move a conversation along, over gRPC against the real engine:
 * offers accepted and rejected, transfer, escalation, supervisor assignment in a manual queue, end with
 * an outcome and wrap-up.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Outcome, Presence, Strategy } from '../../src/gen/switchboard/v1/common.js';
import { ConversationStatus, EnqueueStatus } from '../../src/gen/switchboard/v1/gateway.js';
import { chat, chatAgent, chatQueue } from './support/fixtures.js';
import { call, callError, type Harness, http, startHarness } from './support/harness.js';

let h: Harness;
const T = 'acme';
const online = (agentId: string) =>
  call(h.desk, h.desk.setPresence, { tenant: T, requestId: '', agentId, presence: Presence.PRESENCE_ONLINE });
const conversation = async (id: string) =>
  (await call(h.gateway, h.gateway.getConversation, { tenant: T, requestId: '', conversationId: id }))
    .conversation!;

beforeAll(async () => {
  h = await startHarness();
  const queues = [
    chatQueue('sales', { offerTimeoutSeconds: 30, strategy: Strategy.STRATEGY_ROUND_ROBIN }),
    chatQueue('billing'),
    chatQueue('vip', { strategy: Strategy.STRATEGY_MANUAL }),
  ];
  for (const queue of queues) await call(h.admin, h.admin.upsertQueue, { tenant: T, requestId: '', queue });
  const agents = [
    chatAgent('ana', { queues: ['sales'] }),
    chatAgent('bob', { queues: ['sales'] }),
    chatAgent('sue', { queues: ['billing', 'vip'], tier: 3, capacity: { chat: 3 }, wrapUpSeconds: 60 }),
  ];
  for (const agent of agents) await call(h.admin, h.admin.upsertAgent, { tenant: T, requestId: '', agent });
  for (const id of ['ana', 'bob', 'sue']) await online(id);
});
afterAll(async () => {
  await h.close();
});

describe('a conversation through offers, transfer, escalation and wrap-up', () => {
  it('an offer rejected by one agent goes to the next, who accepts it', async () => {
    const r = await call(h.gateway, h.gateway.enqueue, {
      tenant: T,
      requestId: '',
      conversation: chat('lead-1', 'sales'),
    });
    expect(r.status).toBe(EnqueueStatus.ENQUEUE_STATUS_OFFERED);
    const first = (await conversation('lead-1')).offeredTo[0]!;
    await call(h.desk, h.desk.rejectOffer, {
      tenant: T,
      requestId: '',
      agentId: first,
      conversationId: 'lead-1',
    });
    const after = await conversation('lead-1');
    expect(after.status).toBe(ConversationStatus.CONVERSATION_STATUS_OFFERED);
    const second = after.offeredTo[0]!;
    expect(second).not.toBe(first);
    await call(h.desk, h.desk.acceptOffer, {
      tenant: T,
      requestId: '',
      agentId: second,
      conversationId: 'lead-1',
    });
    const accepted = await conversation('lead-1');
    expect(accepted.status).toBe(ConversationStatus.CONVERSATION_STATUS_ASSIGNED);
    expect(accepted.agentId).toBe(second);
  });

  it('accepting an offer the agent does not hold is FAILED_PRECONDITION', async () => {
    const err = await callError(h.desk, h.desk.acceptOffer, {
      tenant: T,
      requestId: '',
      agentId: 'sue',
      conversationId: 'lead-1',
    });
    expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
  });

  it('an assigned chat transferred to the billing queue lands with the billing agent', async () => {
    await call(h.gateway, h.gateway.transfer, {
      tenant: T,
      requestId: '',
      conversationId: 'lead-1',
      toQueueId: 'billing',
    });
    const moved = await conversation('lead-1');
    expect(moved.queueId).toBe('billing');
    expect(moved.agentId).toBe('sue');
  });

  it('escalating to a tier-3 agent adds a participant, escalating to an agent and a tier at once is INVALID_ARGUMENT, and a transfer with no target is INVALID_ARGUMENT', async () => {
    await call(h.gateway, h.gateway.enqueue, {
      tenant: T,
      requestId: '',
      conversation: chat('lead-2', 'sales'),
    });
    const lead2 = await conversation('lead-2');
    await call(h.desk, h.desk.acceptOffer, {
      tenant: T,
      requestId: '',
      agentId: lead2.offeredTo[0]!,
      conversationId: 'lead-2',
    });
    // Both an agent and a tier: refused naming toTier on both transports, nobody added.
    const both = await callError(h.gateway, h.gateway.escalate, {
      tenant: T,
      requestId: '',
      conversationId: 'lead-2',
      toAgentId: 'sue',
      toTier: 3,
    });
    expect(both.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(both.metadata.get('sb-field')).toEqual(['toTier']);
    const viaHttp = await http(h, 'POST', `/v1/tenants/${T}/conversations/lead-2:escalate`, {
      toAgentId: 'sue',
      toTier: 3,
    });
    expect(viaHttp.status, viaHttp.text).toBe(400);
    expect(viaHttp.body).toMatchObject({ error: { code: 'SB_ERR_INVALID_ARGUMENT', field: 'toTier' } });
    expect((await conversation('lead-2')).participants).not.toContain('sue');
    await call(h.gateway, h.gateway.escalate, {
      tenant: T,
      requestId: '',
      conversationId: 'lead-2',
      toTier: 3,
    });
    expect((await conversation('lead-2')).participants).toContain('sue');
    const err = await callError(h.gateway, h.gateway.transfer, {
      tenant: T,
      requestId: '',
      conversationId: 'lead-2',
    });
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it('a manual queue waits for the supervisor, who assigns by hand', async () => {
    const r = await call(h.gateway, h.gateway.enqueue, {
      tenant: T,
      requestId: '',
      conversation: chat('vip-1', 'vip'),
    });
    expect(r.status).toBe(EnqueueStatus.ENQUEUE_STATUS_QUEUED);
    await call(h.gateway, h.gateway.assign, {
      tenant: T,
      requestId: '',
      conversationId: 'vip-1',
      agentId: 'sue',
    });
    expect((await conversation('vip-1')).agentId).toBe('sue');
  });

  it('ending with an outcome puts the agent in wrap-up; finishing it frees her for the next chat', async () => {
    const handledBefore = Number(
      (await call(h.stats, h.stats.getAgentStats, { tenant: T, requestId: '', agentId: 'sue' })).stats!
        .handled,
    );
    await call(h.desk, h.desk.endConversation, {
      tenant: T,
      requestId: '',
      conversationId: 'vip-1',
      outcome: Outcome.OUTCOME_RESOLVED,
    });
    // Ended with its outcome; Sue (60 s wrap-up) is wrapping up after it, and it counts as handled
    // (talk + wrap-up, the standard handle time) once that is over.
    const ended = await conversation('vip-1');
    expect(ended.status).toBe(ConversationStatus.CONVERSATION_STATUS_WRAP_UP);
    expect(ended.outcome).toBe(Outcome.OUTCOME_RESOLVED);
    const handled = async () =>
      Number(
        (await call(h.stats, h.stats.getAgentStats, { tenant: T, requestId: '', agentId: 'sue' })).stats!
          .handled,
      );
    expect(await handled()).toBe(handledBefore);
    // Sue (60 s wrap-up, a free chat seat) is billing's only agent: during wrap-up a billing chat waits.
    const waiting = await call(h.gateway, h.gateway.enqueue, {
      tenant: T,
      requestId: '',
      conversation: chat('bill-1', 'billing'),
    });
    expect(waiting.status).toBe(EnqueueStatus.ENQUEUE_STATUS_QUEUED);
    await call(h.desk, h.desk.finishWrapUp, { tenant: T, requestId: '', agentId: 'sue' });
    expect((await conversation('vip-1')).status).toBe(ConversationStatus.CONVERSATION_STATUS_CLOSED);
    expect(await handled()).toBe(handledBefore + 1);
    const assigned = await conversation('bill-1');
    expect(assigned.status).toBe(ConversationStatus.CONVERSATION_STATUS_ASSIGNED);
    expect(assigned.agentId).toBe('sue');
    // Wrap-up is over, so finishing it again is refused.
    const again = await callError(h.desk, h.desk.finishWrapUp, { tenant: T, requestId: '', agentId: 'sue' });
    expect(again.code).toBe(grpc.status.FAILED_PRECONDITION);
  });

  it('removing a queue that still has work is FAILED_PRECONDITION; an unknown one is NOT_FOUND', async () => {
    await call(h.gateway, h.gateway.enqueue, {
      tenant: T,
      requestId: '',
      conversation: chat('vip-2', 'vip'),
    });
    const busy = await callError(h.admin, h.admin.removeQueue, { tenant: T, requestId: '', queueId: 'vip' });
    expect(busy.code).toBe(grpc.status.FAILED_PRECONDITION);
    const none = await callError(h.admin, h.admin.removeQueue, {
      tenant: T,
      requestId: '',
      queueId: 'ghost',
    });
    expect(none.code).toBe(grpc.status.NOT_FOUND);
  });
});

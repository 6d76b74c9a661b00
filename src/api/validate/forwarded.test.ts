/**
 * Forwarded calls are checked like API calls (security review: a plain NATS client forged a queue id
 * "has space/and slash" with a 100 000-character name, and a tick for the tenant `../../weird tenant`).
 * Everything the service layer builds must still pass.
 */
import { describe, expect, it } from 'vitest';
import { chat, chatAgent, chatQueue } from '../../../test/api/support/fixtures.js';
import { DEFAULT_ROUTING } from '../../engine/partition.js';
import type { Command, CommandEnvelope } from '../../engine/types.js';
import { isSwitchboardError } from '../../errors/catalogue.js';
import { Strategy, ValueTier } from '../../gen/switchboard/v1/common.js';
import { routingConfigToProto } from '../to-proto.js';
import { toAgentConfig } from './agent.js';
import { toConversationRequest } from './conversation.js';
import { toCustomerConfig } from './customer.js';
import { checkForwardedQuery, checkForwardedSubmit } from './forwarded.js';
import { toQueueConfig } from './queue.js';
import { toRoutingConfig } from './routing.js';

const env = (cmd: Command, id = 'r:gw-1'): CommandEnvelope => ({ id, at: 1_700_000_000_000, cmd });

/** The field a refusal names, or 'accepted'. */
function refusal(tenant: unknown, e: unknown): string {
  try {
    checkForwardedSubmit(tenant, e);
    return 'accepted';
  } catch (x) {
    if (!isSwitchboardError(x)) throw x;
    // A command type this build does not know may be a newer node's (a rolling upgrade): UNIMPLEMENTED.
    expect(x.code).toBe(x.field === 'cmd.type' ? 'SB_ERR_NOT_IMPLEMENTED' : 'SB_ERR_INVALID_ARGUMENT');
    return x.field ?? '(no field)';
  }
}

const queue = toQueueConfig(
  chatQueue('billing', {
    strategy: Strategy.STRATEGY_ROUND_ROBIN,
    businessHours: {
      timeZone: 'Europe/Paris',
      windows: [{ day: 1, open: '09:00', close: '18:00' }],
      holidays: ['2026-12-25'],
    },
    maxSize: 50,
    offerTimeoutSeconds: 20,
    overflow: [
      { afterSeconds: 30, action: { relaxSkills: { by: 1 } } },
      { afterSeconds: 60, action: { widenToQueue: { queueId: 'general' } } },
      { afterSeconds: 120, action: { escalateTier: { tier: 2 } } },
    ],
  }),
);

describe('forwarded calls', () => {
  it('every command the service layer builds passes', () => {
    const made: Command[] = [
      { type: 'upsert_queue', queue },
      { type: 'upsert_agent', agent: toAgentConfig(chatAgent('ann', { queues: ['billing'] })) },
      {
        type: 'upsert_customer',
        customer: toCustomerConfig({
          id: 'vip-1',
          valueTier: ValueTier.VALUE_TIER_HIGH_VALUE,
          dedicatedAgentId: 'ann',
        } as never),
      },
      {
        type: 'set_routing_config',
        config: toRoutingConfig(routingConfigToProto({ ...DEFAULT_ROUTING, maxMissedOffers: 3 })),
      },
      {
        type: 'enqueue',
        conversation: toConversationRequest(
          chat('c-1', 'billing', { topic: 'refund', requiredSkills: [{ skill: 'lang:fr', minLevel: 2 }] }),
        ),
      },
      { type: 'enqueue', conversation: toConversationRequest(chat('c-2', '')) },
      { type: 'remove_agent', agentId: 'ann' },
      { type: 'remove_queue', queueId: 'billing' },
      { type: 'remove_customer', customerId: 'vip-1' },
      { type: 'set_presence', agentId: 'ann', presence: 'online' },
      { type: 'accept_offer', agentId: 'ann', conversationId: 'c-1' },
      { type: 'reject_offer', agentId: 'ann', conversationId: 'c-1' },
      { type: 'assign', agentId: 'ann', conversationId: 'c-1' },
      { type: 'cancel', conversationId: 'c-1' },
      { type: 'end_conversation', conversationId: 'c-1', outcome: 'resolved' },
      { type: 'finish_wrap_up', agentId: 'ann' },
      { type: 'transfer', conversationId: 'c-1', toQueueId: 'general' },
      { type: 'transfer', conversationId: 'c-1', toAgentId: 'bob' },
      { type: 'escalate', conversationId: 'c-1', toTier: 2 },
      { type: 'escalate', conversationId: 'c-1', toAgentId: 'bob' },
      { type: 'tick' },
    ];
    for (const cmd of made) expect(refusal('acme.eu', env(cmd)), cmd.type).toBe('accepted');
    for (const id of ['enqueue:c-1', 'upsert_agent:Ab3_x-Yz:12', 'cancel:c:c-1', 'r:0190f8a2-uuid'])
      expect(refusal('acme', env({ type: 'tick' }, id)), id).toBe('accepted');
  });

  it('refuses what the API would have refused, naming the field', () => {
    // The reviewer's forged queue: an id with a space and a slash, a 100 000-character name.
    expect(
      refusal('acme', env({ type: 'upsert_queue', queue: { ...queue, id: 'has space/and slash' } })),
    ).toBe('queue.id');
    expect(
      refusal('acme', env({ type: 'upsert_queue', queue: { ...queue, name: 'x'.repeat(100_000) } })),
    ).toBe('queue.name');
    expect(refusal('../../weird tenant', env({ type: 'tick' }))).toBe('tenant');
    expect(refusal('', env({ type: 'tick' }))).toBe('tenant');
    expect(refusal('acme', env({ type: 'remove_agent', agentId: 'a/b' }))).toBe('agentId');
    expect(refusal('acme', env({ type: 'tick' }, 'has space'))).toBe('env.id');
    expect(refusal('acme', { id: 'r:1', at: 1, cmd: { type: 'drop_everything' } })).toBe('cmd.type');
    expect(refusal('acme', { id: 'r:1', at: 1, cmd: { type: 'upsert_agent', agent: 42 } })).toBe('cmd');
    expect(refusal('acme', null)).toBe('env');
    const conversation = toConversationRequest(chat('c-1'));
    expect(refusal('acme', env({ type: 'enqueue', conversation: { ...conversation, id: 'c 1' } }))).toBe(
      'conversation.id',
    );
    expect(
      refusal('acme', env({ type: 'enqueue', conversation: { ...conversation, topic: 't'.repeat(65) } })),
    ).toBe('conversation.topic');
    expect(() => checkForwardedQuery('../x', { type: 'list_queues' })).toThrow(/tenant/);
    expect(() => checkForwardedQuery('acme', 'list_queues')).toThrow(/q: must be a query/);
    expect(() => checkForwardedQuery('acme', { type: 'list_queues' })).not.toThrow();
    expect(() =>
      checkForwardedQuery('acme', { type: 'list_agents', after: 'a-1', limit: 500 }),
    ).not.toThrow();
    expect(() => checkForwardedQuery('acme', { type: 'list_agents', limit: 1e9 })).toThrow(/q\.limit/);
    expect(() => checkForwardedQuery('acme', { type: 'list_agents', limit: 0 })).toThrow(/q\.limit/);
    expect(() => checkForwardedQuery('acme', { type: 'list_agents', after: { x: 1 } })).toThrow(/q\.after/);
    // ListWaiting pages after a place in line, not an id: a node forwards one to the queue's owner.
    const place = { priority: 5, at: 1_767_600_000_000, seq: 42 };
    expect(() =>
      checkForwardedQuery('acme', { type: 'list_waiting', queueId: 'q', limit: 100, after: place }),
    ).not.toThrow();
    expect(() => checkForwardedQuery('acme', { type: 'list_waiting', after: 'a-1' })).toThrow(/q\.after/);
    expect(() =>
      checkForwardedQuery('acme', { type: 'list_waiting', after: { ...place, priority: 11 } }),
    ).toThrow(/q\.after\.priority/);
    expect(() => checkForwardedQuery('acme', { type: 'list_waiting', after: { ...place, x: 1 } })).toThrow(
      /q\.after/,
    );
  });
});

import { describe, expect, it } from 'vitest';
import { fieldOf } from '../../../test/support/validation.js';
import {
  Channel,
  type Customer,
  type RoutingConfig,
  type ValueTier,
} from '../../gen/switchboard/v1/common.js';
import type { ConversationRequest } from '../../gen/switchboard/v1/gateway.js';
import { checkRequestId, checkTenant } from './common.js';
import { toConversationRequest, toEscalateTarget, toTransferTarget } from './conversation.js';
import { toCustomerConfig } from './customer.js';
import { toEventFilter } from './events.js';
import { toRoutingConfig } from './routing.js';

const conv: ConversationRequest = {
  id: 'conv-1',
  channel: Channel.CHANNEL_VOICE,
  customer: { id: 'cust-9', valueTier: 2 },
  requiredSkills: [{ skill: 'lang:fr', minLevel: 3 }],
  queueId: 'billing',
  topic: 'refund',
  priority: 7,
};

describe('conversation validation', () => {
  it('a voice call from a high-value customer maps to the engine request', () => {
    expect(toConversationRequest(conv)).toEqual({
      id: 'conv-1',
      channel: 'voice',
      customer: { id: 'cust-9', valueTier: 'high_value' },
      requiredSkills: [{ skill: 'lang:fr', minLevel: 3 }],
      queueId: 'billing',
      topic: 'refund',
      priority: 7,
    });
  });

  it('without a queue or tier the request leaves them to routing rules and the stored profile', () => {
    const r = toConversationRequest({
      ...conv,
      queueId: undefined,
      topic: undefined,
      customer: { id: 'c', valueTier: 0 },
    });
    expect(r.queueId).toBeUndefined();
    expect(r.customer.valueTier).toBeUndefined();
  });

  const cases: [string, Partial<ConversationRequest> | undefined, string][] = [
    ['missing conversation', undefined, 'conversation'],
    ['empty id', { id: '' }, 'conversation.id'],
    ['no channel', { channel: Channel.CHANNEL_UNSPECIFIED }, 'conversation.channel'],
    ['no customer', { customer: undefined }, 'conversation.customer'],
    ['customer without id', { customer: { id: '', valueTier: 0 } }, 'conversation.customer.id'],
    [
      'unknown value tier',
      { customer: { id: 'c', valueTier: 9 as ValueTier } },
      'conversation.customer.valueTier',
    ],
    ['priority 11', { priority: 11 }, 'conversation.priority'],
    ['negative priority', { priority: -1 }, 'conversation.priority'],
    ['bad queue id', { queueId: 'a b' }, 'conversation.queueId'],
    [
      'skill minimum 0',
      { requiredSkills: [{ skill: 'x', minLevel: 0 }] },
      'conversation.requiredSkills[0].minLevel',
    ],
  ];
  it.each(cases)('%s is rejected naming the field', (_n, patch, field) => {
    const input = patch === undefined ? undefined : { ...conv, ...patch };
    expect(fieldOf(() => toConversationRequest(input))).toBe(field);
  });
});

describe('customer, routing settings, tenant, request id and event filters', () => {
  const customer: Customer = { id: 'c1', valueTier: 0, previousAgents: ['ana'], dedicatedAgentId: undefined };
  it('an unspecified value tier on a profile is standard', () => {
    expect(toCustomerConfig(customer)).toEqual({ id: 'c1', valueTier: 'standard', previousAgents: ['ana'] });
    expect(fieldOf(() => toCustomerConfig({ ...customer, dedicatedAgentId: 'x y' }))).toBe(
      'customer.dedicatedAgentId',
    );
    expect(fieldOf(() => toCustomerConfig({ ...customer, previousAgents: ['a', 'a'] }))).toBe(
      'customer.previousAgents[1]',
    );
  });

  const routing: RoutingConfig = {
    maxMissedOffers: 3,
    agingPerMinute: 0.5,
    slaDrivenPriority: true,
    queueRules: [{ channel: Channel.CHANNEL_EMAIL, topic: undefined, skills: [], queueId: 'email' }],
    slaAtRiskMargin: 0.05,
  };
  it('routing rules keep only the conditions given', () => {
    expect(toRoutingConfig(routing).queueRules).toEqual([{ channel: 'email', queueId: 'email' }]);
    expect(fieldOf(() => toRoutingConfig({ ...routing, maxMissedOffers: -1 }))).toBe(
      'config.maxMissedOffers',
    );
    expect(fieldOf(() => toRoutingConfig({ ...routing, agingPerMinute: Number.POSITIVE_INFINITY }))).toBe(
      'config.agingPerMinute',
    );
    expect(fieldOf(() => toRoutingConfig({ ...routing, slaAtRiskMargin: 2 }))).toBe('config.slaAtRiskMargin');
    expect(
      fieldOf(() =>
        toRoutingConfig({ ...routing, queueRules: [{ ...routing.queueRules[0]!, queueId: '' }] }),
      ),
    ).toBe('config.queueRules[0].queueId');
  });

  it('tenant and request id syntax', () => {
    expect(checkTenant('acme')).toBe('acme');
    expect(fieldOf(() => checkTenant(''))).toBe('tenant');
    expect(fieldOf(() => checkTenant('a'.repeat(65)))).toBe('tenant');
    expect(checkRequestId('')).toBe('');
    expect(fieldOf(() => checkRequestId('has space'))).toBe('requestId');
  });

  it('event filters accept engine and camelCase type names and reject unknown ones', () => {
    const f = toEventFilter('acme', {
      tenant: 'acme',
      requestId: '',
      queueId: 'q',
      types: ['assigned', 'overCapacity'],
    });
    expect(f).toEqual({ tenant: 'acme', queueId: 'q', types: ['assigned', 'over_capacity'] });
    expect(fieldOf(() => toEventFilter('acme', { tenant: 'acme', requestId: '', types: ['exploded'] }))).toBe(
      'types[0]',
    );
  });
});

describe('transfer and escalate targets', () => {
  it('an escalation names an agent or a tier, exactly one', () => {
    expect(toEscalateTarget({ toAgentId: 'sue' })).toEqual({ toAgentId: 'sue' });
    expect(toEscalateTarget({ toTier: 3 })).toEqual({ toTier: 3 });
    expect(fieldOf(() => toEscalateTarget({}))).toBe('toAgentId');
    expect(fieldOf(() => toEscalateTarget({ toAgentId: 'sue', toTier: 3 }))).toBe('toTier');
    expect(fieldOf(() => toEscalateTarget({ toTier: 11 }))).toBe('toTier');
  });

  it('a transfer names a queue, an agent, or both', () => {
    expect(toTransferTarget({ toQueueId: 'q', toAgentId: 'a' })).toEqual({ toQueueId: 'q', toAgentId: 'a' });
    expect(fieldOf(() => toTransferTarget({ toQueueId: '' }))).toBe('toQueueId');
  });
});

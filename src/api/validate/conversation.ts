/** Gateway fields: the conversation to route, transfer/escalate targets. Enqueue is the hot path. */
import type { ConversationRequest } from '../../engine/types.js';
import type { ConversationRequest as PbConversationRequest } from '../../gen/switchboard/v1/gateway.js';
import { checkChannel, checkId, checkInt, checkSkillRequirements, checkText, invalid } from './common.js';
import { checkOptionalValueTier } from './customer.js';

export function toConversationRequest(
  c: PbConversationRequest | undefined,
  field = 'conversation',
): ConversationRequest {
  if (c === undefined || c === null) invalid(field, 'is required');
  const customer = c.customer;
  if (customer === undefined || customer === null) invalid(`${field}.customer`, 'is required');
  const out: ConversationRequest = {
    id: checkId(c.id, `${field}.id`),
    channel: checkChannel(c.channel, `${field}.channel`),
    customer: { id: checkId(customer.id, `${field}.customer.id`) },
    requiredSkills: checkSkillRequirements(c.requiredSkills, `${field}.requiredSkills`),
    priority: checkInt(c.priority, `${field}.priority`, 0, 10),
  };
  const tier = checkOptionalValueTier(customer.valueTier, `${field}.customer.valueTier`);
  if (tier !== undefined) out.customer.valueTier = tier;
  if (c.queueId !== undefined && c.queueId !== '') out.queueId = checkId(c.queueId, `${field}.queueId`);
  if (c.topic !== undefined && c.topic !== '') out.topic = checkText(c.topic, `${field}.topic`, 64);
  return out;
}

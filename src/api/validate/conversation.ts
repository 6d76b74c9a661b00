/** Gateway fields: the conversation to route, transfer/escalate targets. Enqueue is the hot path. */
import type { ConversationRequest } from '../../engine/types.js';
import type { ConversationRequest as PbConversationRequest } from '../../gen/switchboard/v1/gateway.js';
import {
  checkChannel,
  checkId,
  checkInt,
  checkOptionalId,
  checkSkillRequirements,
  checkText,
  invalid,
} from './common.js';
import { checkOptionalValueTier } from './customer.js';

/** Field paths of a conversation request, built once per base field (only `conversation` in the API). */
function pathsOf(field: string) {
  return {
    self: field,
    id: `${field}.id`,
    channel: `${field}.channel`,
    customer: `${field}.customer`,
    customerId: `${field}.customer.id`,
    valueTier: `${field}.customer.valueTier`,
    requiredSkills: `${field}.requiredSkills`,
    priority: `${field}.priority`,
    queueId: `${field}.queueId`,
    topic: `${field}.topic`,
  };
}
const CONVERSATION = pathsOf('conversation');

export function toConversationRequest(
  c: PbConversationRequest | undefined,
  field = 'conversation',
): ConversationRequest {
  // Enqueue's hot path: the paths are only read for an error, so the usual ones are not rebuilt per call.
  const f = field === 'conversation' ? CONVERSATION : pathsOf(field);
  if (c === undefined || c === null) invalid(f.self, 'is required');
  const customer = c.customer;
  if (customer === undefined || customer === null) invalid(f.customer, 'is required');
  const out: ConversationRequest = {
    id: checkId(c.id, f.id),
    channel: checkChannel(c.channel, f.channel),
    customer: { id: checkId(customer.id, f.customerId) },
    requiredSkills: checkSkillRequirements(c.requiredSkills, f.requiredSkills),
    priority: checkInt(c.priority, f.priority, 0, 10),
  };
  const tier = checkOptionalValueTier(customer.valueTier, f.valueTier);
  if (tier !== undefined) out.customer.valueTier = tier;
  if (c.queueId !== undefined && c.queueId !== '') out.queueId = checkId(c.queueId, f.queueId);
  if (c.topic !== undefined && c.topic !== '') out.topic = checkText(c.topic, f.topic, 64);
  return out;
}

/** Transfer's destination: a queue, an agent, or both (that agent, counted in that queue). */
export function toTransferTarget(req: { toQueueId?: string | undefined; toAgentId?: string | undefined }): {
  toQueueId?: string;
  toAgentId?: string;
} {
  const toQueueId = checkOptionalId(req.toQueueId, 'toQueueId');
  const toAgentId = checkOptionalId(req.toAgentId, 'toAgentId');
  if (toQueueId === undefined && toAgentId === undefined) invalid('toQueueId', 'give toQueueId or toAgentId');
  return {
    ...(toQueueId !== undefined ? { toQueueId } : {}),
    ...(toAgentId !== undefined ? { toAgentId } : {}),
  };
}

/**
 * Escalate's target: a named agent or a tier, exactly one. Both given used to route to the agent and drop
 * the tier without a word; which one the caller meant is not ours to guess.
 */
export function toEscalateTarget(req: { toAgentId?: string | undefined; toTier?: number | undefined }): {
  toAgentId?: string;
  toTier?: number;
} {
  const toAgentId = checkOptionalId(req.toAgentId, 'toAgentId');
  const toTier = req.toTier === undefined ? undefined : checkInt(req.toTier, 'toTier', 1, 10);
  if (toAgentId === undefined && toTier === undefined) invalid('toAgentId', 'give toAgentId or toTier');
  if (toAgentId !== undefined && toTier !== undefined)
    invalid('toTier', 'give toAgentId or toTier, not both');
  return toAgentId !== undefined ? { toAgentId } : { toTier: toTier as number };
}

/**
 * Forwarded calls (cluster mode: `sb.rpc.<node>`) are checked as the API checks its own callers before
 * the owner applies them: any client of the cluster's NATS can publish there, and the engine's own shape
 * check is looser than the API's (it took a queue id "has space/and slash" with a 100 000-character name,
 * and a tick for the tenant `../../weird tenant`, which created a partition).
 *
 * The sender built each command through the service layer, so a call from a node passes unchanged; the
 * check costs the Enqueue path a few pattern tests. Configuration commands (rare) are checked by taking
 * them back to their API message and through the API's own validation.
 */

import type { Query } from '../../engine/api.js';
import type { AgentConfig, CustomerConfig, QueueConfig, RoutingConfig } from '../../engine/types.js';
import { isSwitchboardError, SwitchboardError } from '../../errors/catalogue.js';
import { agentToProto, customerToProto, queueToProto, routingConfigToProto } from '../to-proto.js';
import { toAgentConfig } from './agent.js';
import {
  checkId,
  checkInt,
  checkOptionalId,
  checkSkillRequirements,
  checkTenant,
  checkText,
  invalid,
} from './common.js';
import { toCustomerConfig } from './customer.js';
import { MAX_PAGE_SIZE } from './page.js';
import { toQueueConfig } from './queue.js';
import { toRoutingConfig } from './routing.js';

/**
 * A forwarded call asks for something this build does not have (a command type, a query, a kind of
 * call): in a rolling upgrade, a newer node's call reaching an owner still on the older build. Not the
 * client's mistake, so not INVALID_ARGUMENT: UNIMPLEMENTED, saying why and what to do.
 */
export function unknownToThisBuild(field: string, value: unknown): never {
  throw new SwitchboardError(
    'SB_ERR_NOT_IMPLEMENTED',
    `${field}: ${JSON.stringify(String(value)).slice(0, 80)} is not known to the build of the tenant's owner (an older node during a rolling upgrade?): retry once every node runs the new build`,
    field,
  );
}

/** Every query this build answers (a `Record` so that adding a query type without listing it fails to compile). */
const QUERY_TYPES: Readonly<Record<Query['type'], true>> = {
  conversation: true,
  agent_conversations: true,
  list_waiting: true,
  queue_stats: true,
  all_queue_stats: true,
  agent_stats: true,
  all_agent_stats: true,
  agent: true,
  queue: true,
  customer: true,
  list_agents: true,
  list_queues: true,
  ids: true,
  routing_config: true,
  lint: true,
  digest: true,
  open_conversations: true,
};

/** Envelope ids the service makes (`enqueue:<id>`, `r:<request id>`, `<type>:c:<id>`, `<type>:<boot>:<n>`). */
const ENVELOPE_ID_RE = /^[\x21-\x7e]{1,300}$/;

type Fields = Record<string, unknown>;

/** Throws `SB_ERR_INVALID_ARGUMENT` naming the field unless `tenant` and `env` could have come from the API. */
export function checkForwardedSubmit(tenant: unknown, env: unknown): void {
  checkTenant(tenant);
  if (typeof env !== 'object' || env === null) invalid('env', 'must be an object');
  const e = env as Fields;
  if (typeof e.id !== 'string' || !ENVELOPE_ID_RE.test(e.id)) {
    invalid('env.id', 'must be 1 to 300 printable ASCII characters');
  }
  const cmd = e.cmd;
  if (typeof cmd !== 'object' || cmd === null) invalid('cmd', 'must be an object');
  try {
    checkCommand(cmd as Fields);
  } catch (x) {
    if (isSwitchboardError(x)) throw x;
    // A converter met a value of the wrong type: not a command the API made.
    invalid('cmd', 'malformed command');
  }
}

/**
 * Throws `SB_ERR_INVALID_ARGUMENT` unless the tenant is a valid tenant id and `q` names a query; a page
 * (`after`, `limit`) must be one the API could ask for, so a forged call cannot ask the owner's worker for
 * a page larger than the API allows.
 */
export function checkForwardedQuery(tenant: unknown, q: unknown): void {
  checkTenant(tenant);
  if (typeof q !== 'object' || q === null || typeof (q as Fields).type !== 'string') {
    invalid('q', 'must be a query');
  }
  // Before: an unknown type reached the engine, which answered nothing (`{ ok: true }` without a
  // result), and the asking node failed the call as an internal error.
  if (!Object.hasOwn(QUERY_TYPES, (q as Fields).type as string))
    unknownToThisBuild('q.type', (q as Fields).type);
  const { type, after, limit } = q as Fields;
  if (after !== undefined) {
    // ListWaiting pages after a place in line (`LinePlace`), the other lists after an id.
    if (type === 'list_waiting') checkLinePlace(after);
    else checkId(after, 'q.after');
  }
  if (limit !== undefined) checkInt(limit, 'q.limit', 1, MAX_PAGE_SIZE);
}

/** A place in a waiting line as `readWaitingPageToken` makes it: priority 0–10, whole times and numbers. */
function checkLinePlace(p: unknown): void {
  if (typeof p !== 'object' || p === null) invalid('q.after', 'must be a place in line');
  const { priority, at, seq, ...rest } = p as Fields;
  if (Object.keys(rest).length > 0) invalid('q.after', 'must be a place in line');
  checkInt(priority, 'q.after.priority', 0, 10);
  checkInt(at, 'q.after.at', 0, Number.MAX_SAFE_INTEGER);
  checkInt(seq, 'q.after.seq', 0, Number.MAX_SAFE_INTEGER);
}

/** A forwarded DeleteTenant: the tenant id as the API checks it, and `force` a boolean when given. */
export function checkForwardedDelete(tenant: unknown, force: unknown): void {
  checkTenant(tenant);
  if (force !== undefined && typeof force !== 'boolean') invalid('force', 'must be a boolean');
}

function checkCommand(c: Fields): void {
  switch (c.type) {
    case 'enqueue':
      checkConversation(c.conversation);
      return;
    case 'upsert_agent':
      toAgentConfig(agentToProto(c.agent as AgentConfig));
      return;
    case 'upsert_queue':
      toQueueConfig(queueToProto(c.queue as QueueConfig));
      return;
    case 'upsert_customer':
      toCustomerConfig(customerToProto(c.customer as CustomerConfig));
      return;
    case 'set_routing_config':
      toRoutingConfig(routingConfigToProto(c.config as RoutingConfig));
      return;
    case 'remove_agent':
    case 'set_presence':
    case 'finish_wrap_up':
      checkId(c.agentId, 'agentId');
      return;
    case 'remove_queue':
      checkId(c.queueId, 'queueId');
      return;
    case 'remove_customer':
      checkId(c.customerId, 'customerId');
      return;
    case 'accept_offer':
    case 'reject_offer':
    case 'assign':
      checkId(c.agentId, 'agentId');
      checkId(c.conversationId, 'conversationId');
      return;
    case 'cancel':
    case 'end_conversation':
      checkId(c.conversationId, 'conversationId');
      return;
    case 'transfer':
      checkId(c.conversationId, 'conversationId');
      checkOptionalId(c.toQueueId as string | undefined, 'toQueueId');
      checkOptionalId(c.toAgentId as string | undefined, 'toAgentId');
      return;
    case 'escalate':
      checkId(c.conversationId, 'conversationId');
      checkOptionalId(c.toAgentId as string | undefined, 'toAgentId');
      return;
    case 'tick':
      // Harmless: the owner stamps it with its own clock, so it only runs timers due by then.
      return;
    default:
      if (typeof c.type !== 'string') invalid('cmd.type', 'is not a command the API sends');
      unknownToThisBuild('cmd.type', c.type);
  }
}

/** What `toConversationRequest` checks, on the engine's form (channel and enums: the engine's own check). */
function checkConversation(v: unknown): void {
  if (typeof v !== 'object' || v === null) invalid('conversation', 'is required');
  const c = v as Fields;
  checkId(c.id, 'conversation.id');
  const customer = c.customer as Fields | null | undefined;
  if (typeof customer !== 'object' || customer === null) invalid('conversation.customer', 'is required');
  checkId(customer.id, 'conversation.customer.id');
  checkSkillRequirements(c.requiredSkills as never, 'conversation.requiredSkills');
  checkInt(c.priority, 'conversation.priority', 0, 10);
  if (c.queueId !== undefined) checkId(c.queueId, 'conversation.queueId');
  if (c.topic !== undefined) checkText(c.topic, 'conversation.topic', 64);
}

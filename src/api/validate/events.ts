/** WatchEvents filters. */
import type { EventType } from '../../engine/types.js';
import type { WatchEventsRequest } from '../../gen/switchboard/v1/events.js';
import type { EventPosition } from '../../host/event-history.js';
import type { EventFilter } from '../../host/router.js';
import { checkList, checkOptionalId, invalid } from './common.js';

/** Every engine event type; the `Event.kind` oneof field names, in engine spelling. */
export const EVENT_TYPES: readonly EventType[] = [
  'offered',
  'offer_rescinded',
  'offer_missed',
  'assigned',
  'queued',
  'over_capacity',
  'outside_hours',
  'overflowed',
  'abandoned',
  'transferred',
  'escalated',
  'conversation_ended',
  'wrap_up_started',
  'wrap_up_ended',
  'presence_changed',
  'alert',
];

/** Builds the router's filter; `tenant` is already checked and authorised. */
export function toEventFilter(tenant: string, r: WatchEventsRequest): EventFilter {
  const f: EventFilter = { tenant };
  const queueId = checkOptionalId(r.queueId, 'queueId');
  if (queueId !== undefined) f.queueId = queueId;
  const agentId = checkOptionalId(r.agentId, 'agentId');
  if (agentId !== undefined) f.agentId = agentId;
  const conversationId = checkOptionalId(r.conversationId, 'conversationId');
  if (conversationId !== undefined) f.conversationId = conversationId;
  const types = checkList(r.types, 'types', EVENT_TYPES.length);
  if (types.length > 0) {
    f.types = types.map((raw, i) => {
      // Accept the camelCase JSON spelling of the oneof field as well as the engine's snake_case.
      const t = String(raw).replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
      if (!(EVENT_TYPES as readonly string[]).includes(t)) {
        invalid(`types[${i}]`, `unknown event type; use one of ${EVENT_TYPES.join(', ')}`);
      }
      return t;
    });
  }
  return f;
}

/**
 * The resume position of a WatchEvents request, or undefined (live only). `resumeAfterIndex` unset = after
 * the whole batch `resumeAfterSeq`.
 */
export function toResumePosition(r: WatchEventsRequest): EventPosition | undefined {
  const seq = r.resumeAfterSeq;
  const index = r.resumeAfterIndex;
  const inc = r.resumeAfterIncarnation;
  if (seq === undefined) {
    if (index !== undefined)
      invalid('resumeAfterIndex', 'needs resumeAfterSeq (the batch it is an index in)');
    if (inc !== undefined)
      invalid('resumeAfterIncarnation', 'needs resumeAfterSeq (the position it is the incarnation of)');
    return undefined;
  }
  if (inc !== undefined && (inc < 0n || inc > BigInt(Number.MAX_SAFE_INTEGER)))
    invalid('resumeAfterIncarnation', "must be the tenant's incarnation as the events carry it, 0 or more");
  if (seq < 0n || seq > BigInt(Number.MAX_SAFE_INTEGER))
    invalid('resumeAfterSeq', 'must be a log position from 0 (the start) to 2^53 - 1');
  if (index !== undefined && (!Number.isInteger(index) || index < 0))
    invalid('resumeAfterIndex', 'must be an index within the batch, 0 or more');
  const at = { seq: Number(seq), index: index ?? Number.POSITIVE_INFINITY };
  return inc ? { ...at, incarnation: Number(inc) } : at;
}

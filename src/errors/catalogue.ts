/**
 * The one error catalogue. Every error Switchboard returns has a stable code, a gRPC status, an HTTP
 * status and a retryable flag; `catalogue.test.ts` is the contract test that keeps this table honest.
 *
 * Pure data (no imports) so the engine can use the codes. Errors cross worker threads by structured
 * clone, so they are recognised by `code`, never by `instanceof`.
 */

/** gRPC status codes (numeric values from the gRPC spec; duplicated here so the engine stays pure). */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export interface ErrorSpec {
  grpc: number;
  http: number;
  retryable: boolean;
  /**
   * How long a caller should wait before retrying, ms (about: the API adds ±50 % jitter so that callers
   * refused together do not come back together). Sent as gRPC's `grpc-retry-pushback-ms` trailer, which
   * a client's retry policy obeys, and as HTTP `Retry-After` (whole seconds, at least 1).
   */
  retryAfterMs?: number;
  /** What the caller should understand; the API adds the field path and a specific message. */
  summary: string;
}

export const ERRORS = {
  SB_ERR_INVALID_ARGUMENT: {
    grpc: GrpcCode.INVALID_ARGUMENT,
    http: 400,
    retryable: false,
    summary: 'a field is missing or invalid',
  },
  SB_ERR_UNAUTHENTICATED: {
    grpc: GrpcCode.UNAUTHENTICATED,
    http: 401,
    retryable: false,
    summary: 'no API token was given',
  },
  SB_ERR_PERMISSION_DENIED: {
    grpc: GrpcCode.PERMISSION_DENIED,
    http: 403,
    retryable: false,
    summary: 'the token does not grant access to this tenant',
  },
  SB_ERR_AGENT_NOT_FOUND: { grpc: GrpcCode.NOT_FOUND, http: 404, retryable: false, summary: 'no such agent' },
  SB_ERR_QUEUE_NOT_FOUND: { grpc: GrpcCode.NOT_FOUND, http: 404, retryable: false, summary: 'no such queue' },
  SB_ERR_CONVERSATION_NOT_FOUND: {
    grpc: GrpcCode.NOT_FOUND,
    http: 404,
    retryable: false,
    summary: 'no such conversation',
  },
  SB_ERR_CUSTOMER_NOT_FOUND: {
    grpc: GrpcCode.NOT_FOUND,
    http: 404,
    retryable: false,
    summary: 'no such customer',
  },
  SB_ERR_NO_QUEUE_MATCHES: {
    grpc: GrpcCode.FAILED_PRECONDITION,
    http: 422,
    retryable: false,
    summary: 'no queue given and no queue rule matches the conversation',
  },
  SB_ERR_CONVERSATION_EXISTS: {
    grpc: GrpcCode.ALREADY_EXISTS,
    http: 409,
    retryable: false,
    summary: 'a different conversation already uses this id',
  },
  SB_ERR_REQUEST_ID_REUSED: {
    grpc: GrpcCode.FAILED_PRECONDITION,
    http: 422,
    retryable: false,
    summary: 'this request id was already used for a different request: use a new id for a new request',
  },
  SB_ERR_INVALID_STATE: {
    grpc: GrpcCode.FAILED_PRECONDITION,
    http: 409,
    retryable: false,
    summary: 'the conversation or agent is not in a state that allows this',
  },
  SB_ERR_NO_OFFER: {
    grpc: GrpcCode.FAILED_PRECONDITION,
    http: 409,
    retryable: false,
    summary: 'the agent holds no pending offer for this conversation',
  },
  SB_ERR_AGENT_AT_CAPACITY: {
    grpc: GrpcCode.FAILED_PRECONDITION,
    http: 409,
    retryable: true,
    summary: 'the agent has no free capacity on this channel',
  },
  SB_ERR_AGENT_NOT_ELIGIBLE: {
    grpc: GrpcCode.FAILED_PRECONDITION,
    http: 409,
    retryable: false,
    summary:
      'the agent is offline, lacks a required skill or queue, or takes no conversations on the channel',
  },
  SB_ERR_QUEUE_IN_USE: {
    grpc: GrpcCode.FAILED_PRECONDITION,
    http: 409,
    retryable: false,
    summary: 'the queue still has waiting conversations or is referenced by another queue',
  },
  SB_ERR_TENANT_HAS_OPEN_CONVERSATIONS: {
    grpc: GrpcCode.FAILED_PRECONDITION,
    http: 409,
    retryable: false,
    summary:
      'DeleteTenant: the tenant still has waiting, offered or assigned conversations (end them, or delete with force)',
  },
  SB_ERR_TENANT_LIMIT_REACHED: {
    grpc: GrpcCode.FAILED_PRECONDITION,
    http: 409,
    retryable: false,
    summary:
      'the tenant already has as many queues or agents as the node allows (--max-queues-per-tenant, --max-agents-per-tenant)',
  },
  SB_ERR_TOO_MANY_WATCHERS: {
    grpc: GrpcCode.RESOURCE_EXHAUSTED,
    http: 429,
    retryable: false,
    summary:
      'the tenant has as many event watchers open as the node allows (--max-watchers-per-tenant); close one',
  },
  SB_ERR_RESUME_POSITION_GONE: {
    grpc: GrpcCode.OUT_OF_RANGE,
    http: 410,
    retryable: false,
    summary:
      "WatchEvents cannot resume after this position (older than the events kept, past the tenant's latest, or of a deleted tenant): resync from the current state and watch again without a position",
  },
  SB_ERR_PAYLOAD_TOO_LARGE: {
    grpc: GrpcCode.RESOURCE_EXHAUSTED,
    http: 413,
    retryable: false,
    summary: 'the request is larger than the configured maximum',
  },
  SB_ERR_OVERLOADED: {
    grpc: GrpcCode.RESOURCE_EXHAUSTED,
    http: 429,
    retryable: true,
    // Queues drain in milliseconds; a late event loop catches up in a few hundred.
    retryAfterMs: 250,
    summary: 'the node is at its queue limit; retry with backoff',
  },
  SB_ERR_UNAVAILABLE: {
    grpc: GrpcCode.UNAVAILABLE,
    http: 503,
    retryable: true,
    // A takeover completes 0.8–2 s after a node dies (bench:failover): a few retries span it.
    retryAfterMs: 500,
    summary: 'the partition is moving or the node is not ready; retry',
  },
  SB_ERR_NOT_OWNER: {
    grpc: GrpcCode.UNAVAILABLE,
    http: 503,
    retryable: true,
    retryAfterMs: 500,
    summary: 'this node lost the partition lease; retry (the request is forwarded when possible)',
  },
  SB_ERR_DEADLINE_EXCEEDED: {
    grpc: GrpcCode.DEADLINE_EXCEEDED,
    http: 504,
    retryable: true,
    summary:
      'the deadline passed before the command was durable; it may still take effect: retry with the same request id',
  },
  SB_ERR_NOT_IMPLEMENTED: {
    grpc: GrpcCode.UNIMPLEMENTED,
    http: 404,
    retryable: false,
    summary: 'no such method or route',
  },
  SB_ERR_METHOD_NOT_ALLOWED: {
    grpc: GrpcCode.UNIMPLEMENTED,
    http: 405,
    retryable: false,
    summary: 'the route exists but not with this HTTP method (see the Allow header)',
  },
  SB_ERR_INTERNAL: {
    grpc: GrpcCode.INTERNAL,
    http: 500,
    retryable: true,
    summary: 'an internal error; nothing was changed',
  },
  // Not retryable, unlike SB_ERR_INTERNAL: the command itself crashed the engine (or its worker thread)
  // when it was tried, and a retry is refused again until the hold ends (src/host/quarantine.ts).
  SB_ERR_COMMAND_QUARANTINED: {
    grpc: GrpcCode.INTERNAL,
    http: 500,
    retryable: false,
    summary:
      'this command crashed the routing engine when it was tried (a bug) and is refused for a while; it changed nothing: do not retry it, report it',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export function errorSpec(code: string): ErrorSpec {
  return (ERRORS as Record<string, ErrorSpec>)[code] ?? ERRORS.SB_ERR_INTERNAL;
}

/**
 * The retry hint for an error, ms, with ±50 % jitter (`random` in [0, 1)); null when the caller should
 * not be told to wait (not retryable, or no hint in the catalogue).
 */
export function retryAfterMs(code: string, random: () => number = Math.random): number | null {
  const base = errorSpec(code).retryAfterMs;
  return base === undefined ? null : Math.round(base * (0.5 + random()));
}

/** An error that carries its catalogue code and the offending field. Crosses threads as plain data. */
export class SwitchboardError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  constructor(code: ErrorCode, message: string, field?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SwitchboardError';
    this.code = code;
    this.field = field;
  }
}

/** Recognise a Switchboard error by shape (works after structured clone, where `instanceof` fails). */
export function isSwitchboardError(e: unknown): e is { code: ErrorCode; message: string; field?: string } {
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as { code?: unknown }).code === 'string' &&
    (e as { code: string }).code in ERRORS
  );
}

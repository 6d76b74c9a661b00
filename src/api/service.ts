/**
 * The one service layer behind gRPC and HTTP. Each method takes a decoded request and a call context,
 * then: checks the tenant → authorises the token → validates every field → builds a `CommandEnvelope`
 * (or a `Query`) → asks the `PartitionRouter` → maps the answer. It throws only `SwitchboardError`s
 * (catalogue codes); the transports turn them into gRPC statuses or HTTP error bodies.
 *
 * Method names match the generated `*ServiceServer` interfaces (`enqueue`, `upsertAgent`, ...), so both
 * transports bind them by name from the generated service definitions.
 *
 * Idempotency — the envelope id is the engine's dedupe key (a repeated id gets the first answer):
 *
 * | call                          | envelope id                                       |
 * |-------------------------------|---------------------------------------------------|
 * | Enqueue                       | `enqueue:<conversationId>` (request id ignored)   |
 * | Cancel, EndConversation       | `r:<requestId>`, else `<type>:c:<convId>`         |
 * | any other command             | `r:<requestId>`, else `<type>:<boot>:<n>`         |
 *
 * A conversation is enqueued, cancelled and ended at most once, so those keys are natural; other commands
 * (presence, offers, upserts) legitimately repeat with the same arguments, so without a request id each
 * call is new. A request id names one request whatever its method, so its key leaves the type out: the
 * engine's fingerprint covers the command's type, so the same id sent to another method is refused like
 * one sent with other content (a gateway that reuses ids has a bug, and answering the second call with
 * the first one's reply would report a change it never made). The `r:` / `c:` segments keep request
 * ids and conversation ids apart (ids may contain `:`, so without them conversation `r:x` and request id
 * `x` shared a key; no command type is `r`, and `<boot>` is 8 characters). The engine refuses a
 * remembered id that carries a different command: a request id reused for another request
 * (`SB_ERR_REQUEST_ID_REUSED`, field `requestId`), a conversation enqueued again with other content
 * (`SB_ERR_CONVERSATION_EXISTS`), or one cancelled or ended again with other arguments
 * (`SB_ERR_INVALID_STATE`: it already was).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Clock } from '../cluster/ports.js';
import type { Query, QueryResult } from '../engine/api.js';
import type { ApplyResult, Command, CommandEnvelope } from '../engine/types.js';
import {
  ERRORS,
  type ErrorCode,
  errorSpec,
  isSwitchboardError,
  SwitchboardError,
} from '../errors/catalogue.js';
import type * as admin from '../gen/switchboard/v1/admin.js';
import type * as desk from '../gen/switchboard/v1/agent_desk.js';
import type { WatchEventsRequest } from '../gen/switchboard/v1/events.js';
import type * as gw from '../gen/switchboard/v1/gateway.js';
import type * as stats from '../gen/switchboard/v1/statistics.js';
import { type EventPosition, isAfter, positionGone } from '../host/event-history.js';
import type { EventFilter, PartitionRouter, PublishedEvent } from '../host/router.js';
import { type AuthConfig, TenantAuth } from './auth.js';
import * as out from './to-proto.js';
import { checkOutcome, checkPresence, toAgentConfig } from './validate/agent.js';
import {
  checkId,
  checkInt,
  checkOptionalId,
  checkRequestId,
  checkTenant,
  checkText,
  MAX_TENANT,
} from './validate/common.js';
import { toConversationRequest, toEscalateTarget, toTransferTarget } from './validate/conversation.js';
import { toCustomerConfig } from './validate/customer.js';
import { toEventFilter, toResumePosition } from './validate/events.js';
import {
  AGENT_PAGE,
  checkPage,
  nextPageToken,
  nextWaitingPageToken,
  QUEUE_PAGE,
  readWaitingPageToken,
} from './validate/page.js';
import { toQueueConfig } from './validate/queue.js';
import { toRoutingConfig } from './validate/routing.js';

/**
 * A WatchEvents client (gRPC stream or SSE) that stops reading is cut off once this many bytes wait in
 * the node's buffer for it: events for a reader that is not there would otherwise grow memory unbounded.
 */
export const WATCH_BUFFER_LIMIT = 8 * 1024 * 1024;

/**
 * Event watchers: at most `perTenant` open per tenant, and at most `bufferBudgetBytes` of unsent event
 * bytes for all of them on the node (each one also has its own `WATCH_BUFFER_LIMIT`). Before, 100 SSE
 * watchers that did not read, opened with one tenant's token, took the node from 132 to 579 MiB.
 */
export interface WatcherLimits {
  perTenant: number;
  bufferBudgetBytes: number;
}

/**
 * Live events a resumed watcher may have waiting while its backfill runs; one more cuts it off
 * (`SB_ERR_OVERLOADED`): it reconnects with the last position it got, its backfill then shorter.
 */
export const RESUME_QUEUE_LIMIT = 10_000;
export const RESUME_TOO_SLOW =
  'more live events arrived than the watcher could take while its backfill ran; reconnect with the last position received';

/** How a transport resumes a watcher (see `SwitchboardService.subscribe`). */
export interface WatchResume {
  after: EventPosition;
  /** Backpressure: a promise while the transport's buffer is too full for the next backfilled event. */
  wait: () => Promise<void> | undefined;
  /** The position is servable: the transport may say "subscribed" (headers, `: watching`). */
  checked: () => void;
  /** The position cannot be served (SB_ERR_RESUME_POSITION_GONE), or the watcher fell behind: it ended. */
  onGone: (e: SwitchboardError) => void;
}

/** Why a watcher was cut off (`SB_ERR_OVERLOADED`): its own buffer, or the node's for all of them. */
export const SLOW_WATCHER = 'the watcher reads too slowly; reconnect';
export const WATCH_BUDGET_FULL =
  "the node's buffer for event watchers is full (--watch-buffer-budget-mb): the slowest readers are cut off; reconnect";

export const DEFAULT_WATCHER_LIMITS: WatcherLimits = {
  perTenant: 1000,
  bufferBudgetBytes: 256 * 1024 * 1024,
};

/**
 * The node's unsent event bytes, shared by every watcher of both transports: a watcher takes an event's
 * bytes before writing it and gives them back when the write completes (or when it ends).
 */
export class WatchBudget {
  private used = 0;
  constructor(readonly limit: number) {}
  /** False (nothing taken) when `bytes` more would pass the budget. */
  take(bytes: number): boolean {
    if (this.used + bytes > this.limit) return false;
    this.used += bytes;
    return true;
  }
  give(bytes: number): void {
    this.used -= bytes;
  }
  get inUse(): number {
    return this.used;
  }
}

/** What one watcher holds of the node's `WatchBudget`; `end` gives back what is still out. */
export class WatcherBytes {
  private held = 0;
  private ended = false;
  private waiters: { below: number; resolve: () => void }[] = [];
  constructor(private readonly budget: WatchBudget) {}
  get unsent(): number {
    return this.held;
  }
  /**
   * Backpressure for a backfill: undefined when at most `below` bytes are unsent, else a promise that
   * settles once they are (or the watcher ended).
   */
  waitBelow(below: number): Promise<void> | undefined {
    if (this.ended || this.held <= below) return undefined;
    return new Promise((resolve) => this.waiters.push({ below, resolve }));
  }
  private wake(): void {
    if (this.waiters.length === 0) return;
    const ready = this.waiters.filter((w) => this.ended || this.held <= w.below);
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve();
  }
  take(bytes: number): boolean {
    if (this.ended || !this.budget.take(bytes)) return false;
    this.held += bytes;
    return true;
  }
  /** A write completed. */
  written(bytes: number): void {
    if (this.ended) return;
    this.held -= bytes;
    this.budget.give(bytes);
    this.wake();
  }
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.budget.give(this.held);
    this.held = 0;
    this.wake();
  }
}

/** What a transport knows about the caller. */
export interface CallContext {
  /** Bearer token from `authorization`, if any. */
  token: string | undefined;
  /** Absolute deadline, epoch ms (wall clock); `Infinity` = none. */
  deadline: number;
}

/** Commands that change a tenant's configuration: each one is logged (`audit`). */
const AUDITED: ReadonlySet<Command['type']> = new Set([
  'upsert_agent',
  'remove_agent',
  'upsert_queue',
  'remove_queue',
  'upsert_customer',
  'remove_customer',
  'set_routing_config',
]);

/** Every unary method of the API, as named in the generated server interfaces. */
/** ListWaiting page size: default and most. */
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

export const UNARY_METHODS = [
  'upsertAgent',
  'removeAgent',
  'getAgent',
  'listAgents',
  'upsertQueue',
  'removeQueue',
  'getQueue',
  'listQueues',
  'upsertCustomer',
  'getCustomer',
  'removeCustomer',
  'setRoutingConfig',
  'getRoutingConfig',
  'lint',
  'deleteTenant',
  'setPresence',
  'acceptOffer',
  'rejectOffer',
  'endConversation',
  'finishWrapUp',
  'enqueue',
  'cancel',
  'transfer',
  'escalate',
  'assign',
  'getConversation',
  'listWaiting',
  'listAgentConversations',
  'getQueueStats',
  'listQueueStats',
  'getAgentStats',
  'listAgentStats',
] as const;
export type UnaryMethod = (typeof UNARY_METHODS)[number];

/**
 * Every error code this layer can produce by itself (the engine and the router add theirs, also from
 * the catalogue). The catalogue contract test checks each one exists.
 */
export const SERVICE_ERROR_CODES: readonly ErrorCode[] = [
  'SB_ERR_INVALID_ARGUMENT',
  'SB_ERR_UNAUTHENTICATED',
  'SB_ERR_PERMISSION_DENIED',
  'SB_ERR_AGENT_NOT_FOUND',
  'SB_ERR_QUEUE_NOT_FOUND',
  'SB_ERR_CONVERSATION_NOT_FOUND',
  'SB_ERR_CUSTOMER_NOT_FOUND',
  'SB_ERR_DEADLINE_EXCEEDED',
  'SB_ERR_PAYLOAD_TOO_LARGE',
  'SB_ERR_RESUME_POSITION_GONE',
  'SB_ERR_OVERLOADED',
  'SB_ERR_NOT_IMPLEMENTED',
  'SB_ERR_METHOD_NOT_ALLOWED',
  'SB_ERR_UNAVAILABLE',
  'SB_ERR_INTERNAL',
  'SB_ERR_TOO_MANY_WATCHERS',
];

export interface ServiceOptions {
  router: PartitionRouter;
  clock: Clock;
  auth: AuthConfig;
  registry: Registry;
  logger: Logger;
  /** Most queues / agents per tenant, stamped on each upsert's envelope (the engine enforces them). */
  tenantLimits?: TenantLimits;
  /** Event watchers per tenant and their node-wide buffer budget (default `DEFAULT_WATCHER_LIMITS`). */
  watcherLimits?: Partial<WatcherLimits>;
}

export interface TenantLimits {
  maxQueues: number;
  maxAgents: number;
}

/** `--max-queues-per-tenant`, `--max-agents-per-tenant` defaults (SPEC §5: 100 000 agents per tenant). */
export const DEFAULT_TENANT_LIMITS: TenantLimits = { maxQueues: 1000, maxAgents: 100_000 };

type Timer = { observe(v: number): void };

/** Converts anything thrown below the service into a catalogue error (unknown → INTERNAL, logged). */
export function toSwitchboardError(e: unknown, logger?: Logger): SwitchboardError {
  if (e instanceof SwitchboardError) return e;
  if (isSwitchboardError(e)) return new SwitchboardError(e.code, e.message, e.field);
  logger?.error({ err: e }, 'internal error in the API service');
  return new SwitchboardError('SB_ERR_INTERNAL', 'internal error; nothing was changed');
}

/** HTTP statuses of the rejections `answerError` logs: bad input, unauthenticated, forbidden. */
const REJECTED_HTTP = new Set([400, 401, 403]);

/**
 * At most `limit` `call rejected` lines per `windowMs` per node; what it holds back is summed up in one
 * `rejected calls not logged` line (with `suppressed`) when the window closes.
 */
export class RejectionLog {
  private windowStart = Number.NEGATIVE_INFINITY;
  private logged = 0;
  private suppressed = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly logger: Logger,
    private readonly limit = REJECTION_LOG_LIMIT,
    private readonly windowMs = REJECTION_LOG_WINDOW_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** True when a line may be written now. */
  admit(): boolean {
    const t = this.now();
    if (t - this.windowStart >= this.windowMs) {
      this.windowStart = t;
      this.logged = 0;
    }
    if (this.logged < this.limit) {
      this.logged++;
      return true;
    }
    if (this.suppressed++ === 0) {
      this.timer = setTimeout(() => this.flush(), Math.max(1, this.windowStart + this.windowMs - t));
      this.timer.unref();
    }
    return false;
  }

  private flush(): void {
    this.timer = null;
    if (this.suppressed === 0) return;
    this.logger.warn(
      { suppressed: this.suppressed, limit: this.limit, windowMs: this.windowMs },
      'rejected calls not logged',
    );
    this.suppressed = 0;
  }
}

/** `call rejected` lines per node and window (see `RejectionLog`). */
export const REJECTION_LOG_LIMIT = 20;
export const REJECTION_LOG_WINDOW_MS = 10_000;

export class SwitchboardService {
  /** Replaced whole by `setAuth` (a reloaded tokens file); read at every call. */
  auth: TenantAuth;
  private readonly router: PartitionRouter;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly timers: Record<UnaryMethod, Timer>;
  private readonly durations: Histogram<'method'>;
  private readonly errors: Counter<'method' | 'code'>;
  /** Process-unique prefix (48 random bits) for ids of calls without a request id. */
  private readonly boot = randomBytes(6).toString('base64url');
  private seq = 0;
  private readonly rejections: RejectionLog;
  private readonly tenantLimits: TenantLimits;
  private readonly watchersPerTenant: number;
  /** Open watchers by tenant. */
  private readonly watchers = new Map<string, number>();
  /** Unsent event bytes of every watcher on the node. */
  readonly watchBudget: WatchBudget;

  constructor(opts: ServiceOptions) {
    this.tenantLimits = opts.tenantLimits ?? DEFAULT_TENANT_LIMITS;
    const watcherLimits = { ...DEFAULT_WATCHER_LIMITS, ...opts.watcherLimits };
    this.watchersPerTenant = watcherLimits.perTenant;
    this.watchBudget = new WatchBudget(watcherLimits.bufferBudgetBytes);
    this.router = opts.router;
    this.clock = opts.clock;
    this.logger = opts.logger;
    this.auth = new TenantAuth(opts.auth);
    this.rejections = new RejectionLog(this.logger);
    const name = 'switchboard_command_duration_seconds';
    const hist =
      (opts.registry.getSingleMetric(name) as Histogram<'method'> | undefined) ??
      new Histogram({
        name,
        help: 'API call duration in the service layer (validation, routing, durable apply), by method',
        labelNames: ['method'],
        buckets: [
          0.00005, 0.0001, 0.0002, 0.0004, 0.0008, 0.0016, 0.0032, 0.0064, 0.0128, 0.0256, 0.0512, 0.1024, 1,
        ],
        registers: [opts.registry],
      });
    this.durations = hist;
    const timers = {} as Record<UnaryMethod, Timer>;
    for (const m of UNARY_METHODS) timers[m] = hist.labels(m);
    this.timers = timers;
    const errors = 'switchboard_errors_total';
    this.errors =
      (opts.registry.getSingleMetric(errors) as Counter<'method' | 'code'> | undefined) ??
      new Counter({
        name: errors,
        help: 'API calls answered with an error, by method and SB_ERR_* code (gRPC and HTTP alike)',
        labelNames: ['method', 'code'],
        registers: [opts.registry],
      });
  }

  /**
   * Counts one error answer. Both transports call it wherever they answer with an error; `method` is the
   * RPC name (the HTTP mirror uses the route's RPC, or `http` for a path that matches no route).
   */
  countError(method: string, code: string): void {
    this.errors.labels(method, code).inc();
  }

  /**
   * Counts an error answer (`countError`) and, for a rejected call — bad input (400), no or an unknown
   * token (401), a token for another tenant (403) — logs it at level 40 (`call rejected`): method, code,
   * field, the tenant asked for and the kind of credential (`none`, `unknown`, `tenant`, `admin`, or
   * `open` with auth off), never the token. Sampled (`RejectionLog`), so a gateway sending garbage at
   * full speed costs a few lines per interval, not one per call.
   */
  answerError(
    method: string,
    err: SwitchboardError,
    who: { token?: string | undefined; tenant?: unknown } = {},
  ): void {
    this.countError(method, err.code);
    if (!REJECTED_HTTP.has(errorSpec(err.code).http) || !this.rejections.admit()) return;
    const token = who.token;
    const credential = token === undefined || token === '' ? 'none' : this.auth.principal(token);
    const tenant =
      typeof who.tenant === 'string' && who.tenant !== '' ? who.tenant.slice(0, MAX_TENANT) : undefined;
    this.logger.warn(
      {
        method,
        code: err.code,
        ...(err.field !== undefined ? { field: err.field.slice(0, 200) } : {}),
        ...(tenant !== undefined ? { tenant } : {}),
        credential,
      },
      'call rejected',
    );
  }

  /**
   * Times a call the transport answered itself, before or instead of the service method (an HTTP body
   * that is not JSON, a path that matches no route under `http`, an undecodable gRPC message, a refusal
   * while stopping): with the service methods' own timing, `switchboard_command_duration_seconds_count`
   * counts every answered call, so it is the denominator of every error counted in
   * `switchboard_errors_total` (event streams aside: they are not calls).
   */
  observeCall(method: string, startedAt: number): void {
    const seconds = (performance.now() - startedAt) / 1000;
    const bound = (this.timers as Record<string, Timer | undefined>)[method];
    if (bound) bound.observe(seconds);
    else this.durations.labels(method).observe(seconds);
  }

  /** True once the router can serve (readiness). */
  ready(): boolean {
    return this.router.ready();
  }

  // ---- admin -------------------------------------------------------------------------------------

  /**
   * New tokens (a reloaded `--tokens-file`): calls from now on are checked against them. Throws, keeping
   * the current ones, when the set is invalid or would turn authentication off.
   */
  setAuth(cfg: AuthConfig): void {
    const next = new TenantAuth(cfg);
    if (this.auth.enabled && !next.enabled) throw new Error('no tokens left: authentication would turn off');
    this.auth = next;
  }

  async upsertAgent(req: admin.UpsertAgentRequest, ctx: CallContext): Promise<admin.UpsertAgentResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const agent = toAgentConfig(req.agent);
      const id = this.id('upsert_agent', req.requestId);
      await this.apply(tenant, { type: 'upsert_agent', agent }, id, ctx, this.tenantLimits.maxAgents);
      return { agent: out.agentToProto(agent) };
    } finally {
      this.timers.upsertAgent.observe((performance.now() - t0) / 1000);
    }
  }

  async removeAgent(req: admin.RemoveAgentRequest, ctx: CallContext): Promise<admin.RemoveAgentResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const agentId = checkId(req.agentId, 'agentId');
      await this.apply(
        tenant,
        { type: 'remove_agent', agentId },
        this.id('remove_agent', req.requestId),
        ctx,
      );
      return {};
    } finally {
      this.timers.removeAgent.observe((performance.now() - t0) / 1000);
    }
  }

  async getAgent(req: admin.GetAgentRequest, ctx: CallContext): Promise<admin.GetAgentResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const agentId = checkId(req.agentId, 'agentId');
      const r = await this.query(tenant, { type: 'agent', agentId }, ctx);
      if (r.type !== 'agent') return unexpected(r);
      if (r.agent === null) throw notFound('SB_ERR_AGENT_NOT_FOUND', 'agent', agentId, 'agentId');
      return { agent: out.agentToProto(r.agent) };
    } finally {
      this.timers.getAgent.observe((performance.now() - t0) / 1000);
    }
  }

  async listAgents(req: admin.ListAgentsRequest, ctx: CallContext): Promise<admin.ListAgentsResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const page = checkPage(req, 'agents', tenant, [], AGENT_PAGE);
      const r = await this.query(tenant, { type: 'list_agents', ...page }, ctx);
      if (r.type !== 'list_agents') return unexpected(r);
      return {
        agents: r.agents.map(out.agentToProto),
        nextPageToken: nextPageToken(r.next, 'agents', tenant, []),
        totalSize: r.total ?? r.agents.length,
      };
    } finally {
      this.timers.listAgents.observe((performance.now() - t0) / 1000);
    }
  }

  async upsertQueue(req: admin.UpsertQueueRequest, ctx: CallContext): Promise<admin.UpsertQueueResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const queue = toQueueConfig(req.queue);
      const id = this.id('upsert_queue', req.requestId);
      await this.apply(tenant, { type: 'upsert_queue', queue }, id, ctx, this.tenantLimits.maxQueues);
      return { queue: out.queueToProto(queue) };
    } finally {
      this.timers.upsertQueue.observe((performance.now() - t0) / 1000);
    }
  }

  async removeQueue(req: admin.RemoveQueueRequest, ctx: CallContext): Promise<admin.RemoveQueueResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const queueId = checkId(req.queueId, 'queueId');
      await this.apply(
        tenant,
        { type: 'remove_queue', queueId },
        this.id('remove_queue', req.requestId),
        ctx,
      );
      return {};
    } finally {
      this.timers.removeQueue.observe((performance.now() - t0) / 1000);
    }
  }

  async getQueue(req: admin.GetQueueRequest, ctx: CallContext): Promise<admin.GetQueueResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const queueId = checkId(req.queueId, 'queueId');
      const r = await this.query(tenant, { type: 'queue', queueId }, ctx);
      if (r.type !== 'queue') return unexpected(r);
      if (r.queue === null) throw notFound('SB_ERR_QUEUE_NOT_FOUND', 'queue', queueId, 'queueId');
      return { queue: out.queueToProto(r.queue) };
    } finally {
      this.timers.getQueue.observe((performance.now() - t0) / 1000);
    }
  }

  async listQueues(req: admin.ListQueuesRequest, ctx: CallContext): Promise<admin.ListQueuesResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const page = checkPage(req, 'queues', tenant, [], QUEUE_PAGE);
      const r = await this.query(tenant, { type: 'list_queues', ...page }, ctx);
      if (r.type !== 'list_queues') return unexpected(r);
      return {
        queues: r.queues.map(out.queueToProto),
        nextPageToken: nextPageToken(r.next, 'queues', tenant, []),
        totalSize: r.total ?? r.queues.length,
      };
    } finally {
      this.timers.listQueues.observe((performance.now() - t0) / 1000);
    }
  }

  async upsertCustomer(
    req: admin.UpsertCustomerRequest,
    ctx: CallContext,
  ): Promise<admin.UpsertCustomerResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const customer = toCustomerConfig(req.customer);
      await this.apply(
        tenant,
        { type: 'upsert_customer', customer },
        this.id('upsert_customer', req.requestId),
        ctx,
      );
      return { customer: out.customerToProto(customer) };
    } finally {
      this.timers.upsertCustomer.observe((performance.now() - t0) / 1000);
    }
  }

  async getCustomer(req: admin.GetCustomerRequest, ctx: CallContext): Promise<admin.GetCustomerResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const customerId = checkId(req.customerId, 'customerId');
      const r = await this.query(tenant, { type: 'customer', customerId }, ctx);
      if (r.type !== 'customer') return unexpected(r);
      if (r.customer === null)
        throw notFound('SB_ERR_CUSTOMER_NOT_FOUND', 'customer', customerId, 'customerId');
      return { customer: out.customerToProto(r.customer) };
    } finally {
      this.timers.getCustomer.observe((performance.now() - t0) / 1000);
    }
  }

  async removeCustomer(
    req: admin.RemoveCustomerRequest,
    ctx: CallContext,
  ): Promise<admin.RemoveCustomerResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const customerId = checkId(req.customerId, 'customerId');
      await this.apply(
        tenant,
        { type: 'remove_customer', customerId },
        this.id('remove_customer', req.requestId),
        ctx,
      );
      return {};
    } finally {
      this.timers.removeCustomer.observe((performance.now() - t0) / 1000);
    }
  }

  async setRoutingConfig(
    req: admin.SetRoutingConfigRequest,
    ctx: CallContext,
  ): Promise<admin.SetRoutingConfigResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const config = toRoutingConfig(req.config);
      await this.apply(
        tenant,
        { type: 'set_routing_config', config },
        this.id('set_routing_config', req.requestId),
        ctx,
      );
      return { config: out.routingConfigToProto(config) };
    } finally {
      this.timers.setRoutingConfig.observe((performance.now() - t0) / 1000);
    }
  }

  async getRoutingConfig(
    req: admin.GetRoutingConfigRequest,
    ctx: CallContext,
  ): Promise<admin.GetRoutingConfigResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const r = await this.query(tenant, { type: 'routing_config' }, ctx);
      if (r.type !== 'routing_config') return unexpected(r);
      return { config: out.routingConfigToProto(r.config) };
    } finally {
      this.timers.getRoutingConfig.observe((performance.now() - t0) / 1000);
    }
  }

  async lint(req: admin.LintRequest, ctx: CallContext): Promise<admin.LintResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const r = await this.query(tenant, { type: 'lint' }, ctx);
      if (r.type !== 'lint') return unexpected(r);
      return { findings: r.findings.map(out.lintFindingToProto) };
    } finally {
      this.timers.lint.observe((performance.now() - t0) / 1000);
    }
  }

  // ---- agent desk --------------------------------------------------------------------------------

  /**
   * Deletes a tenant (admin token only): served by its owner, refused while conversations are open
   * unless `force`, idempotent (`existed: false`). See `PartitionHost.deleteTenant`.
   */
  async deleteTenant(req: admin.DeleteTenantRequest, ctx: CallContext): Promise<admin.DeleteTenantResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.auth.authoriseAdmin(ctx.token, req.tenant, checkTenant, 'DeleteTenant');
      checkRequestId(req.requestId);
      if (!this.router.deleteTenant) {
        throw new SwitchboardError('SB_ERR_NOT_IMPLEMENTED', 'this node cannot delete tenants');
      }
      const deadline = this.remaining(ctx);
      let r: Awaited<ReturnType<NonNullable<PartitionRouter['deleteTenant']>>>;
      try {
        r = await this.router.deleteTenant(tenant, req.force === true, deadline);
      } catch (e) {
        throw toSwitchboardError(e, this.logger);
      }
      this.logger.info(
        {
          audit: 'delete_tenant',
          tenant,
          by: this.auth.principal(ctx.token),
          existed: r.existed,
          force: req.force === true,
          openConversations: r.openConversations,
        },
        r.existed ? 'tenant deleted' : 'tenant deletion asked for a tenant that does not exist',
      );
      return { existed: r.existed, openConversations: r.openConversations };
    } finally {
      this.timers.deleteTenant.observe((performance.now() - t0) / 1000);
    }
  }

  async setPresence(req: desk.SetPresenceRequest, ctx: CallContext): Promise<desk.SetPresenceResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const cmd: Command = {
        type: 'set_presence',
        agentId: checkId(req.agentId, 'agentId'),
        presence: checkPresence(req.presence),
      };
      await this.apply(tenant, cmd, this.id('set_presence', req.requestId), ctx);
      return {};
    } finally {
      this.timers.setPresence.observe((performance.now() - t0) / 1000);
    }
  }

  async acceptOffer(req: desk.AcceptOfferRequest, ctx: CallContext): Promise<desk.AcceptOfferResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const cmd: Command = {
        type: 'accept_offer',
        agentId: checkId(req.agentId, 'agentId'),
        conversationId: checkId(req.conversationId, 'conversationId'),
      };
      await this.apply(tenant, cmd, this.id('accept_offer', req.requestId), ctx);
      return {};
    } finally {
      this.timers.acceptOffer.observe((performance.now() - t0) / 1000);
    }
  }

  async rejectOffer(req: desk.RejectOfferRequest, ctx: CallContext): Promise<desk.RejectOfferResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const cmd: Command = {
        type: 'reject_offer',
        agentId: checkId(req.agentId, 'agentId'),
        conversationId: checkId(req.conversationId, 'conversationId'),
      };
      await this.apply(tenant, cmd, this.id('reject_offer', req.requestId), ctx);
      return {};
    } finally {
      this.timers.rejectOffer.observe((performance.now() - t0) / 1000);
    }
  }

  async endConversation(
    req: desk.EndConversationRequest,
    ctx: CallContext,
  ): Promise<desk.EndConversationResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const conversationId = checkId(req.conversationId, 'conversationId');
      const cmd: Command = { type: 'end_conversation', conversationId, outcome: checkOutcome(req.outcome) };
      const id = this.id('end_conversation', req.requestId, conversationId);
      // `apply` inlined, as in `enqueue` (the other half of every conversation).
      let result: ApplyResult;
      try {
        result = await this.submit(tenant, cmd, id, ctx);
      } catch (e) {
        throw toSwitchboardError(e, this.logger);
      }
      this.accepted(result, cmd, id);
      return {};
    } finally {
      this.timers.endConversation.observe((performance.now() - t0) / 1000);
    }
  }

  async finishWrapUp(req: desk.FinishWrapUpRequest, ctx: CallContext): Promise<desk.FinishWrapUpResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const cmd: Command = { type: 'finish_wrap_up', agentId: checkId(req.agentId, 'agentId') };
      await this.apply(tenant, cmd, this.id('finish_wrap_up', req.requestId), ctx);
      return {};
    } finally {
      this.timers.finishWrapUp.observe((performance.now() - t0) / 1000);
    }
  }

  // ---- gateway -----------------------------------------------------------------------------------

  async enqueue(req: gw.EnqueueRequest, ctx: CallContext): Promise<gw.EnqueueResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const conversation = toConversationRequest(req.conversation);
      const cmd: Command = { type: 'enqueue', conversation };
      // `apply` inlined: one async frame less per call on the hottest method.
      let result: ApplyResult;
      try {
        result = await this.submit(tenant, cmd, `enqueue:${conversation.id}`, ctx);
      } catch (e) {
        throw toSwitchboardError(e, this.logger);
      }
      return out.enqueueReplyToProto(this.accepted(result, cmd).reply);
    } finally {
      this.timers.enqueue.observe((performance.now() - t0) / 1000);
    }
  }

  async cancel(req: gw.CancelRequest, ctx: CallContext): Promise<gw.CancelResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const conversationId = checkId(req.conversationId, 'conversationId');
      await this.apply(
        tenant,
        { type: 'cancel', conversationId },
        this.id('cancel', req.requestId, conversationId),
        ctx,
      );
      return {};
    } finally {
      this.timers.cancel.observe((performance.now() - t0) / 1000);
    }
  }

  async transfer(req: gw.TransferRequest, ctx: CallContext): Promise<gw.TransferResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const cmd: Command = {
        type: 'transfer',
        conversationId: checkId(req.conversationId, 'conversationId'),
        ...toTransferTarget(req),
      };
      await this.apply(tenant, cmd, this.id('transfer', req.requestId), ctx);
      return {};
    } finally {
      this.timers.transfer.observe((performance.now() - t0) / 1000);
    }
  }

  async escalate(req: gw.EscalateRequest, ctx: CallContext): Promise<gw.EscalateResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const cmd: Command = {
        type: 'escalate',
        conversationId: checkId(req.conversationId, 'conversationId'),
        ...toEscalateTarget(req),
      };
      await this.apply(tenant, cmd, this.id('escalate', req.requestId), ctx);
      return {};
    } finally {
      this.timers.escalate.observe((performance.now() - t0) / 1000);
    }
  }

  async assign(req: gw.AssignRequest, ctx: CallContext): Promise<gw.AssignResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const cmd: Command = {
        type: 'assign',
        conversationId: checkId(req.conversationId, 'conversationId'),
        agentId: checkId(req.agentId, 'agentId'),
      };
      await this.apply(tenant, cmd, this.id('assign', req.requestId), ctx);
      return {};
    } finally {
      this.timers.assign.observe((performance.now() - t0) / 1000);
    }
  }

  async getConversation(
    req: gw.GetConversationRequest,
    ctx: CallContext,
  ): Promise<gw.GetConversationResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const conversationId = checkId(req.conversationId, 'conversationId');
      const r = await this.query(tenant, { type: 'conversation', conversationId }, ctx);
      if (r.type !== 'conversation') return unexpected(r);
      if (r.conversation === null) {
        throw notFound('SB_ERR_CONVERSATION_NOT_FOUND', 'conversation', conversationId, 'conversationId');
      }
      return { conversation: out.conversationToProto(r.conversation) };
    } finally {
      this.timers.getConversation.observe((performance.now() - t0) / 1000);
    }
  }

  async listWaiting(req: gw.ListWaitingRequest, ctx: CallContext): Promise<gw.ListWaitingResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const queueId = checkId(req.queueId, 'queueId');
      const limit = req.pageSize === 0 ? DEFAULT_PAGE : checkInt(req.pageSize, 'pageSize', 1, MAX_PAGE);
      const after = readWaitingPageToken(req.pageToken, tenant, queueId);
      const r = await this.query(
        tenant,
        { type: 'list_waiting', queueId, limit, ...(after !== undefined ? { after } : {}) },
        ctx,
      );
      if (r.type !== 'list_waiting') return unexpected(r);
      if (r.conversations === null) throw notFound('SB_ERR_QUEUE_NOT_FOUND', 'queue', queueId, 'queueId');
      return {
        conversations: r.conversations.map(out.conversationToProto),
        totalWaiting: r.total,
        nextPageToken: nextWaitingPageToken(r.next, tenant, queueId),
      };
    } finally {
      this.timers.listWaiting.observe((performance.now() - t0) / 1000);
    }
  }

  async listAgentConversations(
    req: gw.ListAgentConversationsRequest,
    ctx: CallContext,
  ): Promise<gw.ListAgentConversationsResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const agentId = checkId(req.agentId, 'agentId');
      const r = await this.query(tenant, { type: 'agent_conversations', agentId }, ctx);
      if (r.type !== 'agent_conversations') return unexpected(r);
      if (r.conversations === null) throw notFound('SB_ERR_AGENT_NOT_FOUND', 'agent', agentId, 'agentId');
      return { conversations: r.conversations.map(out.conversationToProto) };
    } finally {
      this.timers.listAgentConversations.observe((performance.now() - t0) / 1000);
    }
  }

  // ---- statistics --------------------------------------------------------------------------------

  async getQueueStats(
    req: stats.GetQueueStatsRequest,
    ctx: CallContext,
  ): Promise<stats.GetQueueStatsResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const queueId = checkId(req.queueId, 'queueId');
      const r = await this.query(tenant, { type: 'queue_stats', queueId }, ctx);
      if (r.type !== 'queue_stats') return unexpected(r);
      if (r.stats === null) throw notFound('SB_ERR_QUEUE_NOT_FOUND', 'queue', queueId, 'queueId');
      return { stats: out.queueStatsToProto(r.stats) };
    } finally {
      this.timers.getQueueStats.observe((performance.now() - t0) / 1000);
    }
  }

  async listQueueStats(
    req: stats.ListQueueStatsRequest,
    ctx: CallContext,
  ): Promise<stats.ListQueueStatsResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const page = checkPage(req, 'queue_stats', tenant, [], QUEUE_PAGE);
      const r = await this.query(tenant, { type: 'all_queue_stats', ...page }, ctx);
      if (r.type !== 'all_queue_stats') return unexpected(r);
      return {
        stats: r.stats.map(out.queueStatsToProto),
        nextPageToken: nextPageToken(r.next, 'queue_stats', tenant, []),
        totalSize: r.total ?? r.stats.length,
      };
    } finally {
      this.timers.listQueueStats.observe((performance.now() - t0) / 1000);
    }
  }

  async getAgentStats(
    req: stats.GetAgentStatsRequest,
    ctx: CallContext,
  ): Promise<stats.GetAgentStatsResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const agentId = checkId(req.agentId, 'agentId');
      const r = await this.query(tenant, { type: 'agent_stats', agentId }, ctx);
      if (r.type !== 'agent_stats') return unexpected(r);
      if (r.stats === null) throw notFound('SB_ERR_AGENT_NOT_FOUND', 'agent', agentId, 'agentId');
      return { stats: out.agentStatsToProto(r.stats) };
    } finally {
      this.timers.getAgentStats.observe((performance.now() - t0) / 1000);
    }
  }

  async listAgentStats(
    req: stats.ListAgentStatsRequest,
    ctx: CallContext,
  ): Promise<stats.ListAgentStatsResponse> {
    const t0 = performance.now();
    try {
      const tenant = this.authorise(req, ctx);
      const queueId = checkOptionalId(req.queueId, 'queueId');
      const team = req.team === '' || req.team === undefined ? undefined : checkText(req.team, 'team', 64);
      const filters = [queueId ?? '', team ?? ''];
      const page = checkPage(req, 'agent_stats', tenant, filters, AGENT_PAGE);
      const r = await this.query(
        tenant,
        { type: 'all_agent_stats', ...(queueId ? { queueId } : {}), ...(team ? { team } : {}), ...page },
        ctx,
      );
      if (r.type !== 'all_agent_stats') return unexpected(r);
      if (r.stats === null) throw notFound('SB_ERR_QUEUE_NOT_FOUND', 'queue', queueId ?? '', 'queueId');
      return {
        stats: r.stats.map(out.agentStatsToProto),
        nextPageToken: nextPageToken(r.next, 'agent_stats', tenant, filters),
        totalSize: r.total ?? r.stats.length,
      };
    } finally {
      this.timers.listAgentStats.observe((performance.now() - t0) / 1000);
    }
  }

  // ---- events ------------------------------------------------------------------------------------

  /** Checks and authorises a WatchEvents call; the transport subscribes with the returned filter. */
  eventFilter(req: WatchEventsRequest, ctx: CallContext): EventFilter {
    const tenant = this.authorise(req, ctx);
    const filter = toEventFilter(tenant, req);
    toResumePosition(req);
    const open = this.watchers.get(tenant) ?? 0;
    if (open >= this.watchersPerTenant) {
      throw new SwitchboardError(
        'SB_ERR_TOO_MANY_WATCHERS',
        `tenant "${tenant}" has ${open} event watchers open, the most this node allows (--max-watchers-per-tenant ${this.watchersPerTenant}); close one`,
      );
    }
    // The transports subscribe right after (no await between): counted from then on.
    return filter;
  }

  /** How many byte-counted writes a watcher may have unsent, out of the node's budget. */
  watcherBytes(): WatcherBytes {
    return new WatcherBytes(this.watchBudget);
  }

  /**
   * Live events for an authorised watcher. After a token reload (`setAuth`) the watcher's token is
   * checked again before its next event: a revoked token ends the stream (`onRevoked`) instead of
   * receiving events until the client reconnects.
   *
   * With `resume`: subscribes first, then backfills the events after `resume.after` from the router's
   * history (`PartitionRouter.backfill`) while live events wait in a queue, then delivers the queued ones
   * and continues live. Every event is delivered only if its position is after the last one delivered,
   * so the seam has no gap (subscribed before the backfill looked) and no repeat (de-duplicated by
   * position), and a resumed stream never delivers a position twice. `resume.wait` is the transport's
   * backpressure (awaited between backfilled events); `resume.checked` is called once the position is
   * known to be servable (before any event; at once without `resume`); a position that is not (or stops
   * being so during the backfill) ends the watcher with `resume.onGone`.
   */
  subscribe(
    filter: EventFilter,
    ctx: CallContext,
    onEvent: Parameters<PartitionRouter['subscribe']>[1],
    onRevoked: (e: SwitchboardError) => void,
    onEnded: () => void = () => {},
    resume?: WatchResume,
  ): () => void {
    let checkedWith = this.auth;
    let off: (() => void) | null = null;
    let ended = false;
    const tenant = filter.tenant;
    this.watchers.set(tenant, (this.watchers.get(tenant) ?? 0) + 1);
    let counted = true;
    const uncount = () => {
      if (!counted) return;
      counted = false;
      const n = (this.watchers.get(tenant) ?? 1) - 1;
      if (n === 0) this.watchers.delete(tenant);
      else this.watchers.set(tenant, n);
    };
    const stop = () => {
      ended = true;
      off?.();
      uncount();
    };
    // Resumed: the last position delivered, and live events held back while the backfill runs.
    let last: EventPosition | null = resume?.after ?? null;
    let queued: PublishedEvent[] | null = resume ? [] : null;
    /** False (and the watcher ended) once a token reload revoked its token. */
    const authorised = (): boolean => {
      if (this.auth === checkedWith) return true;
      try {
        this.auth.check(ctx.token, filter.tenant);
        checkedWith = this.auth;
        return true;
      } catch (err) {
        stop();
        onRevoked(toSwitchboardError(err, this.logger));
        return false;
      }
    };
    const deliver = (e: PublishedEvent) => {
      if (last) {
        if (!isAfter(e, last)) return;
        last = { seq: e.seq, index: e.index };
      }
      onEvent(e);
    };
    off = this.router.subscribe(
      filter,
      (e) => {
        if (ended || !authorised()) return;
        if (queued) {
          if (queued.length >= RESUME_QUEUE_LIMIT) {
            stop();
            resume?.onGone(new SwitchboardError('SB_ERR_OVERLOADED', RESUME_TOO_SLOW));
            return;
          }
          queued.push(e);
          return;
        }
        deliver(e);
      },
      () => {
        // The tenant was deleted: no more events come.
        if (ended) return;
        ended = true;
        uncount();
        onEnded();
      },
    );
    if (!resume) return stop;
    const after = resume.after;
    let checked = false;
    const to = {
      sink: (e: PublishedEvent) => {
        // Backfilled events are checked against a reloaded token as live ones are.
        if (ended || !authorised()) return undefined;
        deliver(e);
        return resume.wait();
      },
      stopped: () => ended,
      checked: () => {
        if (checked) return;
        checked = true;
        resume.checked();
      },
    };
    const backfill = this.router.backfill
      ? this.router.backfill(filter, after, to)
      : Promise.reject(positionGone(after, 'this node keeps no event history'));
    backfill.then(
      () => {
        if (ended) return;
        to.checked();
        const held = queued ?? [];
        queued = null;
        for (const e of held) {
          if (ended) return;
          deliver(e);
        }
      },
      (err: unknown) => {
        if (ended) return;
        stop();
        resume.onGone(toSwitchboardError(err, this.logger));
      },
    );
    return stop;
  }

  // ---- plumbing ----------------------------------------------------------------------------------

  /**
   * The token, then the tenant's syntax (it names the partition), then the token's right to it; then the
   * request id, which every request carries (read calls ignore it, but a malformed one is still refused).
   */
  private authorise(req: { tenant: string; requestId: string }, ctx: CallContext): string {
    const tenant = this.auth.authorise(ctx.token, req.tenant, checkTenant);
    checkRequestId(req.requestId);
    return tenant;
  }

  /** Envelope id: see the table in the file comment. The request id was checked by `authorise`. */
  private id(type: string, requestId: string, naturalKey?: string): string {
    const rid = requestId ?? '';
    if (rid !== '') return `r:${rid}`;
    if (naturalKey !== undefined) return `${type}:c:${naturalKey}`;
    this.seq++;
    return `${type}:${this.boot}:${this.seq}`;
  }

  private remaining(ctx: CallContext): number | undefined {
    if (ctx.deadline === Number.POSITIVE_INFINITY) return undefined;
    const left = ctx.deadline - Date.now();
    if (left <= 0)
      throw new SwitchboardError(
        'SB_ERR_DEADLINE_EXCEEDED',
        'the deadline passed before the call was routed',
      );
    return left;
  }

  /**
   * Stamps the envelope (in cluster mode the tenant's owner stamps it again with its own clock, see
   * `ClusterPartitionRouter`), checks the deadline and hands the command to the router. A synchronous throw
   * (deadline passed) is the caller's; a rejection of the returned promise goes through
   * `toSwitchboardError`. Not async, so the hot methods await the router's promise directly.
   */
  private submit(
    tenant: string,
    cmd: Command,
    id: string,
    ctx: CallContext,
    limit?: number,
  ): Promise<ApplyResult> {
    const env: CommandEnvelope =
      limit === undefined ? { id, at: this.clock.now(), cmd } : { id, at: this.clock.now(), cmd, limit };
    return this.router.submit(tenant, env, this.remaining(ctx));
  }

  /** The result of a durable command, or the engine's rejection as its catalogue error. */
  private accepted(result: ApplyResult, cmd: Command, id?: string): Extract<ApplyResult, { ok: true }> {
    if (result.ok) return result;
    if (result.error.code === 'SB_ERR_REQUEST_ID_REUSED' && id !== undefined) throw reusedId(id, cmd);
    const code = result.error.code in ERRORS ? (result.error.code as ErrorCode) : 'SB_ERR_INTERNAL';
    if (code === 'SB_ERR_INTERNAL') {
      this.logger.error(
        { error: result.error, cmd: cmd.type },
        'the engine reported an internal or uncatalogued error',
      );
    }
    throw new SwitchboardError(
      code,
      code === 'SB_ERR_INTERNAL' ? 'internal error; nothing was changed' : result.error.message,
      result.error.field,
    );
  }

  private async apply(
    tenant: string,
    cmd: Command,
    id: string,
    ctx: CallContext,
    limit?: number,
  ): Promise<Extract<ApplyResult, { ok: true }>> {
    let result: ApplyResult;
    try {
      result = await this.submit(tenant, cmd, id, ctx, limit);
    } catch (e) {
      throw toSwitchboardError(e, this.logger);
    }
    const ok = this.accepted(result, cmd, id);
    if (AUDITED.has(cmd.type)) this.audit(tenant, cmd, id, ctx, ok.duplicate === true);
    return ok;
  }

  /**
   * One log line per configuration change (agents, queues, customers, routing settings): what, in which
   * tenant, by which kind of credential, under which command id (the log entry's id: the change can be
   * found in the command log). Conversation traffic is not logged per call. Customer ids are left out:
   * the line outlives an erasure request.
   */
  private audit(tenant: string, cmd: Command, id: string, ctx: CallContext, duplicate: boolean): void {
    const target =
      cmd.type === 'upsert_agent'
        ? cmd.agent.id
        : cmd.type === 'remove_agent'
          ? cmd.agentId
          : cmd.type === 'upsert_queue'
            ? cmd.queue.id
            : cmd.type === 'remove_queue'
              ? cmd.queueId
              : undefined;
    this.logger.info(
      {
        audit: cmd.type,
        tenant,
        ...(target !== undefined ? { target } : {}),
        by: this.auth.principal(ctx.token),
        commandId: id,
        ...(duplicate ? { duplicate: true } : {}),
      },
      'configuration changed',
    );
  }

  private async query(tenant: string, q: Query, ctx: CallContext): Promise<QueryResult> {
    const deadline = this.remaining(ctx);
    try {
      return await this.router.query(tenant, q, deadline);
    } catch (e) {
      throw toSwitchboardError(e, this.logger);
    }
  }
}

function notFound(code: ErrorCode, what: string, id: string, field: string): SwitchboardError {
  return new SwitchboardError(code, `no ${what} "${id}"`, field);
}

/** The router answered a different query than asked: a host bug, reported as INTERNAL without details. */
function unexpected(_r: QueryResult): never {
  throw new SwitchboardError('SB_ERR_INTERNAL', 'internal error; nothing was changed');
}

/**
 * The engine's "this id already carried another command", said in the caller's terms: a request id
 * reused for another request, or a conversation (whose id is the key when no request id is given)
 * already cancelled or ended with other arguments.
 */
function reusedId(id: string, cmd: Command): SwitchboardError {
  const requestId = /^r:(.*)$/s.exec(id)?.[1];
  if (requestId !== undefined) {
    return new SwitchboardError(
      'SB_ERR_REQUEST_ID_REUSED',
      `request id "${requestId}" was already used for a different request`,
      'requestId',
    );
  }
  const conversationId = 'conversationId' in cmd ? cmd.conversationId : '';
  const done = cmd.type === 'cancel' ? 'cancelled' : 'ended';
  return new SwitchboardError(
    'SB_ERR_INVALID_STATE',
    `conversation "${conversationId}" was already ${done} with different arguments`,
    'conversationId',
  );
}

/**
 * HTTP/JSON transport over the service layer, on bare `node:http`: about thirty fixed routes need no
 * framework, and autocannon measures the service rather than a router library. Also `/healthz`
 * (process alive), `/readyz` (router ready), `/metrics` (Prometheus) and an SSE mirror of WatchEvents.
 *
 * Every error is `{"error":{"code","message","field"}}` with the catalogue's HTTP status; a stack trace
 * or internal message never leaves the process.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { errorSpec, retryAfterMs, SwitchboardError } from '../errors/catalogue.js';
import { Event as PbEvent, WatchEventsRequest } from '../gen/switchboard/v1/events.js';
import type { PublishedEvent } from '../host/router.js';
import { bearerToken } from './auth.js';
import { EVENTS_PATH, type Route, RouteTable } from './routes.js';
import {
  type CallContext,
  SLOW_WATCHER,
  type SwitchboardService,
  toSwitchboardError,
  WATCH_BUDGET_FULL,
  WATCH_BUFFER_LIMIT,
} from './service.js';
import type { TlsFiles } from './tls.js';
import { eventToProto } from './to-proto.js';
import { invalid } from './validate/common.js';
import { toResumePosition } from './validate/events.js';
import { checkJsonRequest } from './validate/json-types.js';
import { checkQuery } from './validate/query.js';

export interface HttpServerOptions {
  service: SwitchboardService;
  registry: Registry;
  logger: Logger;
  /** Largest accepted request body, bytes (larger → 413). */
  maxBodyBytes: number;
  /** Serve HTTPS with these files (followed when they change); absent = plain HTTP. */
  tls?: TlsFiles;
  /** An SSE watcher is cut off past this many unsent bytes (default `WATCH_BUFFER_LIMIT`; tests lower it). */
  watchBufferBytes?: number;
  /** At a stop, how long open connections may still send a request (answered 503): default `LAST_CALL_MS`. */
  lastCallMs?: number;
  /** Connection limits and timeouts (default `DEFAULT_HTTP_LIMITS`). */
  limits?: Partial<HttpLimits>;
}

/**
 * What clients may hold on the HTTP port before sending a request or a token: without these, ~23 000
 * idle sockets filled the process's file descriptors (gRPC, snapshots and probes failed with EMFILE),
 * and a socket that sent nothing, or one header byte every 10 s, stayed open for good.
 */
export interface HttpLimits {
  /** Open connections at most; the ones past it are closed as soon as they are accepted (`server.maxConnections`). */
  maxConnections: number;
  /** A request's line and headers must arrive within this long of the connection or the previous answer. */
  headersTimeoutMs: number;
  /** A whole request (headers and body) must arrive within this long. */
  requestTimeoutMs: number;
  /**
   * A socket on which nothing was received or sent for this long is closed: a connection that never sends
   * a request, or an event stream whose client stopped reading (its heartbeats cannot be written).
   */
  idleTimeoutMs: number;
  /** An idle keep-alive connection is closed this long after its last answer. */
  keepAliveTimeoutMs: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  maxConnections: 10_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 60_000,
  // Above the 60 s idle timeout of common load balancers, so they close first (no race on reuse).
  keepAliveTimeoutMs: 65_000,
};

const JSON_TYPE = 'application/json; charset=utf-8';
const SSE_HEARTBEAT_MS = 15_000;
/**
 * A `/metrics` text is served again to scrapes arriving this soon after it was rendered, or four times
 * as long as the render took if that is longer (Prometheus scrapes every 15–60 s: several replicas
 * still see fresh figures, a flood gets one render a second at most).
 */
export const METRICS_REUSE_MS = 1_000;
/** How long a watcher cut off for reading too slowly gets to take its last event before its socket closes. */
const SSE_CUT_GRACE_MS = 5_000;
/**
 * At a stop, open keep-alive connections get this long to send one more request (answered 503 +
 * `connection: close`, so the client retries elsewhere) before idle ones are closed: closing an idle
 * connection at once races a request the client is sending on it, which then fails with ECONNRESET
 * and no answer. Ends early once every connection is closed.
 */
export const LAST_CALL_MS = 1_000;
const [, ...EVENTS_TAIL] = EVENTS_PATH.split('/');
/** The SSE route's query parameters: WatchEventsRequest's filters (`types` repeated or comma-separated). */
const EVENTS_QUERY = [
  'queueId',
  'agentId',
  'conversationId',
  'types',
  'resumeAfterSeq',
  'resumeAfterIndex',
  'resumeAfterIncarnation',
] as const;
const SHUTTING_DOWN = 'the node is shutting down: retry with the same request id (another node answers)';

export class HttpApiServer {
  private readonly server: Server | HttpsServer;
  private readonly routes = new RouteTable();
  private readonly service: SwitchboardService;
  private readonly registry: Registry;
  private readonly logger: Logger;
  private readonly maxBodyBytes: number;
  private readonly watchBufferBytes: number;
  private readonly streams = new Set<ServerResponse>();
  /** Set by `close`: new requests are refused (503) and every connection closes after its answer. */
  private closing = false;
  private readonly lastCallMs: number;
  /** Open client connections (plain or TLS), to know when the last one has closed. */
  private readonly sockets = new Set<Socket>();
  private onAllClosed: (() => void) | null = null;
  /** The last `/metrics` render (see `metricsText`). */
  private metrics: { text: Promise<string>; rendering: boolean; reuseUntil: number } | null = null;
  /** `--tls-client-ca`: `/v1/…` needs a client certificate the CA signed (verified in the handshake). */
  private mutualTls = false;

  constructor(opts: HttpServerOptions) {
    this.service = opts.service;
    this.registry = opts.registry;
    this.logger = opts.logger;
    this.maxBodyBytes = opts.maxBodyBytes;
    this.watchBufferBytes = opts.watchBufferBytes ?? WATCH_BUFFER_LIMIT;
    this.lastCallMs = opts.lastCallMs ?? LAST_CALL_MS;
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.serve(req, res);
    const limits = { ...DEFAULT_HTTP_LIMITS, ...opts.limits };
    const timeouts = {
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: Math.max(limits.requestTimeoutMs, limits.headersTimeoutMs),
      // How often the two timeouts above are checked (Node's default, 30 s, let them run 30 s over).
      connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
    };
    const tls = opts.tls;
    if (tls) {
      const { cert, key, clientCa } = tls.current;
      // With a client CA, the /v1 mirror requires what gRPC requires: a certificate that CA signed.
      // Asked for, not required, in the handshake: probes and Prometheus (no certificate) still reach
      // /healthz, /readyz and /metrics; `handle` refuses /v1 on a connection without a verified one.
      this.mutualTls = clientCa !== null;
      const https = createHttpsServer(
        {
          cert,
          key,
          ...(clientCa ? { ca: clientCa, requestCert: true, rejectUnauthorized: false } : {}),
          ...timeouts,
          handshakeTimeout: limits.headersTimeoutMs,
        },
        handler,
      );
      tls.onChange((m) =>
        https.setSecureContext({ cert: m.cert, key: m.key, ...(m.clientCa ? { ca: m.clientCa } : {}) }),
      );
      this.server = https;
    } else {
      this.server = createServer(timeouts, handler);
    }
    this.server.maxConnections = limits.maxConnections;
    // No 'timeout' listener: Node destroys a socket idle this long.
    this.server.setTimeout(limits.idleTimeoutMs);
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => {
        this.sockets.delete(socket);
        if (this.sockets.size === 0) this.onAllClosed?.();
      });
    });
    // Requests Node's parser refuses never reach a handler: answer them in the catalogue's terms too.
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      // A request whose headers or body did not arrive in time (`headersTimeout`, `requestTimeout`):
      // nobody is waiting for an answer (a client that never sent a request, or trickles one), and
      // `end()` would leave the descriptor open until that client closed its side.
      if (!socket.writable || err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
        socket.destroy();
        return;
      }
      const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
      const e = tooLarge
        ? new SwitchboardError('SB_ERR_PAYLOAD_TOO_LARGE', 'the request line or headers are too large')
        : new SwitchboardError('SB_ERR_INVALID_ARGUMENT', 'malformed HTTP request');
      this.service.answerError('http', e);
      this.service.observeCall('http', performance.now());
      const body = JSON.stringify({ error: { code: e.code, message: e.message } });
      const status = tooLarge ? '413 Payload Too Large' : '400 Bad Request';
      socket.end(
        `HTTP/1.1 ${status}\r\ncontent-type: ${JSON_TYPE}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    });
  }

  /** Listens; resolves with the bound port (port 0 = any free port). */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  /**
   * Stops accepting and lets the requests in flight finish for up to `graceMs`, then cuts the rest.
   * From now on a request arriving on an open keep-alive connection is not served: it gets 503
   * `SB_ERR_UNAVAILABLE` with `Retry-After` (retryable: nothing was done) and `connection: close`, and the
   * answers in flight carry `connection: close` too, so every connection closes after its last answer
   * and the grace covers only work already under way: the server closes once those are answered and
   * every connection is gone, or `LAST_CALL_MS` after the start for idle keep-alive connections.
   * Event streams end with an `SB_ERR_UNAVAILABLE` error event (reconnect elsewhere).
   */
  async close(graceMs: number): Promise<void> {
    this.closing = true;
    for (const s of this.streams) {
      this.service.countError('watchEvents', 'SB_ERR_UNAVAILABLE');
      s.end(
        `event: error\ndata: ${JSON.stringify({ error: { code: 'SB_ERR_UNAVAILABLE', message: SHUTTING_DOWN } })}\n\n`,
      );
    }
    this.streams.clear();
    if (!this.server.listening) return;
    const t0 = Date.now();
    const lastCall = Math.min(this.lastCallMs, graceMs);
    if (lastCall > 0 && this.sockets.size > 0) {
      // Still listening: a client's next call, on its open connection or a new one, gets its 503.
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.onAllClosed = null;
          resolve();
        };
        const timer = setTimeout(done, lastCall);
        this.onAllClosed = done;
      });
    }
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const timer = setTimeout(
      () => this.server.closeAllConnections(),
      Math.max(0, graceMs - (Date.now() - t0)),
    );
    timer.unref();
    await closed;
    clearTimeout(timer);
  }

  /**
   * The exposition text, rendered at most once at a time and reused for `METRICS_REUSE_MS` after: `/metrics`
   * takes no token, and its render grows with every tenant's queues and agents (3 000 queues: 11.9 MB,
   * 1.2 s of event loop), so 10 concurrent scrapes held /healthz for 6 s and other tenants' calls were
   * refused OVERLOADED. Scrapes arriving while one renders, or just after, share its text.
   */
  private metricsText(): Promise<string> {
    const m = this.metrics;
    if (m !== null && (m.rendering || performance.now() < m.reuseUntil)) return m.text;
    const started = performance.now();
    const next = { text: this.registry.metrics(), rendering: true, reuseUntil: 0 };
    this.metrics = next;
    next.text.then(
      () => {
        // A render that took long is reused for longer: a scrape flood costs the loop a fifth at most.
        const done = performance.now();
        next.rendering = false;
        next.reuseUntil = done + Math.max(METRICS_REUSE_MS, 4 * (done - started));
      },
      () => {
        // Not reused: the next scrape renders again.
        if (this.metrics === next) this.metrics = null;
      },
    );
    return next.text;
  }

  /** Never rejects: anything unexpected becomes a logged INTERNAL answer (or a cut connection). */
  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = performance.now();
    try {
      await this.handle(req, res, t0);
    } catch (e) {
      this.logger.error({ err: e }, 'http handler failed');
      if (!res.headersSent)
        this.sendError(res, 'http', new SwitchboardError('SB_ERR_INTERNAL', 'internal error'), t0);
      else res.destroy();
    }
  }

  /** While stopping, an answer closes its connection (checked as each answer is written). */
  private lastOnConnection(res: ServerResponse): void {
    if (this.closing) res.setHeader('connection', 'close');
  }

  private async handle(req: IncomingMessage, res: ServerResponse, t0: number): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const pathname = q === -1 ? url : url.slice(0, q);
    const query = q === -1 ? '' : url.slice(q + 1);
    const method = req.method ?? 'GET';

    if (pathname === '/healthz') {
      this.lastOnConnection(res);
      return sendJson(res, 200, { status: 'ok' });
    }
    if (pathname === '/readyz') {
      const ready = !this.closing && this.service.ready();
      this.lastOnConnection(res);
      return sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not_ready' });
    }
    if (pathname === '/metrics' && method === 'GET') {
      const body = await this.metricsText();
      this.lastOnConnection(res);
      res.writeHead(200, { 'content-type': this.registry.contentType });
      res.end(body);
      return;
    }

    if (this.mutualTls && !(req.socket as TLSSocket).authorized) {
      return this.drainThen(
        req,
        res,
        'http',
        new SwitchboardError(
          'SB_ERR_UNAUTHENTICATED',
          'a client certificate signed by the --tls-client-ca of this node is required (mutual TLS), as on the gRPC port',
        ),
        t0,
      );
    }

    let match: ReturnType<RouteTable['match']>;
    try {
      match = this.routes.match(method, pathname);
      if (this.closing) {
        // Not served: the caller retries (another node, or this one's replacement) with the same id.
        const rpc = match?.route.rpc ?? 'http';
        return this.drainThen(req, res, rpc, new SwitchboardError('SB_ERR_UNAVAILABLE', SHUTTING_DOWN), t0);
      }
      if (match === null && method === 'GET') {
        const tenant = eventsTenant(pathname);
        if (tenant !== null) return this.events(req, res, tenant, query);
      }
    } catch {
      return this.drainThen(
        req,
        res,
        'http',
        this.closing
          ? new SwitchboardError('SB_ERR_UNAVAILABLE', SHUTTING_DOWN)
          : invalidArg('path', 'malformed percent-encoding in the path'),
        t0,
      );
    }
    if (match === null) {
      const allowed = this.routes.allowedMethods(pathname);
      if (allowed.length > 0) {
        res.setHeader('allow', allowed.join(', '));
        return this.drainThen(
          req,
          res,
          'http',
          new SwitchboardError(
            'SB_ERR_METHOD_NOT_ALLOWED',
            `${pathname.slice(0, 200)} takes ${allowed.join(', ')}`,
          ),
          t0,
        );
      }
      return this.drainThen(
        req,
        res,
        'http',
        new SwitchboardError('SB_ERR_NOT_IMPLEMENTED', `no route ${method} ${pathname.slice(0, 200)}`),
        t0,
      );
    }

    const ctx = contextOf(req);
    const who = { token: ctx.token, tenant: match.params.tenant };
    let request: unknown;
    try {
      this.service.auth.authenticate(ctx.token);
      const body = await readBody(req, this.maxBodyBytes);
      request = buildRequest(
        match.route,
        withQuery(match.route, match.params, query),
        body,
        req.headers['idempotency-key'],
      );
    } catch (e) {
      // Refused before the service method ran (token, body): timed here, as the method times its own.
      return this.sendError(res, match.route.rpc, toSwitchboardError(e, this.logger), t0, who);
    }
    try {
      const fn = this.service[match.route.rpc] as (r: unknown, c: CallContext) => Promise<unknown>;
      const answer = await fn.call(this.service, request, ctx);
      this.lastOnConnection(res);
      sendJson(res, 200, match.route.response.toJSON(answer as never));
    } catch (e) {
      this.sendError(res, match.route.rpc, toSwitchboardError(e, this.logger), undefined, who);
    }
  }

  /** Server-sent events: one `event: <type>` + `data: <Event JSON>` per routing event. */
  private events(req: IncomingMessage, res: ServerResponse, tenant: string, query: string): void {
    let unsubscribe: () => void = () => {};
    let cut = false;
    // Counted against the node's budget for all watchers (`WatchBudget`) until each write is flushed.
    const unsent = this.service.watcherBytes();
    try {
      const ctx = contextOf(req);
      // As for other routes: who is asking comes before what the request says.
      this.service.auth.authenticate(ctx.token);
      const { resumeAfterSeq, resumeAfterIndex, resumeAfterIncarnation, ...params } = checkQuery(
        query,
        EVENTS_QUERY,
        ['types'],
      );
      const watch = WatchEventsRequest.fromJSON({ tenant, ...params });
      // The standard SSE resume: a reconnecting EventSource sends the id of the last event it got, which
      // wins over the query's position (the URL it reconnects to is the first one).
      const lastEventId = req.headers['last-event-id'];
      if (typeof lastEventId === 'string' && lastEventId.trim() !== '') {
        const m = /^\s*(\d{1,16})(?::(\d{1,9}))?(?:@(\d{1,16}))?\s*$/.exec(lastEventId);
        if (!m)
          invalid(
            'Last-Event-ID',
            'must be an event id as sent, <seq>:<index>@<incarnation> (or <seq>:<index>, <seq>)',
          );
        watch.resumeAfterSeq = BigInt(m[1] as string);
        watch.resumeAfterIndex = m[2] === undefined ? undefined : Number(m[2]);
        watch.resumeAfterIncarnation = m[3] === undefined ? undefined : BigInt(m[3]);
      } else {
        if (resumeAfterSeq !== undefined) {
          if (typeof resumeAfterSeq !== 'string' || !/^-?\d{1,16}$/.test(resumeAfterSeq))
            invalid('resumeAfterSeq', 'must be a log position (an integer from 0)');
          watch.resumeAfterSeq = BigInt(resumeAfterSeq);
        }
        if (resumeAfterIndex !== undefined) {
          if (typeof resumeAfterIndex !== 'string' || !/^-?\d{1,9}$/.test(resumeAfterIndex))
            invalid('resumeAfterIndex', 'must be an index within the batch (an integer from 0)');
          watch.resumeAfterIndex = Number(resumeAfterIndex);
        }
        if (resumeAfterIncarnation !== undefined) {
          if (typeof resumeAfterIncarnation !== 'string' || !/^-?\d{1,16}$/.test(resumeAfterIncarnation))
            invalid(
              'resumeAfterIncarnation',
              "must be the tenant's incarnation as the events carry it (an integer)",
            );
          watch.resumeAfterIncarnation = BigInt(resumeAfterIncarnation);
        }
      }
      const filter = this.service.eventFilter(watch, ctx);
      const after = toResumePosition(watch);
      let open = false;
      const subscribed = () => {
        open = true;
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache',
          connection: 'keep-alive',
        });
        res.write(': watching\n\n');
      };
      unsubscribe = this.service.subscribe(
        filter,
        ctx,
        (e: PublishedEvent) => {
          if (cut) return;
          // `id:` = the event's position: a reconnecting EventSource sends it back as Last-Event-ID.
          const id = e.incarnation ? `${e.seq}:${e.index}@${e.incarnation}` : `${e.seq}:${e.index}`;
          const text = `id: ${id}\nevent: ${e.event.type}\ndata: ${JSON.stringify(PbEvent.toJSON(eventToProto(e)))}\n\n`;
          const bytes = Buffer.byteLength(text);
          const slow = res.writableLength > this.watchBufferBytes;
          if (slow || !unsent.take(bytes)) {
            // As over gRPC: say why (it reaches a client that resumes reading), then let go of the buffer.
            cut = true;
            this.service.countError('watchEvents', 'SB_ERR_OVERLOADED');
            unsubscribe();
            unsent.end();
            const message = slow ? SLOW_WATCHER : WATCH_BUDGET_FULL;
            res.end(
              `event: error\ndata: ${JSON.stringify({ error: { code: 'SB_ERR_OVERLOADED', message } })}\n\n`,
            );
            setTimeout(() => res.destroy(), SSE_CUT_GRACE_MS).unref();
            return;
          }
          res.write(text, () => unsent.written(bytes));
        },
        (err) => {
          // The token was revoked by a reload: say why, then end the stream.
          this.service.answerError('watchEvents', err, { token: ctx.token, tenant });
          res.end(
            `event: error\ndata: ${JSON.stringify({ error: { code: err.code, message: err.message } })}\n\n`,
          );
        },
        () => {
          // The tenant was deleted: say so, then end the stream (nothing more will come).
          res.end(`event: end\ndata: ${JSON.stringify({ reason: 'tenant deleted', tenant })}\n\n`);
        },
        after && {
          after,
          // A backfill waits while half the watcher's own limit is unsent: it never trips the limit.
          wait: () => unsent.waitBelow(this.watchBufferBytes / 2),
          checked: subscribed,
          onGone: (err) => {
            if (cut) return;
            cut = true;
            unsent.end();
            if (!open) {
              // Before the stream opened: a plain error answer (410 for a position the node cannot serve).
              this.sendError(res, 'watchEvents', err, undefined, { token: ctx.token, tenant });
              return;
            }
            this.service.answerError('watchEvents', err, { token: ctx.token, tenant });
            res.end(
              `event: error\ndata: ${JSON.stringify({ error: { code: err.code, message: err.message } })}\n\n`,
            );
          },
        },
      );
      if (!after) subscribed();
    } catch (e) {
      this.sendError(res, 'watchEvents', toSwitchboardError(e, this.logger), undefined, {
        token: bearerToken(req.headers.authorization),
        tenant,
      });
      return;
    }
    this.streams.add(res);
    // Not before the stream opened (a resumed watch opens once its position is checked).
    const heartbeat = setInterval(() => {
      if (res.headersSent) res.write(': heartbeat\n\n');
    }, SSE_HEARTBEAT_MS);
    heartbeat.unref();
    res.on('close', () => {
      clearInterval(heartbeat);
      unsubscribe();
      unsent.end();
      this.streams.delete(res);
    });
  }

  /**
   * Every error answer goes through here, so `switchboard_errors_total` counts each one; `startedAt`
   * (answers the service method did not time) also counts it in `switchboard_command_duration_seconds`.
   */
  private sendError(
    res: ServerResponse,
    method: string,
    e: SwitchboardError,
    startedAt?: number,
    who?: { token: string | undefined; tenant?: string },
  ): void {
    this.service.answerError(method, e, who);
    if (startedAt !== undefined) this.service.observeCall(method, startedAt);
    this.lastOnConnection(res);
    sendError(res, e);
  }

  /**
   * Answers an error once the (ignored) body is consumed: the keep-alive connection stays usable, and a
   * connection closed after the answer (`connection: close` while stopping) has no unread request bytes
   * left, which would make the kernel reset it (RST) and the client lose the answer.
   */
  private drainThen(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    e: SwitchboardError,
    startedAt: number,
  ): void {
    let answered = false;
    const answer = () => {
      if (answered) return;
      answered = true;
      this.sendError(res, method, e, startedAt, { token: bearerToken(req.headers.authorization) });
    };
    if (req.readableEnded) {
      answer();
      return;
    }
    // Drained up to the body limit only: past it (declared or sent) the answer goes out at once and the
    // connection closes, instead of reading any amount from a caller no route, token or limit checked
    // (200 MB were read from an unauthenticated upload to /nope).
    const cut = () => {
      if (answered) return;
      req.pause();
      res.setHeader('connection', 'close');
      res.once('finish', () => req.socket.destroy());
      answer();
    };
    if (Number(req.headers['content-length']) > this.maxBodyBytes) {
      cut();
      return;
    }
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > this.maxBodyBytes) cut();
    });
    req.once('end', answer);
    req.once('error', () => res.destroy());
  }
}

function eventsTenant(pathname: string): string | null {
  const parts = pathname.split('/').slice(1);
  if (parts.length !== EVENTS_TAIL.length) return null;
  if (parts[0] !== 'v1' || parts[1] !== 'tenants' || parts[3] !== 'events' || parts[2] === '') return null;
  return decodeURIComponent(parts[2]!);
}

function contextOf(req: IncomingMessage): CallContext {
  const timeout = req.headers['x-timeout-ms'];
  const ms = typeof timeout === 'string' ? Number(timeout) : Number.NaN;
  return {
    token: bearerToken(req.headers.authorization),
    deadline: Number.isFinite(ms) && ms >= 0 ? Date.now() + ms : Number.POSITIVE_INFINITY,
  };
}

function invalidArg(field: string, message: string): SwitchboardError {
  return new SwitchboardError('SB_ERR_INVALID_ARGUMENT', `${field}: ${message}`, field);
}

/** Reads the body up to `max` bytes; larger → PAYLOAD_TOO_LARGE (413) without buffering the rest. */
function readBody(req: IncomingMessage, max: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (declared > max) {
    req.resume();
    return Promise.reject(tooLarge(max));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > max) {
        failed = true;
        reject(tooLarge(max));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks, size).toString('utf8'));
    });
    req.on('error', (e) => {
      if (!failed) {
        failed = true;
        reject(invalidArg('body', `could not be read (${e.message})`));
      }
    });
  });
}

function tooLarge(max: number): SwitchboardError {
  return new SwitchboardError('SB_ERR_PAYLOAD_TOO_LARGE', `body: larger than ${max} bytes`, 'body');
}

/**
 * Path params + JSON body → the request message, through the generated proto3 JSON codec. A body that
 * is not a JSON object, or that the codec cannot read (e.g. an int64 "abc"), is INVALID_ARGUMENT.
 */
/** The path's parameters plus the query-string fields the route takes (the path's win). */
function withQuery(route: Route, params: Record<string, string>, query: string): Record<string, string> {
  if (query === '') return params;
  return { ...(checkQuery(query, route.query ?? []) as Record<string, string>), ...params };
}

function buildRequest(
  route: Route,
  params: Record<string, string>,
  body: string,
  idempotencyKey: string | string[] | undefined,
): unknown {
  let parsed: unknown = {};
  if (body.trim().length > 0) {
    try {
      parsed = JSON.parse(body);
    } catch (e) {
      throw invalidArg('body', `is not valid JSON (${(e as Error).message.slice(0, 100)})`);
    }
  } else if (route.body !== null && route.body !== '*') {
    throw invalidArg(route.body, 'is required (send it as the JSON body)');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw invalidArg(
      route.body === '*' || route.body === null ? 'body' : route.body,
      'must be a JSON object',
    );
  }
  const obj: Record<string, unknown> =
    route.body === '*' ? { ...(parsed as object) } : route.body === null ? {} : { [route.body]: parsed };
  for (const [name, value] of Object.entries(params)) {
    const dot = name.indexOf('.');
    if (dot === -1) {
      if (obj[name] !== undefined && obj[name] !== value) {
        throw invalidArg(
          name,
          `is "${String(obj[name]).slice(0, 64)}" in the body but "${value}" in the path`,
        );
      }
      obj[name] = value;
    } else {
      const outer = obj[name.slice(0, dot)] as Record<string, unknown>;
      const inner = name.slice(dot + 1);
      if (outer[inner] !== undefined && outer[inner] !== '' && outer[inner] !== value) {
        throw invalidArg(
          name,
          `is "${String(outer[inner]).slice(0, 64)}" in the body but "${value}" in the path`,
        );
      }
      outer[inner] = value;
    }
  }
  if (typeof idempotencyKey === 'string') {
    // Two different request ids for one call: whichever one we picked, a retry sending the other one
    // alone would not be recognised, so neither is guessed (as for a path/body conflict).
    const inBody = obj.requestId ?? obj.request_id;
    if (inBody !== undefined && inBody !== null && inBody !== '') {
      if (inBody !== idempotencyKey) {
        throw invalidArg(
          'requestId',
          `is "${String(inBody).slice(0, 64)}" in the body but "${idempotencyKey.slice(0, 64)}" in the idempotency-key header`,
        );
      }
    } else {
      delete obj.request_id;
      obj.requestId = idempotencyKey;
    }
  }
  // Types first: the generated codec coerces wrong ones (see json-types.ts).
  checkJsonRequest(route.rpc, obj);
  try {
    return route.request.fromJSON(obj);
  } catch (e) {
    throw invalidArg(
      'body',
      `does not match the ${route.rpc} request (${(e as Error).message.slice(0, 100)})`,
    );
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, e: SwitchboardError): void {
  const spec = errorSpec(e.code);
  const error: { code: string; message: string; field?: string } = { code: e.code, message: e.message };
  if (e.field !== undefined) error.field = e.field;
  if (spec.http === 413) res.setHeader('connection', 'close');
  const wait = retryAfterMs(e.code);
  if (wait !== null) res.setHeader('retry-after', String(Math.max(1, Math.round(wait / 1000))));
  sendJson(res, spec.http, { error });
}

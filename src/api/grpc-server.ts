/**
 * gRPC transport over the service layer: the five generated `switchboard.v1` services, `grpc.health.v1`
 * (SERVING only while the router is ready) and server reflection (so `grpcurl` works without .proto
 * files), loaded from the buf-built descriptor set `src/gen/switchboard.binpb`.
 *
 * Errors carry the catalogue's gRPC status, a message naming the field, and trailing metadata
 * `sb-error-code` and `sb-field`.
 */
import { readFileSync } from 'node:fs';
import { constants as h2constants, type ServerHttp2Stream } from 'node:http2';
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from 'pino';
import { errorSpec, retryAfterMs, SwitchboardError } from '../errors/catalogue.js';
import { AdminServiceService } from '../gen/switchboard/v1/admin.js';
import { AgentDeskServiceService, EndConversationResponse } from '../gen/switchboard/v1/agent_desk.js';
import { Event, EventServiceService, type WatchEventsRequest } from '../gen/switchboard/v1/events.js';
import { EnqueueResponse, GatewayServiceService } from '../gen/switchboard/v1/gateway.js';
import { StatisticsServiceService } from '../gen/switchboard/v1/statistics.js';
import type { PublishedEvent } from '../host/router.js';
import { bearerToken } from './auth.js';
import type { CallTrace } from './call-trace.js';
import { descriptorPath } from './descriptors.js';
import {
  type CallContext,
  SLOW_WATCHER,
  type SwitchboardService,
  toSwitchboardError,
  UNARY_METHODS,
  type UnaryMethod,
  WATCH_BUDGET_FULL,
  WATCH_BUFFER_LIMIT,
} from './service.js';
import type { TlsFiles } from './tls.js';
import { eventToProto } from './to-proto.js';
import { toResumePosition } from './validate/events.js';

export interface GrpcServerOptions {
  service: SwitchboardService;
  logger: Logger;
  /** Largest accepted request message, bytes (larger → RESOURCE_EXHAUSTED from grpc-js). */
  maxMessageBytes: number;
  /** Connection keepalive and age (see `KeepaliveOptions`); absent = grpc-js defaults (no pings, no age). */
  keepalive?: KeepaliveOptions;
  /** Serve TLS (mutual when the files include a client CA); absent = plaintext. */
  tls?: TlsFiles;
  /** `--trace-calls`: record when each Enqueue reached its handler and was answered. */
  callTrace?: CallTrace;
  /** A watcher is cut off past this many unsent bytes (default `WATCH_BUFFER_LIMIT`; tests lower it). */
  watchBufferBytes?: number;
  /** Streams per connection, idle connections, slow request messages (default `DEFAULT_GRPC_LIMITS`). */
  limits?: Partial<GrpcLimits>;
}

/**
 * What one client connection may hold, before any token is checked (a token is read only once a call's
 * request message has arrived): without these, one connection opened 200 000 streams that each sent
 * headers and never a message, and held them for good (1 GiB of the node's memory).
 */
export interface GrpcLimits {
  /** Concurrent calls (HTTP/2 streams) per connection, advertised in SETTINGS (`grpc.max_concurrent_streams`). */
  maxConcurrentStreams: number;
  /** A connection without a call for this long is closed with GOAWAY (`grpc.max_connection_idle_ms`); 0 = never. */
  maxConnectionIdleMs: number;
  /**
   * A call whose request message has not fully arrived this long after its headers is ended with
   * DEADLINE_EXCEEDED (every method of the API takes one request message, WatchEvents too).
   */
  requestMessageTimeoutMs: number;
}

/**
 * Memory one HTTP/2 session may use by Node's accounting, MiB; past it Node refuses new streams and soon
 * closes the session (GOAWAY INTERNAL_ERROR). grpc-js turns Node's 10 MiB limit off unless it is given,
 * because Node's count runs far above the memory really used: 1 000 streams waiting for their message,
 * then 1 000 more opened as the first were ended, went past 256 (RSS grew 5 MiB) and stayed under 1 024.
 * So this is a backstop above the streams limit (1 MiB of Node's count per stream allowed), not the
 * bound itself: that is `maxConcurrentStreams` with `requestMessageTimeoutMs`.
 */
export function maxSessionMemoryMb(maxConcurrentStreams: number): number {
  return Math.max(1024, maxConcurrentStreams);
}

export const DEFAULT_GRPC_LIMITS: GrpcLimits = {
  maxConcurrentStreams: 1000,
  maxConnectionIdleMs: 120_000,
  requestMessageTimeoutMs: 10_000,
};

/**
 * A server interceptor that ends a call whose request message has not arrived within `timeoutMs` of its
 * headers. grpc-js runs a handler only once the message is in, so until then nothing of ours (the token
 * check included) sees the call, and a stream that sends headers alone would otherwise stay open for good.
 */
export function requestMessageTimeout(timeoutMs: number): grpc.ServerInterceptor {
  return (_method, call) => {
    let timer: NodeJS.Timeout | undefined;
    const stop = () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    };
    const intercepted = new grpc.ServerInterceptingCall(call, {
      start(next) {
        timer = setTimeout(() => {
          timer = undefined;
          intercepted.sendStatus({
            code: grpc.status.DEADLINE_EXCEEDED,
            details: `request: the request message did not arrive within ${timeoutMs} ms of the call's headers`,
            metadata: requestTimeoutMetadata(),
          });
          // The answer ends our half only: a client that never ends its own would keep the stream, and
          // its place under max_concurrent_streams, for good. RST_STREAM(NO_ERROR) after a complete answer
          // says "send no more" (HTTP/2 §8.1). grpc-js keeps the HTTP/2 stream in a field of its base call.
          const stream = (call as unknown as { stream?: ServerHttp2Stream }).stream;
          if (stream && !stream.closed) stream.close(h2constants.NGHTTP2_NO_ERROR);
        }, timeoutMs);
        next({
          onReceiveMessage(message, nextMessage) {
            stop();
            nextMessage(message);
          },
          onReceiveHalfClose(nextHalfClose) {
            stop();
            nextHalfClose();
          },
          onCancel: stop,
        });
      },
      sendStatus(status, nextStatus) {
        stop();
        nextStatus(status);
      },
    });
    return intercepted;
  };
}

function requestTimeoutMetadata(): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('sb-error-code', 'SB_ERR_DEADLINE_EXCEEDED');
  md.set('sb-field', 'request');
  return md;
}

export interface KeepaliveOptions {
  /** Ping every connection this often (0 = never): a dead peer's connection and streams are closed. */
  timeMs: number;
  /** A ping unanswered this long closes the connection. */
  timeoutMs: number;
  /** Send GOAWAY after this long (0 = never); calls in flight get `MAX_AGE_GRACE_MS`. */
  maxConnectionAgeMs: number;
}

/** After GOAWAY for age, calls still running get this long before the connection is cut. */
const MAX_AGE_GRACE_MS = 30_000;

/** grpc-js server options for `KeepaliveOptions` (an unset option keeps grpc-js's default: off). */
export function keepaliveChannelOptions(k: KeepaliveOptions): grpc.ChannelOptions {
  return {
    ...(k.timeMs > 0 ? { 'grpc.keepalive_time_ms': k.timeMs, 'grpc.keepalive_timeout_ms': k.timeoutMs } : {}),
    ...(k.maxConnectionAgeMs > 0
      ? {
          'grpc.max_connection_age_ms': k.maxConnectionAgeMs,
          'grpc.max_connection_age_grace_ms': MAX_AGE_GRACE_MS,
        }
      : {}),
  };
}

const SERVICES = [
  AdminServiceService,
  AgentDeskServiceService,
  GatewayServiceService,
  StatisticsServiceService,
  EventServiceService,
] as const;

/** Fully-qualified names, for per-service health status. */
export const SERVICE_NAMES = [
  'switchboard.v1.AdminService',
  'switchboard.v1.AgentDeskService',
  'switchboard.v1.GatewayService',
  'switchboard.v1.StatisticsService',
  'switchboard.v1.EventService',
];

/**
 * Stands in for a request whose bytes are not a valid message. grpc-js answers a throwing deserializer
 * with INTERNAL; bad input is the caller's fault, so the handler answers INVALID_ARGUMENT instead.
 */
const MALFORMED = Object.freeze({ malformed: true });
const MALFORMED_ERROR = new SwitchboardError(
  'SB_ERR_INVALID_ARGUMENT',
  'request: the bytes are not a valid protobuf message of this method',
  'request',
);

/**
 * Replies of the two calls every conversation makes are encoded with one shared writer and handed to
 * grpc-js as a view of the encoded bytes. The generated serializer builds a new writer (and its buffer)
 * per reply and then copies the result into a Buffer; these run on the event loop for every call.
 * Encoding is synchronous and `finish()` resets the writer, also after a failed encode.
 */
const replyWriter = new BinaryWriter();
export function sharedWriterSerializer<T>(codec: {
  encode(value: T, writer: BinaryWriter): BinaryWriter;
}): grpc.serialize<T> {
  return (value) => {
    let bytes: Uint8Array;
    try {
      bytes = codec.encode(value, replyWriter).finish();
    } catch (e) {
      replyWriter.finish();
      throw e;
    }
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}
const FAST_REPLIES = new Map<string, grpc.serialize<unknown>>([
  [GatewayServiceService.enqueue.path, sharedWriterSerializer(EnqueueResponse) as grpc.serialize<unknown>],
  [
    AgentDeskServiceService.endConversation.path,
    sharedWriterSerializer(EndConversationResponse) as grpc.serialize<unknown>,
  ],
  // Events leave `watchEvents` already encoded (it counts their bytes): passed through as they are.
  [
    EventServiceService.watchEvents.path,
    ((b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength)) as grpc.serialize<unknown>,
  ],
]);

const READINESS_POLL_MS = 250;

const UNARY = new Set<string>(UNARY_METHODS);

export class GrpcApiServer {
  readonly server: grpc.Server;
  private readonly service: SwitchboardService;
  private readonly logger: Logger;
  private readonly health: HealthImplementation;
  private readonly watchers = new Set<grpc.ServerWritableStream<WatchEventsRequest, Event>>();
  private readonly credentials: grpc.ServerCredentials;
  private readinessTimer: NodeJS.Timeout | undefined;
  private serving = false;
  private readonly watchBufferBytes: number;
  private readonly callTrace: CallTrace | undefined;

  constructor(opts: GrpcServerOptions) {
    this.service = opts.service;
    this.logger = opts.logger;
    this.callTrace = opts.callTrace;
    this.watchBufferBytes = opts.watchBufferBytes ?? WATCH_BUFFER_LIMIT;
    this.credentials = opts.tls ? opts.tls.grpcCredentials() : grpc.ServerCredentials.createInsecure();
    const limits = { ...DEFAULT_GRPC_LIMITS, ...opts.limits };
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': opts.maxMessageBytes,
      'grpc.max_concurrent_streams': limits.maxConcurrentStreams,
      'grpc-node.max_session_memory': maxSessionMemoryMb(limits.maxConcurrentStreams),
      ...(limits.maxConnectionIdleMs > 0
        ? { 'grpc.max_connection_idle_ms': limits.maxConnectionIdleMs }
        : {}),
      interceptors: [requestMessageTimeout(limits.requestMessageTimeoutMs)],
      // Channelz (per-call counters and timestamps for a channelz admin service, which this server does
      // not expose) costs a tracker object and closures per call on the event loop: off.
      'grpc.enable_channelz': 0,
      ...(opts.keepalive ? keepaliveChannelOptions(opts.keepalive) : {}),
    });
    for (const def of SERVICES) {
      const safeDef: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
      const impl: grpc.UntypedServiceImplementation = {};
      for (const [key, method] of Object.entries(def as unknown as grpc.ServiceDefinition)) {
        safeDef[key] = {
          ...method,
          requestDeserialize: tolerant(method.requestDeserialize),
          responseSerialize: FAST_REPLIES.get(method.path) ?? method.responseSerialize,
        };
        if (UNARY.has(key)) impl[key] = this.unary(key as UnaryMethod);
        else if (key === 'watchEvents') impl[key] = this.watchEvents.bind(this);
        else throw new Error(`no handler for ${key}`);
      }
      this.server.addService(safeDef as grpc.ServiceDefinition, impl);
    }
    this.health = new HealthImplementation(
      Object.fromEntries(['', ...SERVICE_NAMES].map((n) => [n, 'NOT_SERVING' as const])),
    );
    this.health.addToServer(this.server);
    const reflection = loadReflection(this.logger);
    reflection?.addToServer(this.server);
  }

  /** Binds and starts; resolves with the bound port (0 = any free port). */
  async listen(host: string, port: number): Promise<number> {
    const addr = host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
    const bound = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(addr, this.credentials, (err, p) => (err ? reject(err) : resolve(p)));
    });
    this.updateHealth();
    this.readinessTimer = setInterval(() => this.updateHealth(), READINESS_POLL_MS);
    this.readinessTimer.unref();
    return bound;
  }

  /**
   * Ends event streams with UNAVAILABLE (`SB_ERR_UNAVAILABLE`: a client reconnects, to another node; an
   * OK end would read as "the server meant to stop"), lets unary calls finish for up to `graceMs`, then
   * forces the rest.
   */
  async close(graceMs: number): Promise<void> {
    if (this.readinessTimer) clearInterval(this.readinessTimer);
    this.setServing(false);
    const ending = new SwitchboardError(
      'SB_ERR_UNAVAILABLE',
      'the node is shutting down: reopen the stream (another node answers)',
    );
    for (const w of this.watchers) {
      this.service.countError('watchEvents', ending.code);
      w.emit('error', toStatus(ending));
    }
    this.watchers.clear();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      timer.unref();
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private updateHealth(): void {
    this.setServing(this.service.ready());
  }

  private setServing(serving: boolean): void {
    if (serving === this.serving) return;
    this.serving = serving;
    const status = serving ? 'SERVING' : 'NOT_SERVING';
    this.health.setStatus('', status);
    for (const n of SERVICE_NAMES) this.health.setStatus(n, status);
  }

  /** One handler per method, built once: the per-call cost is the service call itself. */
  private unary(method: UnaryMethod): grpc.handleUnaryCall<unknown, unknown> {
    const service = this.service;
    const logger = this.logger;
    const fn = service[method] as (req: unknown, ctx: CallContext) => Promise<unknown>;
    const trace = method === 'enqueue' ? this.callTrace : undefined;
    return async (call, callback) => {
      const received = trace ? trace.now() : 0;
      try {
        if (call.request === MALFORMED) {
          service.auth.authenticate(contextOf(call).token);
          throw MALFORMED_ERROR;
        }
        const answer = await fn.call(service, call.request, contextOf(call));
        if (trace) trace.record(conversationIdOf(call.request), received, trace.now());
        callback(null, answer);
      } catch (e) {
        const err = toSwitchboardError(e, logger);
        const request = call.request === MALFORMED ? undefined : (call.request as { tenant?: unknown });
        service.answerError(method, err, { token: contextOf(call).token, tenant: request?.tenant });
        // The service method times its calls; one refused before it (undecodable) is timed here.
        if (call.request === MALFORMED) service.observeCall(method, performance.now());
        callback(toStatus(err));
      }
    };
  }

  private watchEvents(call: grpc.ServerWritableStream<WatchEventsRequest, Event>): void {
    let unsubscribe: () => void = () => {};
    // Unsent bytes: grpc-js's stream is in object mode, so its `writableLength` counts messages, not
    // bytes, and a client that stopped reading grew the node's heap by ~450 B per event without ever
    // reaching the limit. Each event is encoded here and its bytes counted until its write completes
    // (held back by HTTP/2 flow control while the client does not read).
    // Also counted against the node's budget for all watchers (`WatchBudget`).
    const unsent = this.service.watcherBytes();
    let cut = false;
    /** Ends the stream with an error answer (counted like every other). */
    const end = (err: SwitchboardError) => {
      const request = call.request === (MALFORMED as unknown) ? undefined : call.request;
      this.service.answerError('watchEvents', err, { token: contextOf(call).token, tenant: request?.tenant });
      call.emit('error', toStatus(err));
    };
    try {
      if (call.request === (MALFORMED as unknown)) {
        this.service.auth.authenticate(contextOf(call).token);
        throw MALFORMED_ERROR;
      }
      const ctx = contextOf(call);
      const filter = this.service.eventFilter(call.request, ctx);
      const after = toResumePosition(call.request);
      const subscribed = () => {
        // Headers say "subscribed": without them a client on a quiet filter cannot tell a live subscription
        // from one still being set up (grpc-js sends them only with the first message; Go's stream.Header()
        // blocks until then), so it cannot know from when on it misses nothing. Resumed: once the position
        // is checked (a position the node cannot serve gets the error status alone).
        call.sendMetadata(new grpc.Metadata());
        this.watchers.add(call);
      };
      unsubscribe = this.service.subscribe(
        filter,
        ctx,
        (e: PublishedEvent) => {
          if (cut) return;
          const bytes = Event.encode(eventToProto(e)).finish();
          const slow = unsent.unsent > this.watchBufferBytes;
          if (slow || !unsent.take(bytes.byteLength)) {
            cut = true;
            // Dropped now: the stream's end waits behind the unread bytes, maybe for ever.
            unsubscribe();
            unsent.end();
            this.watchers.delete(call);
            end(new SwitchboardError('SB_ERR_OVERLOADED', slow ? SLOW_WATCHER : WATCH_BUDGET_FULL));
            return;
          }
          (call.write as (chunk: unknown, cb: () => void) => boolean)(bytes, () => {
            unsent.written(bytes.byteLength);
          });
        },
        end,
        () => {
          // The tenant was deleted: the stream ends with OK (nothing more will come).
          unsubscribe();
          this.watchers.delete(call);
          call.end();
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
            this.watchers.delete(call);
            end(err);
          },
        },
      );
      if (!after) subscribed();
    } catch (e) {
      end(toSwitchboardError(e, this.logger));
      return;
    }
    const done = () => {
      unsubscribe();
      unsent.end();
      this.watchers.delete(call);
    };
    call.on('cancelled', done);
    call.on('close', done);
    call.on('finish', done);
  }
}

function contextOf(
  call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>,
): CallContext {
  const auth = call.metadata.get('authorization')[0];
  const d = call.getDeadline();
  const deadline = d instanceof Date ? d.getTime() : d;
  return {
    token: typeof auth === 'string' ? bearerToken(auth) : undefined,
    deadline: Number.isFinite(deadline) ? deadline : Number.POSITIVE_INFINITY,
  };
}

function conversationIdOf(request: unknown): string {
  return (request as { conversation?: { id?: string } }).conversation?.id ?? '';
}

function tolerant(decode: grpc.deserialize<unknown>): grpc.deserialize<unknown> {
  return (bytes: Buffer) => {
    try {
      return decode(bytes);
    } catch {
      return MALFORMED;
    }
  };
}

/** Catalogue error → gRPC status with `sb-error-code` / `sb-field` metadata. */
export function toStatus(e: SwitchboardError): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  metadata.set('sb-error-code', e.code);
  // Metadata values must be printable ASCII; a field path may quote caller input.
  if (e.field !== undefined) metadata.set('sb-field', e.field.replace(/[^\x20-\x7e]/g, '?'));
  // gRPC's server pushback: a client retry policy waits this long instead of its own backoff.
  const wait = retryAfterMs(e.code);
  if (wait !== null) metadata.set('grpc-retry-pushback-ms', String(wait));
  return { code: errorSpec(e.code).grpc, details: e.message, metadata };
}

/**
 * Where a buf-built descriptor set is: beside this module when running from source (`src/api` →
 * `src/gen`), or in the source tree when running the compiled `dist/src/api` (tsc does not copy it).
 */
/**
 * A package definition for reflection from a descriptor set. proto-loader re-serialises descriptors
 * through protobufjs, which names map entry messages wrongly (Agent.capacity, Health's statuses) and
 * grpcurl then refuses the whole file, so the originals from buf are served instead.
 */
function loadDescriptorSet(path: string): protoLoader.PackageDefinition {
  const set = readFileSync(path);
  const pkg = protoLoader.loadFileDescriptorSetFromBuffer(set, {
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const originals = fileDescriptorProtos(set);
  for (const def of Object.values(pkg)) {
    if ('fileDescriptorProtos' in def)
      (def as { fileDescriptorProtos: Buffer[] }).fileDescriptorProtos = originals;
  }
  return pkg;
}

function loadReflection(logger: Logger): ReflectionService | null {
  const sbPath = descriptorPath('switchboard.binpb');
  if (sbPath === null) {
    logger.warn('src/gen/switchboard.binpb not found: gRPC reflection is off (run `npm run proto`)');
    return null;
  }
  const healthPath = descriptorPath('health.binpb');
  const pkg = { ...loadDescriptorSet(sbPath), ...(healthPath === null ? {} : loadDescriptorSet(healthPath)) };
  // The two proto-loader copies (0.7 under @grpc/reflection, 0.8 here) describe packages the same way.
  return new ReflectionService(pkg as unknown as ConstructorParameters<typeof ReflectionService>[0]);
}

/** The serialised `FileDescriptorProto`s of a `FileDescriptorSet` (field 1, repeated, length-delimited). */
function fileDescriptorProtos(set: Uint8Array): Buffer[] {
  const reader = new BinaryReader(set);
  const files: Buffer[] = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) files.push(Buffer.from(reader.bytes()));
    else reader.skip(wireType);
  }
  return files;
}

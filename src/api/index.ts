/**
 * Entry point of the API for the node composition (`src/node.ts`): one service layer, two transports.
 *
 *   const api = createApi({ router, clock, auth, registry, logger });
 *   const { grpcPort, httpPort } = await api.start({ host: '0.0.0.0', grpcPort: 50051, httpPort: 8080 });
 *   ...
 *   await api.stop(5_000);
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Clock } from '../cluster/ports.js';
import type { PartitionRouter } from '../host/router.js';
import type { CallTrace } from './call-trace.js';
import { GrpcApiServer, type GrpcLimits, type KeepaliveOptions } from './grpc-server.js';
import { HttpApiServer, type HttpLimits } from './http-server.js';
import { SwitchboardService, type TenantLimits, type WatcherLimits } from './service.js';
import type { TlsFiles } from './tls.js';

export { CallTrace } from './call-trace.js';
export { GrpcApiServer, toStatus } from './grpc-server.js';
export { HttpApiServer } from './http-server.js';
export { ROUTES } from './routes.js';
export { type CallContext, SwitchboardService, UNARY_METHODS } from './service.js';
export { TlsError, TlsFiles } from './tls.js';

/** gRPC's own default; the same limit applies to HTTP bodies. */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

export interface ApiOptions {
  router: PartitionRouter;
  clock: Clock;
  /** Per-tenant tokens (tenant → token, or two during a rotation) and an admin token; none at all = auth off. */
  auth: { tokens: Record<string, string | readonly string[]>; adminToken?: string };
  /** `switchboard_command_duration_seconds` is registered here; `/metrics` serves it. */
  registry: Registry;
  logger: Logger;
  /** Largest gRPC message / HTTP body accepted, bytes (default 4 MiB). */
  maxMessageBytes?: number;
  /** gRPC connection keepalive pings and maximum age (default: grpc-js's, i.e. none). */
  keepalive?: KeepaliveOptions;
  /** TLS on both ports (see `tls.ts`); absent = plaintext. */
  tls?: TlsFiles;
  /** `--trace-calls`: per-Enqueue handler times, written when the API stops. */
  callTrace?: CallTrace;
  /** Watchers (SSE and gRPC) are cut off past this many unsent bytes (default `WATCH_BUFFER_LIMIT`; tests lower it). */
  watchBufferBytes?: number;
  /** Most queues / agents per tenant (default `DEFAULT_TENANT_LIMITS`). */
  tenantLimits?: TenantLimits;
  /** Event watchers per tenant and their node-wide buffer budget (default `DEFAULT_WATCHER_LIMITS`). */
  watcherLimits?: Partial<WatcherLimits>;
  /** Connection limits and timeouts of each port (defaults: `DEFAULT_GRPC_LIMITS`, `DEFAULT_HTTP_LIMITS`). */
  limits?: { grpc?: Partial<GrpcLimits>; http?: Partial<HttpLimits> };
}

export interface Api {
  /** Binds both servers; ports 0 pick free ports, and the bound ones are returned. */
  start(opts: {
    host: string;
    grpcPort: number;
    httpPort: number;
  }): Promise<{ grpcPort: number; httpPort: number }>;
  /** Stops accepting, finishes in-flight calls for up to `graceMs` (default 5 s), ends event streams. */
  stop(graceMs?: number): Promise<void>;
  /** The transport-independent service layer (for in-process callers and tests). */
  readonly service: SwitchboardService;
}

export function createApi(opts: ApiOptions): Api {
  const service = new SwitchboardService(opts);
  const maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (!service.auth.enabled) {
    opts.logger.warn('no API tokens configured: authentication is OFF (set --tokens / --admin-token)');
  }
  const grpcServer = new GrpcApiServer({
    service,
    logger: opts.logger,
    maxMessageBytes,
    ...(opts.keepalive ? { keepalive: opts.keepalive } : {}),
    ...(opts.tls ? { tls: opts.tls } : {}),
    ...(opts.callTrace ? { callTrace: opts.callTrace } : {}),
    ...(opts.watchBufferBytes !== undefined ? { watchBufferBytes: opts.watchBufferBytes } : {}),
    ...(opts.limits?.grpc ? { limits: opts.limits.grpc } : {}),
  });
  const httpServer = new HttpApiServer({
    service,
    registry: opts.registry,
    logger: opts.logger,
    maxBodyBytes: maxMessageBytes,
    ...(opts.tls ? { tls: opts.tls } : {}),
    ...(opts.watchBufferBytes !== undefined ? { watchBufferBytes: opts.watchBufferBytes } : {}),
    ...(opts.limits?.http ? { limits: opts.limits.http } : {}),
  });
  return {
    service,
    async start({ host, grpcPort, httpPort }) {
      opts.tls?.watch();
      const g = await grpcServer.listen(host, grpcPort);
      const h = await httpServer.listen(host, httpPort);
      return { grpcPort: g, httpPort: h };
    },
    async stop(graceMs = 5_000) {
      await Promise.all([grpcServer.close(graceMs), httpServer.close(graceMs)]);
      opts.tls?.close();
      if (opts.callTrace) {
        try {
          opts.callTrace.write();
          opts.logger.info({ file: opts.callTrace.file }, 'call trace written');
        } catch (e) {
          opts.logger.error({ err: e, file: opts.callTrace.file }, 'could not write the call trace');
        }
      }
    },
  };
}

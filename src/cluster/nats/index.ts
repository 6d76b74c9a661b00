/**
 * Cluster-mode ports: JetStream command log, NATS KV ownership, snapshots in MongoDB (`MONGO_URL`) or,
 * without it, in JetStream, and the event publisher. One NATS connection per node carries all of it.
 */
import { readFileSync } from 'node:fs';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import type { PartitionRouter } from '../../host/router.js';
import type { NodePorts } from '../index.js';
import { MongoSnapshotStore } from '../mongo/snapshot-store.js';
import { type Clock, type EventStore, systemClock } from '../ports.js';
import { JetStreamCommandLog } from './command-log.js';
import { EventFlushingSnapshotStore } from './event-flushing-snapshots.js';
import { JetStreamEventPublisher, purgeTenantEvents } from './events.js';
import { ClusterPartitionRouter } from './forwarding.js';
import { LeaseFencedCommandLog } from './lease-fenced-log.js';
import { KvOwnership } from './ownership.js';
import { JetStreamSnapshotStore } from './snapshot-store.js';
import { DEFAULT_STARTUP_MS, untilReady } from './startup.js';

export { JetStreamCommandLog } from './command-log.js';
export { EventFlushingSnapshotStore } from './event-flushing-snapshots.js';
export { eventMsgId, JetStreamEventPublisher } from './events.js';
export { ClusterPartitionRouter } from './forwarding.js';
export { LeaseFencedCommandLog } from './lease-fenced-log.js';
export { KvOwnership } from './ownership.js';
export { JetStreamSnapshotStore } from './snapshot-store.js';

export interface ClusterPortsConfig {
  /** Comma-separated NATS URLs. */
  natsUrl: string;
  /** NATS credentials file (user JWT + NKey seed; `--nats-creds`). */
  credsFile?: string;
  /**
   * TLS to the NATS servers (`--nats-tls-*`): a CA for their certificates and/or a client certificate.
   * Set at all ⇒ the connection must be TLS. (`tls://` URLs and servers that require TLS also get it.)
   */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** How long the first connection may take, ms (default 20 000, the client's own default). */
  connectTimeoutMs?: number;
  /**
   * How long start-up keeps retrying JetStream steps that fail because JetStream is not ready yet (no
   * leader, no responders, 503), ms (default 30 000, `--nats-startup-ms`; see `startup.ts`).
   */
  startupMs?: number;
  /** MongoDB URL for snapshots; absent = snapshots in JetStream (`SB_SNAPSHOTS`). */
  mongoUrl?: string;
  nodeId: string;
  /** Replicas of every stream and bucket (1 for one server; 3 in production). Default 1 (`--nats-replicas`). */
  replicas?: number;
  /** `file` (default) or `memory` JetStream storage. */
  storage?: 'file' | 'memory';
  /** Lease TTL, ms (default 2000, `--lease-ttl-ms`; see `ownership.ts`). */
  leaseTtlMs?: number;
  /**
   * Publish events to `SB_EVENTS` (default true; `--event-stream off`). Off, gateways only
   * get the live `WatchEvents` stream; on, each command batch with events costs one more JetStream
   * message (one more fsync on the NATS server with `sync_interval: always`) beside its log append.
   */
  events?: boolean;
  /** Let several appends of one partition be in flight (`--nats-pipeline on`; default false). */
  pipelined?: boolean;
  /** Streams the command log is spread over (`--nats-command-streams`, default 1; see `command-log.ts`). */
  commandStreams?: number;
  clock?: Clock;
  /** Called by ownership before a handed-over lease is deleted (the host drains the partition here). */
  beforeRelease?: (partition: string) => Promise<void>;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
  /** A pino-style logger; used when `log` is not given. */
  logger?: { info(o: object, msg: string): void };
}

/** The node ports plus what only cluster mode has. */
export interface ClusterPorts extends NodePorts {
  mode: 'cluster';
  log: LeaseFencedCommandLog;
  nc: NatsConnection;
  ownership: KvOwnership;
  events: JetStreamEventPublisher | null;
  snapshotBackend: 'mongodb' | 'jetstream';
}

/**
 * Connects to NATS (and MongoDB), creates the streams and buckets or brings them to this node's settings
 * (`--nats-replicas` included), starts ownership.
 */
export async function createClusterPorts(config: ClusterPortsConfig): Promise<ClusterPorts> {
  const { servers, auth } = parseNatsUrls(config.natsUrl);
  const nc = await connect({
    servers,
    ...auth,
    ...(config.credsFile ? { authenticator: credsAuthenticator(readFileSync(config.credsFile)) } : {}),
    ...(config.tls ? { tls: config.tls } : {}),
    ...(config.connectTimeoutMs ? { timeout: config.connectTimeoutMs } : {}),
    name: `switchboard-${config.nodeId}`,
    // Keep trying through a NATS restart: leases lapse meanwhile, nothing is acknowledged without a quorum.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    pingInterval: 5000,
  });
  const log_ =
    config.log ??
    (config.logger
      ? (msg: string, fields?: Record<string, unknown>) => config.logger?.info(fields ?? {}, msg)
      : undefined);
  const common = {
    replicas: config.replicas ?? 1,
    storage: config.storage ?? 'file',
    // Streams and buckets made before with other settings are brought to these, logged (`streams.ts`).
    ...(log_ ? { log: log_ } : {}),
  };
  const startupMs = config.startupMs ?? DEFAULT_STARTUP_MS;
  const ready = { until: Date.now() + startupMs, ...(log_ ? { log: log_ } : {}) };
  // `--nats-pipeline on`: `--appends-in-flight` applies to the JetStream log too (see JetStreamLogOptions).
  const jsLog = await untilReady(
    'command log streams',
    () =>
      JetStreamCommandLog.open(nc, {
        ...common,
        pipelined: config.pipelined ?? false,
        streams: config.commandStreams ?? 1,
        // Recorded by the first node, checked at every start after (see `ensureCommandStream`).
        snapshotStore: config.mongoUrl ? 'mongodb' : 'jetstream',
      }),
    ready,
  );
  const store = config.mongoUrl
    ? await MongoSnapshotStore.connect(config.mongoUrl)
    : await untilReady('snapshot stream', () => JetStreamSnapshotStore.open(nc, common), ready);
  const events =
    config.events === false
      ? null
      : await untilReady('event stream', () => JetStreamEventPublisher.open(nc, common), ready);
  const snapshots = events ? new EventFlushingSnapshotStore(store, events) : store;
  // DeleteTenant purges the tenant's stored events; with `--event-stream off` too (a stream kept from
  // when it was on still holds them).
  const eventStore: EventStore = events ?? {
    remove: async (t) => purgeTenantEvents(await jetstreamManager(nc), t),
  };
  let log: LeaseFencedCommandLog | null = null;
  const ownership = new KvOwnership(nc, {
    nodeId: config.nodeId,
    ...common,
    ...(config.leaseTtlMs !== undefined ? { leaseTtlMs: config.leaseTtlMs } : {}),
    // What is left of the start-up allowance (the streams above may have used some).
    startupMs: Math.max(0, ready.until - Date.now()),
    // Handover waits for the partition's appends in flight, so the next owner reads a settled log.
    beforeRelease: async (p: string) => {
      await log?.drain(p);
      await config.beforeRelease?.(p);
    },
    // Lease intervals on the monotonic clock, whatever clock stamps the commands.
  });
  log = new LeaseFencedCommandLog(jsLog, ownership);
  await ownership.start();
  return {
    mode: 'cluster',
    nc,
    log,
    snapshots,
    eventStore,
    ownership,
    events,
    snapshotBackend: config.mongoUrl ? 'mongodb' : 'jetstream',
    clock: config.clock ?? systemClock,
    // Partitions are loaded when this node gains their lease (or is asked), never all at start.
    knownPartitions: async () => [],
    async close() {
      await ownership.stop();
      // Bounded: with NATS gone the events stay unstored, and the partitions' next owners re-publish them.
      await Promise.race([events?.flush(), new Promise((r) => setTimeout(r, 5000).unref())]);
      events?.close();
      await snapshots.close();
      await log.close();
      await nc.drain();
    },
  };
}

/**
 * `NATS_URL` may carry credentials (`nats://user:password@host:4222`, or `nats://token@host:4222`); the
 * client does not read them from the URL, so they become connect options (the first URL's win).
 */
export function parseNatsUrls(natsUrl: string): {
  servers: string[];
  auth: { user?: string; pass?: string; token?: string };
} {
  const auth: { user?: string; pass?: string; token?: string } = {};
  const servers = natsUrl
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const m = /^([a-z]+:\/\/)([^@/]*)@(.*)$/i.exec(s);
      if (!m) return s;
      const [user, pass] = (m[2] as string).split(':', 2).map((x) => decodeURIComponent(x));
      if (auth.user === undefined && auth.token === undefined && user) {
        if (pass === undefined) auth.token = user;
        else Object.assign(auth, { user, pass });
      }
      return `${m[1]}${m[3]}`;
    });
  return { servers, auth };
}

/** Is `ports` cluster ports (as returned by {@link createClusterPorts})? */
export function isClusterPorts(ports: NodePorts): ports is ClusterPorts {
  return ports.mode === 'cluster' && (ports as Partial<ClusterPorts>).nc !== undefined;
}

/**
 * Wraps the node's local router (`LocalPartitionRouter` over the partition host) for cluster mode:
 * forwards to lease holders, answers forwarded calls, publishes owned tenants' events. Started.
 */
export function createClusterRouter(
  ports: ClusterPorts,
  local: PartitionRouter,
  opts: { defaultDeadlineMs?: number; log?: (msg: string, fields?: Record<string, unknown>) => void } = {},
): ClusterPartitionRouter {
  const router = new ClusterPartitionRouter({
    nc: ports.nc,
    ownership: ports.ownership,
    local,
    clock: ports.clock,
    ...(ports.events ? { events: ports.events } : {}),
    ...opts,
  });
  router.start();
  return router;
}

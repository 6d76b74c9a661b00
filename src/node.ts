/**
 * Composition root: config → ports (embedded files or NATS/Mongo) → worker pool → actor host → router →
 * API servers. Nothing else in the code base decides which adapter runs.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino, { type Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { CallTrace, createApi, TlsFiles } from './api/index.js';
import { ReloadingFiles } from './api/reloading-files.js';
import type { DataDirLockOptions, LockLoss, LogIo, LogWriteError, NodePorts } from './cluster/index.js';
import * as cluster from './cluster/index.js';
import { type Clock, type SnapshotStore, systemClock } from './cluster/ports.js';
import { agentSeriesPerTenant, ConfigError, type NodeConfig, parseTokenList } from './config/index.js';
import { OptionFileError, readOptionFile } from './config/option-file.js';
import { type DeleteFaults, PartitionHost } from './host/partition-host.js';
import { RepeatedLines } from './host/repeated-lines.js';
import { LocalPartitionRouter } from './host/router.js';
import { createWorkerPool } from './host/worker-pool.js';
import { createNodeMetrics, type NodeMetrics } from './metrics/index.js';

export interface RunningNode {
  grpcPort: number;
  httpPort: number;
  nodeId: string;
  mode: 'embedded' | 'cluster';
  host: PartitionHost;
  router: LocalPartitionRouter;
  registry: Registry;
  logger: Logger;
  /** Graceful stop: API stops accepting, in-flight work finishes, partitions are snapshotted, ports closed. */
  stop(): Promise<void>;
  /** Checks the TLS files and the tokens file now instead of at the next `--reload-seconds` tick (SIGHUP). */
  reloadFiles(): void;
}

export interface StartOptions {
  logger?: Logger;
  clock?: Clock;
  /** Enables the worker crash hook (tests). */
  testHooks?: boolean;
  /** Runs after recovery, before the API listens (e.g. loading the demo tenant). */
  beforeListen?: (router: LocalPartitionRouter) => Promise<void>;
  /** Wraps the snapshot store the host saves to and loads from (tests: to hold a save). */
  wrapSnapshots?: (store: SnapshotStore) => SnapshotStore;
  /** Test hook: where a DeleteTenant stops half-way, as if the node crashed there. */
  deleteFaults?: DeleteFaults;
  /** Test hook (embedded): the command log's file writes (`FileCommandLogOptions.io`), e.g. a full disk. */
  logIo?: Partial<LogIo>;
  /** The window of lines that come in floods (`RepeatedLines`; ms, default 10 000). Tests shorten it. */
  logSummaryMs?: number;
  /** Test hook (embedded): the data directory lock's staleness limit and renewal period. */
  dataDirLock?: Pick<DataDirLockOptions, 'staleMs' | 'renewMs'>;
  /**
   * Embedded: called once the node found its data directory's lock taken over by another node and
   * fenced itself (it writes nothing more, refuses every call with `SB_ERR_UNAVAILABLE`, is not ready).
   * The CLI exits then (code 3); in-process the node stays fenced until stopped.
   */
  onFenced?: (loss: LockLoss) => void;
}

async function openPorts(
  config: NodeConfig,
  nodeId: string,
  clock: Clock,
  logger: Logger,
  beforeRelease: (partition: string) => Promise<void>,
  onLogWriteError: (info: LogWriteError) => void,
  logIo?: Partial<LogIo>,
  lock?: Pick<DataDirLockOptions, 'staleMs' | 'renewMs'>,
): Promise<NodePorts> {
  if (config.natsUrl !== '') {
    return cluster.createClusterPorts({
      natsUrl: config.natsUrl,
      ...natsSecurity(config),
      ...(config.mongoUrl ? { mongoUrl: config.mongoUrl } : {}),
      replicas: config.natsReplicas,
      startupMs: config.natsStartupMs,
      events: config.eventStream === 'on',
      pipelined: config.natsPipeline === 'on',
      commandStreams: config.natsCommandStreams,
      leaseTtlMs: config.leaseTtlMs,
      nodeId,
      clock,
      logger,
      beforeRelease,
    });
  }
  return cluster.createEmbeddedPorts({
    dataDir: resolve(config.dataDir),
    nodeId,
    fsync: config.fsync,
    fsyncIntervalMs: config.fsyncIntervalMs,
    logWrites: config.logWrites,
    logPreallocateBytes: config.logPreallocateKib * 1024,
    clock,
    onTornTail: (info) => logger.warn(info, 'command log had a torn tail (crash mid-write): truncated'),
    onLogWriteError,
    ...(logIo ? { logIo } : {}),
    ...(lock ? { lock } : {}),
  });
}

/** The node's id: `--node-id`, else `<hostname>-<pid>`. */
export function nodeIdOf(config: NodeConfig): string {
  return config.nodeId || `${hostname()}-${process.pid}`;
}

/**
 * The node's logger: pino JSON with `pid`, `hostname` and `nodeId` on every line (pino's own base has
 * the first two; replacing it loses them), so lines from many pods and nodes can be told apart.
 */
export function nodeLogger(config: NodeConfig): Logger {
  return pino({
    level: config.logLevel,
    base: { pid: process.pid, hostname: hostname(), nodeId: nodeIdOf(config) },
  });
}

/** Starts a node and resolves once it listens and every known partition is recovered. */
export async function startNode(config: NodeConfig, opts: StartOptions = {}): Promise<RunningNode> {
  const logger = opts.logger ?? nodeLogger(config);
  const clock = opts.clock ?? systemClock;
  const nodeId = nodeIdOf(config);
  // Before anything else: unusable certificate files are a configuration error, not a failed recovery.
  const tls = tlsFromConfig(config, logger);
  const tokensFile = tokensFromFile(config, logger);
  checkNatsFiles(config);
  if (config.workerHeapMb > 0 && maxOldSpaceFlag())
    // V8 lets the process-wide flag win over a worker's resourceLimits (nodejs/node#43991).
    logger.warn(
      { workerHeapMb: config.workerHeapMb },
      '--max-old-space-size is set for the process: it overrides --worker-heap-mb in every worker thread',
    );
  let host: PartitionHost | null = null;
  /** While stopping: when the shutdown grace ends (a hand-over's snapshot waits no longer than that). */
  let graceEnds: number | null = null;
  // Cluster mode: told when a tenant is deleted here, so that its watchers on every node end.
  let clusterRouter: ReturnType<typeof cluster.createClusterRouter> | null = null;
  // Cluster handover: the lease is released only after the host has drained and snapshotted the partition.
  // Embedded: a failed log write is counted (the metrics exist once the ports are open) and logged. On a
  // full disk every append fails (and the zeros written ahead before it): the first line of each kind
  // (op and code) is logged, then one a window with how many more there were (`repeated-lines.ts`); the
  // host's lines for the same failed calls go the same way.
  let metricsOf: NodeMetrics | null = null;
  const repeated = new RepeatedLines(logger, opts.logSummaryMs);
  const onLogWriteError = (info: LogWriteError) => {
    metricsOf?.logWriteFailures.inc({ op: info.op, code: info.code });
    if (info.op === 'preallocate') {
      repeated.log(
        'warn',
        `log ${info.op} ${info.code}`,
        { ...info },
        'command log could not write ahead of its data (the disk is filling up?): appends grow the file themselves until they fail',
        info.partition,
      );
      return;
    }
    repeated.log(
      'error',
      `log ${info.op} ${info.code} ${info.rewrite}`,
      { ...info },
      info.rewrite
        ? 'command log write failed: its appends fail; the file is rewritten from what the node can read before the next one (the disk may not hold what the page cache shows)'
        : 'command log write failed: the disk is full; its appends fail until space is freed (nothing acknowledged is lost)',
      info.partition,
    );
  };
  const opened = await openPorts(
    config,
    nodeId,
    clock,
    logger,
    async (p) => {
      await host?.drain(p, 2000, graceEnds === null ? undefined : Math.max(1000, graceEnds - Date.now()));
    },
    onLogWriteError,
    opts.logIo,
    opts.dataDirLock,
  );
  // Embedded: another node took the data directory's lock over (this one was stopped past the
  // staleness limit, or the volume is shared by mistake). Its writes are refused from the moment the
  // loss is known (the lock's gate); here the node stops serving and says who holds the lock now.
  let fenced: string | null = null;
  opened.onDataDirLockLost?.((loss) => {
    const h = loss.holder;
    fenced = `this node lost its data directory's lock to ${h ? `process ${h.pid} on ${h.host}` : 'another node'} (${loss.reason}); retry on the node that holds it`;
    host?.fence(fenced);
    logger.fatal(
      { dataDir: loss.dir, holder: h, reason: loss.reason },
      'data directory lock lost: another node holds it now; this node writes nothing more, refuses every call and exits',
    );
    opts.onFenced?.(loss);
  });
  const ports: NodePorts = opts.wrapSnapshots
    ? Object.assign(Object.create(opened) as NodePorts, { snapshots: opts.wrapSnapshots(opened.snapshots) })
    : opened;
  try {
    await ports.ownership.start();
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const pool = createWorkerPool({
      kind: config.pool,
      threads: config.workers,
      testHooks: opts.testHooks ?? false,
      workerHeapMb: config.workerHeapMb,
    });
    const metrics = createNodeMetrics(registry, {
      inflight: () => host?.inflightCount ?? 0,
      partitionsOwned: () => host?.partitionsOwned ?? 0,
      partitionsHeld: () => host?.partitionsHeld ?? 0,
      partitionsRefused: () => host?.partitionsRefused ?? 0,
      eventHistory: () => host?.eventHistoryStats() ?? { events: 0, evicted: 0 },
      queueStats: () => host?.allQueueStats() ?? Promise.resolve([]),
      ...(ports.ownership.leaseLosses ? { leaseLosses: () => ports.ownership.leaseLosses ?? {} } : {}),
      ...(cluster.isClusterPorts(ports)
        ? { leaseRenewalFailures: () => ports.ownership.renewalFailures }
        : {}),
      ...(tls ? { tlsCertificate: () => tls.current.cert } : {}),
      agentSeriesLimit: config.agentSeriesLimit,
      agentSeriesPerTenant: agentSeriesPerTenant(config),
      snapshotAgeSeconds: () => host?.oldestUnsavedSnapshotSeconds ?? 0,
      partitionTimeAheadSeconds: () => host?.partitionTimeAheadSeconds ?? 0,
      build: { version: packageVersion(), node: nodeId },
    });
    metricsOf = metrics;
    host = new PartitionHost({
      repeatedLines: repeated,
      ports,
      pool,
      metrics,
      logger,
      maxInflight: config.maxInflight,
      maxInflightPerTenant: config.maxInflightPerTenant,
      // Cluster mode resumes from SB_EVENTS (with --event-stream off, from the owner's history).
      eventHistory: ports.mode === 'embedded' || config.eventStream !== 'on' ? config.eventHistory : 0,
      // Embedded: a graceful stop saves it there for the next start (its final snapshots trim the logs).
      ...(ports.mode === 'embedded'
        ? { eventHistoryFile: join(resolve(config.dataDir), 'event-history.jsonl') }
        : {}),
      maxLoopLagMs: config.maxLoopLagMs,
      customerLimit: config.customerLimit,
      snapshotEveryCommands: config.snapshotEvery,
      snapshotEverySeconds: config.snapshotSeconds,
      callsPerSlot: config.callsPerWorker,
      // The file log pipelines; so does the JetStream log once a partition is fenced (see fence()).
      appendsPerPartition: ports.mode === 'embedded' || ports.log.pipelined ? config.appendsInFlight : 1,
      onTenantDeleted: (t) => clusterRouter?.tenantDeleted(t),
      ...(opts.deleteFaults ? { deleteFaults: opts.deleteFaults } : {}),
    });
    if (fenced !== null) host.fence(fenced);
    const t0 = performance.now();
    await host.start();
    logger.info(
      { mode: ports.mode, partitions: host.partitionsOwned, ms: Math.round(performance.now() - t0) },
      'recovery complete',
    );
    const router = new LocalPartitionRouter(host);
    await opts.beforeListen?.(router);
    // Cluster mode: forward to lease holders over NATS, answer forwarded calls, publish events.
    clusterRouter = cluster.isClusterPorts(ports)
      ? cluster.createClusterRouter(ports, router, { log: (msg, fields) => logger.info(fields ?? {}, msg) })
      : null;
    const api = createApi({
      router: clusterRouter ?? router,
      clock,
      auth: {
        tokens: tokensFile ? tokensFile.value : config.tokens,
        ...(config.adminToken ? { adminToken: config.adminToken } : {}),
      },
      registry,
      logger,
      maxMessageBytes: config.maxMessageBytes,
      keepalive: {
        timeMs: config.grpcKeepaliveMs,
        timeoutMs: config.grpcKeepaliveTimeoutMs,
        maxConnectionAgeMs: config.grpcMaxConnectionAgeMs,
      },
      tenantLimits: { maxQueues: config.maxQueuesPerTenant, maxAgents: config.maxAgentsPerTenant },
      watcherLimits: {
        perTenant: config.maxWatchersPerTenant,
        bufferBudgetBytes: config.watchBufferBudgetMb * 1024 * 1024,
      },
      limits: {
        grpc: {
          maxConcurrentStreams: config.grpcMaxConcurrentStreams,
          maxConnectionIdleMs: config.grpcMaxConnectionIdleMs,
        },
        http: { maxConnections: config.httpMaxConnections },
      },
      ...(tls ? { tls } : {}),
      ...(config.traceCalls ? { callTrace: new CallTrace(config.traceCalls) } : {}),
    });
    if (tokensFile) {
      const adminToken = config.adminToken;
      tokensFile.onChange((tokens) => api.service.setAuth({ tokens, ...(adminToken ? { adminToken } : {}) }));
      tokensFile.watch(config.reloadSeconds * 1000);
    }
    const { grpcPort, httpPort } = await api.start({
      host: config.host,
      grpcPort: config.grpcPort,
      httpPort: config.httpPort,
    });
    logger.info(
      {
        grpcPort,
        httpPort,
        nodeId,
        mode: ports.mode,
        workers: config.workers,
        pool: config.pool,
        fsync: config.fsync,
      },
      'listening',
    );
    const h = host;
    let stopping: Promise<void> | null = null;
    return {
      grpcPort,
      httpPort,
      nodeId,
      mode: ports.mode,
      host: h,
      router,
      registry,
      logger,
      reloadFiles() {
        tls?.check();
        tokensFile?.check();
      },
      stop() {
        stopping ??= (async () => {
          logger.info('stopping: no new calls, finishing in-flight work');
          tokensFile?.close();
          // One grace for the whole drain (the orchestrator's budget), not one per step.
          const until = Date.now() + config.shutdownGraceMs;
          graceEnds = until;
          await api.stop(config.shutdownGraceMs);
          if (cluster.isClusterPorts(ports)) {
            // Hand the partitions over one at a time per worker thread while this node still answers
            // forwarded calls: each partition stops taking commands, drains, takes its final snapshot
            // and has its key deleted, and the next owner claims it at once; the others are served here
            // meanwhile. Stopping the router first left every tenant unreachable for the whole stop.
            logger.info({ partitions: h.partitionsOwned }, 'stopping: handing partitions over');
            await ports.ownership.handOver({
              withinMs: Math.max(0, until - Date.now()),
              concurrency: config.workers,
            });
          }
          await clusterRouter?.stop();
          await h.stop(Math.max(0, until - Date.now()));
          await ports.close();
          logger.info('stopped: partitions snapshotted, log closed');
        })();
        return stopping;
      },
    };
  } catch (e) {
    await host?.stop(0).catch(() => undefined);
    await ports.close().catch(() => undefined);
    throw e;
  }
}

/** The TLS files of the configuration, read and checked now (`ConfigError` when unusable); none = plaintext. */
function tlsFromConfig(config: NodeConfig, logger: Logger): TlsFiles | undefined {
  if (config.tlsCert === '') return undefined;
  try {
    return new TlsFiles(
      {
        certFile: config.tlsCert,
        keyFile: config.tlsKey,
        ...(config.tlsClientCa ? { clientCaFile: config.tlsClientCa } : {}),
        reloadMs: config.reloadSeconds * 1000,
      },
      {
        reloaded: () => logger.info({ cert: config.tlsCert }, 'TLS files reloaded'),
        rejected: (err) =>
          logger.error(
            { err },
            'TLS files changed but cannot be used: the previous certificate stays in service',
          ),
      },
    );
  } catch (e) {
    if (e instanceof OptionFileError) throw new ConfigError([e.message]);
    throw e;
  }
}

/** `--nats-creds` and `--nats-tls-*` as connect options (absent when not set). */
function natsSecurity(config: NodeConfig): {
  credsFile?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
} {
  const tls = {
    ...(config.natsTlsCa ? { caFile: config.natsTlsCa } : {}),
    ...(config.natsTlsCert ? { certFile: config.natsTlsCert, keyFile: config.natsTlsKey } : {}),
  };
  return {
    ...(config.natsCreds ? { credsFile: config.natsCreds } : {}),
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
  };
}

/** The NATS credential and certificate files must be readable (and a creds file look like one) at start. */
function checkNatsFiles(config: NodeConfig): void {
  const issues: string[] = [];
  const files: [string, string][] = [
    ['--nats-creds', config.natsCreds],
    ['--nats-tls-ca', config.natsTlsCa],
    ['--nats-tls-cert', config.natsTlsCert],
    ['--nats-tls-key', config.natsTlsKey],
  ];
  for (const [option, path] of files) {
    if (!path) continue;
    let text: string;
    try {
      text = readOptionFile(option, path).toString('utf8');
    } catch (e) {
      issues.push((e as Error).message);
      continue;
    }
    if (
      option === '--nats-creds' &&
      !(/BEGIN NATS USER JWT/.test(text) && /BEGIN USER NKEY SEED/.test(text))
    ) {
      issues.push(`${option} ${path}: not a NATS credentials file (no user JWT and NKey seed blocks)`);
    }
  }
  if (config.natsUrl === '' && files.some(([, p]) => p !== '')) {
    issues.push('--nats-creds / --nats-tls-* apply to cluster mode: set --nats-url (NATS_URL) too');
  }
  if (issues.length > 0) throw new ConfigError(issues);
}

/**
 * `--tokens-file`, read now (`ConfigError` when unreadable, invalid or empty) and re-read when it
 * changes; a changed file that is invalid or empty keeps the tokens in service and is logged.
 */
function tokensFromFile(
  config: NodeConfig,
  logger: Logger,
): ReloadingFiles<Record<string, string[]>> | undefined {
  const path = config.tokensFile;
  if (path === '') return undefined;
  const read = (): Record<string, string[]> => {
    const r = parseTokenList(readOptionFile('--tokens-file', path).toString('utf8'));
    if ('error' in r) throw new OptionFileError(`--tokens-file ${path}: ${r.error}`);
    // An emptied file must not switch authentication off.
    if (Object.keys(r.tokens).length === 0)
      throw new OptionFileError(`--tokens-file ${path}: no tenant=token pair`);
    return r.tokens;
  };
  try {
    return new ReloadingFiles([path], read, {
      reloaded: () => logger.info({ tokensFile: path }, 'API tokens reloaded'),
      rejected: (err) =>
        // Once per change of the file (not at every check); the message names lines, never their text.
        logger.error(
          { tokensFile: path, err: err.message },
          'API tokens file changed but cannot be used: the tokens in service stay',
        ),
    });
  } catch (e) {
    if (e instanceof OptionFileError) throw new ConfigError([e.message]);
    throw e;
  }
}

/**
 * The version in Switchboard's package.json (src/ and dist/src/ sit at different depths below it, and the
 * image keeps it in /app), for `switchboard_build_info`; `unknown` if it cannot be found.
 */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'switchboard' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not here: one level up
    }
  }
  return 'unknown';
}

/** Whether the process runs with V8's `--max-old-space-size` (on its command line or in NODE_OPTIONS). */
function maxOldSpaceFlag(): boolean {
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  return flags.some((f) => /^--max[-_]old[-_]space[-_]size\b/.test(f));
}

/**
 * Node configuration: command-line flags, each with an environment variable; a flag wins over its
 * variable, the variable over the default. Validated with zod; `parseConfig` never exits — the CLI prints
 * `ConfigError.issues` and exits with code 2.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ADMIN_TENANT } from '../api/auth.js';
import { checkTenant } from '../api/validate/common.js';

interface Option {
  flag: string;
  env: string | null;
  kind: 'string' | 'boolean';
  default: string;
  help: string;
}

/** Every option, in `--help` order. The first block is the cross-team contract; the rest are tuning. */
export const OPTIONS = {
  grpcPort: {
    flag: 'grpc-port',
    env: 'SB_GRPC_PORT',
    kind: 'string',
    default: '50051',
    help: 'gRPC port (0 = any free port)',
  },
  httpPort: {
    flag: 'http-port',
    env: 'SB_HTTP_PORT',
    kind: 'string',
    default: '8080',
    help: 'HTTP port: /healthz /readyz /metrics /v1/… (0 = any free port)',
  },
  host: { flag: 'host', env: 'SB_HOST', kind: 'string', default: '0.0.0.0', help: 'Interface to bind' },
  dataDir: {
    flag: 'data-dir',
    env: 'SB_DATA_DIR',
    kind: 'string',
    default: './data',
    help: 'Embedded mode: command log and snapshots live here',
  },
  workers: {
    flag: 'workers',
    env: 'SB_WORKERS',
    kind: 'string',
    default: '1',
    help: 'Partition-host worker threads',
  },
  demo: {
    flag: 'demo',
    env: 'SB_DEMO',
    kind: 'boolean',
    default: 'false',
    help: 'Load the sample tenant "demo" (queues, 10 agents) at start',
  },
  logLevel: {
    flag: 'log-level',
    env: 'SB_LOG_LEVEL',
    kind: 'string',
    default: 'info',
    help: 'fatal | error | warn | info | debug | trace | silent',
  },
  tokens: {
    flag: 'tokens',
    env: 'SB_TOKENS',
    kind: 'string',
    default: '',
    help: 'Per-tenant API tokens: "tenantA=tokA,tenantB=tokB" (each at least 16 characters); a tenant listed twice has two (rotation); none = auth off',
  },
  tokensFile: {
    flag: 'tokens-file',
    env: 'SB_TOKENS_FILE',
    kind: 'string',
    default: '',
    help: 'File with the per-tenant tokens (same pairs, one per line or comma-separated, # comments at the start of a line or after a space), re-read when it changes: rotate tokens without a restart (instead of --tokens)',
  },
  adminToken: {
    flag: 'admin-token',
    env: 'SB_ADMIN_TOKEN',
    kind: 'string',
    default: '',
    help: 'Token valid for every tenant (at least 16 characters), and the only kind that may call DeleteTenant',
  },
  natsUrl: {
    flag: 'nats-url',
    env: 'NATS_URL',
    kind: 'string',
    default: '',
    help: 'NATS server(s), comma-separated: set ⇒ cluster mode',
  },
  natsCreds: {
    flag: 'nats-creds',
    env: 'SB_NATS_CREDS',
    kind: 'string',
    default: '',
    help: 'Cluster: NATS credentials file (user JWT + NKey seed, as nsc and Synadia Cloud issue them)',
  },
  natsTlsCa: {
    flag: 'nats-tls-ca',
    env: 'SB_NATS_TLS_CA',
    kind: 'string',
    default: '',
    help: "Cluster: PEM CA that signed the NATS servers' certificates (set ⇒ TLS to NATS is required)",
  },
  natsTlsCert: {
    flag: 'nats-tls-cert',
    env: 'SB_NATS_TLS_CERT',
    kind: 'string',
    default: '',
    help: 'Cluster: PEM client certificate for NATS servers that verify clients (with --nats-tls-key)',
  },
  natsTlsKey: {
    flag: 'nats-tls-key',
    env: 'SB_NATS_TLS_KEY',
    kind: 'string',
    default: '',
    help: 'Cluster: PEM private key of --nats-tls-cert',
  },
  mongoUrl: {
    flag: 'mongo-url',
    env: 'MONGO_URL',
    kind: 'string',
    default: '',
    help: 'MongoDB for snapshots in cluster mode',
  },
  natsReplicas: {
    flag: 'nats-replicas',
    env: 'SB_NATS_REPLICAS',
    kind: 'string',
    default: '1',
    help: 'Cluster: replicas of every JetStream stream and KV bucket (1 for one server; 3 in production)',
  },
  natsStartupMs: {
    flag: 'nats-startup-ms',
    env: 'SB_NATS_STARTUP_MS',
    kind: 'string',
    default: '30000',
    help: 'Cluster: how long start-up retries JetStream steps while JetStream is not ready (no stream leader yet, no responders, 503) before giving up',
  },
  eventStream: {
    flag: 'event-stream',
    env: 'SB_EVENT_STREAM',
    kind: 'string',
    default: 'on',
    help: 'Cluster: on | off — publish events to the SB_EVENTS stream (off: WatchEvents only)',
  },
  natsPipeline: {
    flag: 'nats-pipeline',
    env: 'SB_NATS_PIPELINE',
    kind: 'string',
    default: 'off',
    help: 'Cluster: on | off — --appends-in-flight applies to JetStream appends too',
  },
  natsCommandStreams: {
    flag: 'nats-command-streams',
    env: 'SB_NATS_COMMAND_STREAMS',
    kind: 'string',
    default: '1',
    help: 'Cluster: JetStream streams the command log is spread over (fsyncs in parallel; fixed for the life of a cluster, the same on every node)',
  },
  leaseTtlMs: {
    flag: 'lease-ttl-ms',
    env: 'SB_LEASE_TTL_MS',
    kind: 'string',
    default: '2000',
    help: "Cluster: node lease TTL, ms (renewed every TTL/10 with one KV write per node; a dead node's partitions move 0.4–0.5 × TTL after its death, plus the load)",
  },
  nodeId: {
    flag: 'node-id',
    env: 'SB_NODE_ID',
    kind: 'string',
    default: '',
    help: 'Node id (default: hostname-pid)',
  },
  fsync: {
    flag: 'fsync',
    env: 'SB_FSYNC',
    kind: 'string',
    default: 'always',
    help: 'Embedded log durability: always (fsync per group commit) | interval',
  },
  fsyncIntervalMs: {
    flag: 'fsync-interval-ms',
    env: 'SB_FSYNC_INTERVAL_MS',
    kind: 'string',
    default: '100',
    help: 'With --fsync interval: flush period, ms',
  },
  logWrites: {
    flag: 'log-writes',
    env: 'SB_LOG_WRITES',
    kind: 'string',
    default: 'thread-pool',
    help: 'Embedded log writes: thread-pool (async) | main-thread (synchronous; no thread hop, blocks the loop for the write) | auto (synchronous while no other write is under way)',
  },
  logPreallocateKib: {
    flag: 'log-preallocate-kib',
    env: 'SB_LOG_PREALLOCATE_KIB',
    kind: 'string',
    default: '1024',
    help: 'Embedded log: zeros written ahead of each file, at most, KiB (0 = grow the file with every append)',
  },
  appendsInFlight: {
    flag: 'appends-in-flight',
    env: 'SB_APPENDS_IN_FLIGHT',
    kind: 'string',
    default: '2',
    help: 'Embedded log: group-commit writes in flight per partition (1 = each waits for the previous)',
  },
  pool: {
    flag: 'pool',
    env: 'SB_POOL',
    kind: 'string',
    default: 'port',
    help: "Partition actors: port (worker threads + MessagePort) | piscina | inline (on the main thread: no thread hop; an engine crash is the node's, loading a big partition pauses the loop)",
  },
  workerHeapMb: {
    flag: 'worker-heap-mb',
    env: 'SB_WORKER_HEAP_MB',
    kind: 'string',
    default: '0',
    help: "Heap limit of each worker thread in MiB (0 = Node's default): a partition that outgrows it ends its own thread, contained like a crash, not the node",
  },
  customerLimit: {
    flag: 'customer-limit',
    env: 'SB_CUSTOMER_LIMIT',
    kind: 'string',
    default: '2000000',
    help: 'Customers created by first contact that each tenant remembers (previous agents), least recently contacted forgotten first; ~100 B of heap and ~50 B of snapshot each (configured customers are not counted). Set alike on every node of a cluster',
  },
  callsPerWorker: {
    flag: 'calls-per-worker',
    env: 'SB_CALLS_PER_WORKER',
    kind: 'string',
    default: '1',
    help: 'Batches in flight per worker thread: 1 = largest batches, 2 = pipelined',
  },
  maxInflight: {
    flag: 'max-inflight',
    env: 'SB_MAX_INFLIGHT',
    kind: 'string',
    default: '20000',
    help: 'Commands in flight per node before SB_ERR_OVERLOADED',
  },
  agentSeriesLimit: {
    flag: 'agent-series-limit',
    env: 'SB_AGENT_SERIES_LIMIT',
    kind: 'string',
    default: '10000',
    help: 'Per-agent metrics: at most this many (tenant, agent) series per counter on a node; agents seen after that count under agent="_other" (0 = no per-agent series)',
  },
  agentSeriesPerTenant: {
    flag: 'agent-series-per-tenant',
    env: 'SB_AGENT_SERIES_PER_TENANT',
    kind: 'string',
    default: '',
    help: 'Per-agent metrics: at most this many series of one tenant per counter, so one tenant cannot take every --agent-series-limit slot (at most --agent-series-limit; default a quarter of it, 2500 at the default; 0 = no per-agent series)',
  },
  maxInflightPerTenant: {
    flag: 'max-inflight-per-tenant',
    env: 'SB_MAX_INFLIGHT_PER_TENANT',
    kind: 'string',
    default: '',
    help: 'Commands in flight for one tenant before SB_ERR_OVERLOADED, so one flooding tenant cannot take every slot of the node (at most --max-inflight; default a quarter of it, 5000 at the default)',
  },
  maxQueuesPerTenant: {
    flag: 'max-queues-per-tenant',
    env: 'SB_MAX_QUEUES_PER_TENANT',
    kind: 'string',
    default: '1000',
    help: 'Queues one tenant may have; UpsertQueue of one more is refused (SB_ERR_TENANT_LIMIT_REACHED, FAILED_PRECONDITION / 409)',
  },
  maxAgentsPerTenant: {
    flag: 'max-agents-per-tenant',
    env: 'SB_MAX_AGENTS_PER_TENANT',
    kind: 'string',
    default: '100000',
    help: 'Agents one tenant may have; UpsertAgent of one more is refused (SB_ERR_TENANT_LIMIT_REACHED)',
  },
  maxWatchersPerTenant: {
    flag: 'max-watchers-per-tenant',
    env: 'SB_MAX_WATCHERS_PER_TENANT',
    kind: 'string',
    default: '1000',
    help: 'Event watchers (WatchEvents, SSE) one tenant may have open on the node; one more is refused (SB_ERR_TOO_MANY_WATCHERS, RESOURCE_EXHAUSTED / 429)',
  },
  watchBufferBudgetMb: {
    flag: 'watch-buffer-budget-mb',
    env: 'SB_WATCH_BUFFER_BUDGET_MB',
    kind: 'string',
    default: '256',
    help: 'MiB of unsent events all watchers of the node may hold together (each also at most 8 MiB); a watcher whose next event would pass it is cut off (SB_ERR_OVERLOADED)',
  },
  eventHistory: {
    flag: 'event-history',
    env: 'SB_EVENT_HISTORY',
    kind: 'string',
    default: '100000',
    help: 'Embedded mode: recent events the node keeps, all tenants together (oldest evicted first), so a WatchEvents resumed after a reconnect (resume_after_seq, SSE Last-Event-ID) gets what it missed, across a restart too (saved by a graceful stop to <data dir>/event-history.jsonl, re-derived from the log tail after a crash); an older position is refused (SB_ERR_RESUME_POSITION_GONE). 0 = none. Cluster mode reads SB_EVENTS instead',
  },
  maxLoopLagMs: {
    flag: 'max-loop-lag-ms',
    env: 'SB_MAX_LOOP_LAG_MS',
    kind: 'string',
    default: '500',
    help: 'Refuse new commands (SB_ERR_OVERLOADED) while the event loop runs this many ms late; 0 = off',
  },
  traceCalls: {
    flag: 'trace-calls',
    env: 'SB_TRACE_CALLS',
    kind: 'string',
    default: '',
    help: 'Diagnostic: keep when each Enqueue reached its gRPC handler and was answered (up to 1 000 000 calls) and write them to this file at shutdown ({pid} in it = the process id); npm run loadtest:grpc -- --trace-calls',
  },
  snapshotEvery: {
    flag: 'snapshot-every',
    env: 'SB_SNAPSHOT_EVERY',
    kind: 'string',
    // 100 000, not 10 000: each snapshot holds its worker for tens of ms (state capture, JSON, digest:
    // 45-70 ms for a 4.5 MB state here), which at 10 000 was the open-loop gRPC p99 (see docs/ARCHITECTURE.md).
    default: '100000',
    help: 'Snapshot a partition after this many commands',
  },
  snapshotSeconds: {
    flag: 'snapshot-seconds',
    env: 'SB_SNAPSHOT_SECONDS',
    kind: 'string',
    default: '60',
    help: '… or this many seconds after its last snapshot',
  },
  maxMessageBytes: {
    flag: 'max-message-bytes',
    env: 'SB_MAX_MESSAGE_BYTES',
    kind: 'string',
    default: '4194304',
    help: 'Largest gRPC message / HTTP body',
  },
  grpcKeepaliveMs: {
    flag: 'grpc-keepalive-ms',
    env: 'SB_GRPC_KEEPALIVE_MS',
    kind: 'string',
    default: '30000',
    help: 'gRPC: ping each client connection this often; one that does not answer within --grpc-keepalive-timeout-ms is closed with its WatchEvents streams (also keeps idle streams open through load balancers); 0 = off',
  },
  grpcKeepaliveTimeoutMs: {
    flag: 'grpc-keepalive-timeout-ms',
    env: 'SB_GRPC_KEEPALIVE_TIMEOUT_MS',
    kind: 'string',
    default: '10000',
    help: 'gRPC: how long a keepalive ping may go unanswered',
  },
  grpcMaxConnectionAgeMs: {
    flag: 'grpc-max-connection-age-ms',
    env: 'SB_GRPC_MAX_CONNECTION_AGE_MS',
    kind: 'string',
    default: '0',
    help: 'gRPC: ask clients to reconnect after this long (calls in flight get 30 s to finish), so they spread over nodes added since; 0 = never',
  },
  grpcMaxConcurrentStreams: {
    flag: 'grpc-max-concurrent-streams',
    env: 'SB_GRPC_MAX_CONCURRENT_STREAMS',
    kind: 'string',
    default: '1000',
    help: 'gRPC: concurrent calls (HTTP/2 streams) per client connection; a call whose request message has not arrived 10 s after its headers is ended (DEADLINE_EXCEEDED)',
  },
  grpcMaxConnectionIdleMs: {
    flag: 'grpc-max-connection-idle-ms',
    env: 'SB_GRPC_MAX_CONNECTION_IDLE_MS',
    kind: 'string',
    default: '120000',
    help: 'gRPC: close a client connection (GOAWAY) that has had no call for this long; clients reconnect on their next call; 0 = never',
  },
  httpMaxConnections: {
    flag: 'http-max-connections',
    env: 'SB_HTTP_MAX_CONNECTIONS',
    kind: 'string',
    default: '10000',
    help: 'HTTP: open connections at most (more are closed when accepted); keep it well below the file-descriptor limit (ulimit -n)',
  },
  tlsCert: {
    flag: 'tls-cert',
    env: 'SB_TLS_CERT',
    kind: 'string',
    default: '',
    help: 'PEM certificate (chain) file: set ⇒ gRPC and HTTP serve TLS only; re-read when it changes',
  },
  tlsKey: {
    flag: 'tls-key',
    env: 'SB_TLS_KEY',
    kind: 'string',
    default: '',
    help: 'PEM private key file of --tls-cert',
  },
  tlsClientCa: {
    flag: 'tls-client-ca',
    env: 'SB_TLS_CLIENT_CA',
    kind: 'string',
    default: '',
    help: 'PEM CA file: set ⇒ gRPC clients and HTTP /v1 callers must present a certificate it signed (mutual TLS; /healthz, /readyz and /metrics stay open to probes and Prometheus)',
  },
  reloadSeconds: {
    flag: 'reload-seconds',
    env: 'SB_RELOAD_SECONDS',
    kind: 'string',
    default: '60',
    help: 'How often the TLS files and the --tokens-file are checked for a change (rotations need no restart)',
  },
  shutdownGraceMs: {
    flag: 'shutdown-grace-ms',
    env: 'SB_SHUTDOWN_GRACE_MS',
    kind: 'string',
    default: '10000',
    help: 'On SIGTERM: time to finish in-flight work',
  },
} as const satisfies Record<string, Option>;

type Key = keyof typeof OPTIONS;

const port = z.coerce.number().int().min(0).max(65535);
const positive = z.coerce.number().int().min(1);
/** Two: the token in use and its replacement while clients move over. */
const MAX_TOKENS_PER_TENANT = 2;
/**
 * Shortest API token accepted (`--tokens`, `--tokens-file`, `--admin-token`): a short one can be guessed
 * online, since the node answers every guess. 16 random characters (~95 bits in base64) are out of reach.
 */
export const MIN_TOKEN_LENGTH = 16;

/**
 * `tenant=token` pairs separated by commas or newlines (a `#` at the start of a line or after a space or
 * tab starts a comment to the end of its line; one inside a token is part of it: `Xk29#fT8…` was cut to
 * `Xk29`, and a token at least `MIN_TOKEN_LENGTH` long),
 * as `--tokens` and the `--tokens-file` take them. A tenant may be listed twice (current and next token),
 * so a token can be rotated without downtime: add the new one, move the clients, drop the old one.
 *
 * Every tenant must be an id the API accepts (or `*`, the admin tokens), so a typo cannot install a
 * token no call can use in place of the working ones: one bad pair refuses the whole list. Errors name
 * the line, the pair and the tenant, never the text of a pair: it may hold a token (a swapped
 * `token=tenant`, a `:` typed for `=`).
 */
export function parseTokenList(text: string): { tokens: Record<string, string[]> } | { error: string } {
  // Keyed by tenant ids, which may be `__proto__` or `constructor`: no prototype to find them in.
  const out: Record<string, string[]> = Object.create(null);
  const owner = new Map<string, string>();
  const lines = text.split('\n');
  for (let l = 0; l < lines.length; l++) {
    const entries = (lines[l] as string).replace(/(^|[ \t])#.*$/, '').split(',');
    let k = 0;
    for (const raw of entries) {
      const pair = raw.trim();
      if (pair === '') continue;
      k++;
      const where = `line ${l + 1}, pair ${k}`;
      const i = pair.indexOf('=');
      const tenant = pair.slice(0, i).trim();
      const token = pair.slice(i + 1).trim();
      if (i <= 0 || tenant === '' || token === '') {
        return { error: `${where}: not tenant=token (its text is not shown: it may hold a token)` };
      }
      if (tenant !== ADMIN_TENANT) {
        try {
          checkTenant(tenant);
        } catch (e) {
          const why = (e as Error).message.replace(/^tenant: /, '');
          return {
            error: `${where}: the tenant is not a valid tenant id (${why}; ${tenant.length} characters, not shown: it may be a token)`,
          };
        }
      }
      if (token.length < MIN_TOKEN_LENGTH) {
        const whose = tenant === ADMIN_TENANT ? 'the admin token (*)' : `the token of "${tenant}"`;
        return {
          error: `${where}: ${whose} has ${token.length} characters, at least ${MIN_TOKEN_LENGTH} are required (a short token can be guessed)`,
        };
      }
      const other = owner.get(token);
      if (other !== undefined && other !== tenant) {
        return { error: `${where}: one token is given to both "${other}" and "${tenant}"` };
      }
      const list = out[tenant] ?? [];
      out[tenant] = list;
      if (list.includes(token)) continue;
      if (list.length === MAX_TOKENS_PER_TENANT) {
        return {
          error: `${where}: tenant "${tenant}" has more than ${MAX_TOKENS_PER_TENANT} tokens (current and next, for rotation)`,
        };
      }
      list.push(token);
      owner.set(token, tenant);
    }
  }
  return { tokens: out };
}

/** Options whose values are secrets (`--tokens`, `--admin-token`) or may carry them (URLs with credentials). */
const SECRET: Partial<Record<Key, 'hide' | 'url'>> = {
  tokens: 'hide',
  adminToken: 'hide',
  natsUrl: 'url',
  mongoUrl: 'url',
};

/** A URL list with every `user:password@` / `token@` replaced by `***@`. */
export function redactUrlCredentials(urls: string): string {
  return urls.replace(/([a-z][a-z0-9+.-]*:\/\/)[^@/,\s]*@/gi, '$1***@');
}

/** How an option's value may be shown in an error message: secrets never are. */
function shown(key: Key | undefined, value: unknown): string {
  const kind = key === undefined ? undefined : SECRET[key];
  if (kind === 'hide') return '(value not shown: it holds tokens)';
  if (kind === 'url' && typeof value === 'string') return JSON.stringify(redactUrlCredentials(value));
  return JSON.stringify(value);
}

const fields = z.object({
  grpcPort: port,
  httpPort: port,
  host: z.string().min(1),
  dataDir: z.string().min(1),
  workers: positive.max(64),
  demo: z.boolean(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  tokens: z.string().transform((s, ctx) => {
    const r = parseTokenList(s);
    if ('error' in r) {
      ctx.addIssue({ code: 'custom', message: r.error });
      return z.NEVER;
    }
    return r.tokens;
  }),
  tokensFile: z.string(),
  adminToken: z
    .string()
    .refine(
      (t) => t === '' || t.length >= MIN_TOKEN_LENGTH,
      `at least ${MIN_TOKEN_LENGTH} characters (a short token can be guessed)`,
    ),
  natsUrl: z.string(),
  natsCreds: z.string(),
  natsTlsCa: z.string(),
  natsTlsCert: z.string(),
  natsTlsKey: z.string(),
  mongoUrl: z.string(),
  natsReplicas: positive.max(5),
  natsStartupMs: positive.max(600_000),
  eventStream: z.enum(['on', 'off']),
  natsPipeline: z.enum(['on', 'off']),
  natsCommandStreams: positive.max(64),
  // Under 1 s the KV server's TTL floor (1 s) and a renewal round trip on a busy node leave no margin.
  leaseTtlMs: positive.min(1000).max(60_000),
  nodeId: z.string().regex(/^[A-Za-z0-9_.-]*$/, 'letters, digits, _ . - only'),
  fsync: z.enum(['always', 'interval']),
  fsyncIntervalMs: positive.max(60_000),
  logWrites: z.enum(['thread-pool', 'main-thread', 'auto']),
  logPreallocateKib: z.coerce
    .number()
    .int()
    .min(0)
    .max(1024 * 1024),
  appendsInFlight: positive.max(16),
  pool: z.enum(['port', 'piscina', 'inline']),
  callsPerWorker: positive.max(4),
  // Under 32 MiB a worker cannot hold even a small partition beside its own code.
  workerHeapMb: z.coerce
    .number()
    .int()
    .refine((n) => n === 0 || (n >= 32 && n <= 1024 * 1024), '0 (no limit) or 32 to 1048576'),
  maxInflight: positive,
  // The engine's bound on customers created by contact (its default: 2 000 000).
  customerLimit: positive.max(1_000_000_000),
  // Unset: a quarter of --max-inflight (the host's rule), so lowering --max-inflight alone stays valid.
  maxInflightPerTenant: z.preprocess((v) => (v === '' ? undefined : v), positive.optional()),
  agentSeriesLimit: z.coerce.number().int().min(0).max(10_000_000),
  // Unset: a quarter of --agent-series-limit (`agentSeriesPerTenant()`), so lowering the limit alone stays valid.
  agentSeriesPerTenant: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z.coerce.number().int().min(0).max(10_000_000).optional(),
  ),
  maxQueuesPerTenant: positive.max(1_000_000),
  maxWatchersPerTenant: positive.max(10_000_000),
  // At least one watcher's own 8 MiB.
  watchBufferBudgetMb: positive.min(8).max(1024 * 1024),
  // ~0.3 KiB each with its event (306 B measured, queued/assigned mix): the default ~30 MiB.
  eventHistory: z.coerce.number().int().min(0).max(10_000_000),
  maxAgentsPerTenant: positive.max(10_000_000),
  maxLoopLagMs: z.coerce.number().int().min(0).max(60_000),
  traceCalls: z.string(),
  snapshotEvery: positive,
  // A day at most: the idle-snapshot scan runs every quarter of it, and Node's timers overflow past 24.8 days.
  snapshotSeconds: positive.max(86_400),
  maxMessageBytes: positive.min(1024),
  // Under 1 s a busy peer's late pong would drop healthy connections.
  grpcKeepaliveMs: z.coerce
    .number()
    .int()
    .refine((v) => v === 0 || (v >= 1000 && v <= 7_200_000), '0 (off) or 1000–7200000'),
  grpcKeepaliveTimeoutMs: positive.min(100).max(600_000),
  grpcMaxConnectionAgeMs: z.coerce
    .number()
    .int()
    .refine((v) => v === 0 || (v >= 10_000 && v <= 2_147_483_647), '0 (never) or at least 10000'),
  // Under 100 a gateway's concurrent calls on its one connection would queue in the client.
  grpcMaxConcurrentStreams: positive.min(100).max(1_000_000),
  grpcMaxConnectionIdleMs: z.coerce
    .number()
    .int()
    .refine((v) => v === 0 || (v >= 1000 && v <= 2_147_483_647), '0 (never) or at least 1000'),
  httpMaxConnections: positive.min(10).max(10_000_000),
  tlsCert: z.string(),
  tlsKey: z.string(),
  tlsClientCa: z.string(),
  reloadSeconds: positive.max(86_400),
  shutdownGraceMs: z.coerce.number().int().min(0).max(600_000),
});

/** File options that only make sense as a pair (a certificate and its key). */
const PAIRS: [Key, Key][] = [
  ['tlsCert', 'tlsKey'],
  ['natsTlsCert', 'natsTlsKey'],
];

/** Options that are only valid together. */
const schema = fields.superRefine((c, ctx) => {
  const issue = (key: Key, message: string) => ctx.addIssue({ code: 'custom', path: [key], message });
  for (const [a, b] of PAIRS) {
    if ((c[a] === '') !== (c[b] === '')) {
      issue(c[a] === '' ? a : b, `--${OPTIONS[a].flag} and --${OPTIONS[b].flag} go together`);
    }
  }
  if (c.tlsClientCa !== '' && c.tlsCert === '') issue('tlsClientCa', 'needs --tls-cert and --tls-key');
  if (c.tokensFile !== '' && Object.keys(c.tokens).length > 0) {
    issue('tokensFile', 'give --tokens or --tokens-file, not both');
  }
  if (c.maxInflightPerTenant !== undefined && c.maxInflightPerTenant > c.maxInflight) {
    issue('maxInflightPerTenant', `at most --max-inflight (${c.maxInflight})`);
  }
  if (c.agentSeriesPerTenant !== undefined && c.agentSeriesPerTenant > c.agentSeriesLimit) {
    issue('agentSeriesPerTenant', `at most --agent-series-limit (${c.agentSeriesLimit})`);
  }
});

/**
 * Per-agent metric series one tenant may hold per counter: `--agent-series-per-tenant`, else a quarter of
 * `--agent-series-limit` (rounded up, so a limit of 1 still gives one), as `--max-inflight-per-tenant`
 * is a quarter of `--max-inflight`: at least four tenants share the node's slots before any is left out.
 */
export function agentSeriesPerTenant(
  c: Pick<NodeConfig, 'agentSeriesLimit' | 'agentSeriesPerTenant'>,
): number {
  return c.agentSeriesPerTenant ?? Math.ceil(c.agentSeriesLimit / 4);
}

export type NodeConfig = z.infer<typeof schema>;

/** Invalid flags or variables; `issues` are ready to print, one per line. */
export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid configuration:\n  ${issues.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

export type ParsedArgs = { help: true } | { help: false; config: NodeConfig };

/** Parses `argv` (without node and script) and `env` into a validated config. Throws `ConfigError`. */
export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): ParsedArgs {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const o of Object.values(OPTIONS)) options[o.flag] = { type: o.kind };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new ConfigError([`${(e as Error).message} (see --help)`]);
  }
  if (values.help) return { help: true };
  const raw: Record<string, unknown> = {};
  for (const [key, o] of Object.entries(OPTIONS) as [Key, Option][]) {
    const fromFlag = values[o.flag];
    const fromEnv = o.env ? env[o.env] : undefined;
    if (o.kind === 'boolean') {
      // A value that is neither yes nor no (`SB_DEMO=on`… was silently "no") is refused, naming it.
      const text = (fromEnv ?? '').trim() === '' ? o.default : (fromEnv as string).trim();
      if (fromFlag !== true && !/^(1|true|yes|on|0|false|no|off)$/i.test(text)) {
        throw new ConfigError([
          `${o.env}: must be true or false (1/0, yes/no, on/off); got ${JSON.stringify(fromEnv)}`,
        ]);
      }
      raw[key] = fromFlag === true || /^(1|true|yes|on)$/i.test(text);
    } else {
      // A blank value (`SB_GRPC_PORT=` from a template, `--http-port=`) is unset, not 0 or "".
      const given = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v : undefined);
      raw[key] = given(fromFlag) ?? given(fromEnv) ?? o.default;
    }
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    throw new ConfigError(
      r.error.issues.map((i) => {
        const key = i.path[0] as Key;
        const o = OPTIONS[key];
        const name = o ? `--${o.flag}${o.env ? ` (${o.env})` : ''}` : String(i.path.join('.'));
        return `${name}: ${i.message}; got ${shown(o ? key : undefined, raw[key])}`;
      }),
    );
  }
  return { help: false, config: r.data };
}

/** A valid config with every default, overridden by `over` (tests and embedders). */
export function defaultConfig(over: Partial<NodeConfig> = {}): NodeConfig {
  const parsed = parseConfig([], {});
  if (parsed.help) throw new Error('unreachable');
  return { ...parsed.config, ...over };
}

export function helpText(): string {
  const lines = [
    'switchboard — routes customer conversations to the best available agent',
    '',
    'Usage: switchboard [options]          (npm start -- [options])',
    '',
    'With no NATS_URL the node runs embedded: one process, state under --data-dir, restored on restart.',
    '',
    'Options (flag, environment variable, default):',
  ];
  const all = Object.values(OPTIONS) as Option[];
  const flagOf = (o: Option) => `--${o.flag}${o.kind === 'string' ? ' <v>' : ''}`;
  // Columns as wide as their longest entry plus two spaces, so a long flag never runs into its variable.
  const fw = Math.max(...all.map((o) => flagOf(o).length)) + 2;
  const ew = Math.max(...all.map((o) => (o.env ?? '').length)) + 2;
  for (const o of all) {
    lines.push(
      `  ${flagOf(o).padEnd(fw)}${(o.env ?? '').padEnd(ew)}${o.help}${o.default ? ` [${o.default}]` : ''}`,
    );
  }
  lines.push(`  ${'-h, --help'.padEnd(fw + ew)}Show this help`);
  lines.push(
    '',
    'Exit codes: 0 clean stop, 1 runtime failure, 2 invalid configuration, 3 data directory lock lost (embedded: another node took it over).',
  );
  return lines.join('\n');
}

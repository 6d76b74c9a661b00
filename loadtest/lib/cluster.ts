/**
 * A local Switchboard cluster on this machine: its own `nats-server` (JetStream, `sync_interval:
 * always`, free port, temp store) and N node processes in cluster mode (`--nats-url`), each on free
 * ports. Used by `npm run loadtest:grpc -- --cluster` and `npm run chaos`; nothing outside loopback.
 */
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { rendezvousOwner } from '../../src/cluster/nats/rendezvous.js';
import { mongoTarget, type RunningMongo, startMongo } from '../../test/support/ferretdb.js';
import { type NatsServer, startNatsCluster, startNatsServer } from '../../test/support/nats-server.js';
import { type ChildServer, localNodeArgs, nodeEntryPoint, nodeFlags, startChild } from './node-process.js';

export interface ClusterNode {
  nodeId: string;
  server: ChildServer;
  grpcTarget: string;
  httpUrl: string;
  alive: boolean;
}

export interface LocalCluster {
  nats: NatsServer;
  /** The NATS servers' URLs, comma-separated (one unless `natsServers` > 1). */
  natsUrl: string;
  nodes: ClusterNode[];
  /** The nodes' data directories live under this one (`<dataDir>/<nodeId>`). */
  dataDir: string;
  grpcTargets: string[];
  metricsUrls: string[];
  /** `kill -9` of node i (no drain, no lease hand-over). Resolves once the process is gone. */
  killNode(i: number): Promise<void>;
  /**
   * Freezes node i for `ms` (`SIGSTOP`, then `SIGCONT`): a stop-the-world pause or a suspended VM. The
   * node keeps its sockets and its state and wakes up believing it still holds its leases.
   */
  freezeNode(i: number, ms: number): Promise<void>;
  /** `kill -9` of the NATS server, then a restart on the same port and store. Resolves when it listens. */
  restartNats(): Promise<void>;
  stop(): Promise<void>;
}

export interface LocalClusterOptions {
  nodes?: number;
  /**
   * Put the node that rendezvous hashing makes owner of this tenant first in `grpcTargets` (default: env
   * `SB_CLUSTER_OWNER_FIRST`), to measure a gateway that reaches the owner directly vs one that is forwarded.
   */
  ownerFirstFor?: string;
  /** Extra node flags, e.g. `['--workers', '1']`. */
  nodeArgs?: string[];
  /** Extra flags for the node binary (V8/GC flags), after the defaults. */
  nodeExecArgv?: string[];
  /** Extra environment for every node. */
  env?: Record<string, string>;
  /** The node's `main.js` (default: this repo's build); another build's, to compare builds side by side. */
  entryPoint?: string;
  /**
   * The NATS server's `sync_interval` (default `always`, the setting `deploy/` recommends); e.g. `2m`, the
   * server's own default, to see what fsync-per-message costs (and what it buys: deploy/nats/README.md).
   */
  natsSyncInterval?: string;
  /**
   * NATS servers (default 1). More than 1 starts a NATS cluster and gives the nodes every server's URL and
   * `--nats-replicas` of that many (3 = the R3 that deploy/ recommends); `restartNats` then restarts the
   * first server only, a rolling restart's step.
   */
  natsServers?: number;
}

/** Starts NATS and the nodes, and waits until every node sees all the others as members. */
export async function startLocalCluster(opts: LocalClusterOptions = {}): Promise<LocalCluster> {
  const natsOpts = opts.natsSyncInterval ? { syncInterval: opts.natsSyncInterval } : {};
  const natsServers = opts.natsServers ?? 1;
  let nats: NatsServer;
  let natsUrl: string;
  let natsCleanup: () => Promise<void>;
  if (natsServers > 1) {
    const c = await startNatsCluster(natsServers, natsOpts);
    nats = c.servers[0] as NatsServer;
    natsUrl = c.urls.join(',');
    natsCleanup = () => c.cleanup();
  } else {
    const one = await startNatsServer(natsOpts);
    nats = one;
    natsUrl = one.url;
    natsCleanup = () => one.cleanup();
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'sb-cluster-'));
  const nodes: ClusterNode[] = [];
  const n = opts.nodes ?? 3;
  try {
    const started = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const nodeId = `node-${i + 1}`;
        const server = await startChild(
          opts.entryPoint ?? nodeEntryPoint(),
          [
            ...localNodeArgs(join(dataDir, nodeId)),
            '--nats-url',
            natsUrl,
            ...(natsServers > 1 ? ['--nats-replicas', String(natsServers)] : []),
            '--node-id',
            nodeId,
            ...(opts.nodeArgs ?? []),
          ],
          undefined,
          [...nodeFlags(), ...(opts.nodeExecArgv ?? [])],
          opts.env,
        );
        const logDir = process.env.SB_CLUSTER_LOG_DIR;
        if (logDir) {
          // Full node logs for post-mortems (the child's pipes are read anyway).
          const out = createWriteStream(join(logDir, `${nodeId}.log`), { flags: 'a' });
          server.child.stdout?.on('data', (d: Buffer) => out.write(d));
          server.child.stderr?.on('data', (d: Buffer) => out.write(d));
        }
        const { grpcPort, httpPort } = server.listening;
        return {
          nodeId,
          server,
          grpcTarget: `127.0.0.1:${grpcPort}`,
          httpUrl: `http://127.0.0.1:${httpPort}`,
          alive: true,
        };
      }),
    );
    nodes.push(...started);
  } catch (e) {
    await Promise.all(nodes.map((x) => x.server.stop(1000)));
    await natsCleanup();
    throw e;
  }
  // Membership settles within one heartbeat; a second of margin keeps the first requests from
  // triggering hand-overs while nodes are still discovering each other.
  await new Promise((r) => setTimeout(r, 1500));
  const ownerOf = opts.ownerFirstFor ?? process.env.SB_CLUSTER_OWNER_FIRST;
  if (ownerOf) {
    const winner = rendezvousOwner(
      ownerOf,
      nodes.map((x) => x.nodeId),
    );
    nodes.sort((a, b) => Number(b.nodeId === winner) - Number(a.nodeId === winner));
  }
  return {
    nats,
    natsUrl,
    nodes,
    dataDir,
    grpcTargets: nodes.map((x) => x.grpcTarget),
    metricsUrls: nodes.map((x) => `${x.httpUrl}/metrics`),
    async killNode(i: number) {
      const node = nodes[i];
      if (!node?.alive) return;
      node.alive = false;
      const child = node.server.child;
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGKILL');
      await gone;
    },
    async freezeNode(i: number, ms: number) {
      const node = nodes[i];
      if (!node?.alive) return;
      node.server.child.kill('SIGSTOP');
      try {
        await new Promise((r) => setTimeout(r, ms));
      } finally {
        node.server.child.kill('SIGCONT');
      }
    },
    async restartNats() {
      await nats.restart();
    },
    async stop() {
      // A node stopped mid-freeze would not hear the SIGTERM.
      for (const x of nodes) if (x.alive) x.server.child.kill('SIGCONT');
      await Promise.all(nodes.filter((x) => x.alive).map((x) => x.server.stop(5000)));
      await natsCleanup();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export type SnapshotChoice = (typeof snapshotsOption.choices)[number];

/** A script's `--snapshots` value, or exit 2 naming the script and the bad value. */
/** The `--snapshots` option of the cluster load scripts (`lib/args.ts`). */
export const snapshotsOption = {
  type: 'string',
  default: 'auto',
  choices: ['auto', 'mongo', 'jetstream'],
  help: 'snapshot store: mongo (MONGO_URL, or a FerretDB started here), jetstream,\nor auto (mongo where one is available, else jetstream)',
} as const;

/**
 * The snapshot store for a local cluster's nodes: MongoDB (`MONGO_URL`, or a FerretDB started here as the
 * tests do) or JetStream. `auto` = MongoDB where one is available, else JetStream, saying why.
 */
export async function snapshotStore(
  choice: SnapshotChoice,
): Promise<{ label: 'mongo' | 'jetstream'; nodeArgs: string[]; mongo: RunningMongo | null }> {
  if (choice === 'jetstream') return { label: 'jetstream', nodeArgs: [], mongo: null };
  const target = mongoTarget();
  if (target.kind === 'none') {
    if (choice === 'mongo') throw new Error(`snapshots in MongoDB asked for, but ${target.reason}`);
    console.log(`snapshots in JetStream (${target.reason})`);
    return { label: 'jetstream', nodeArgs: [], mongo: null };
  }
  const mongo = await startMongo(target);
  // One database per run, so a MONGO_URL shared with other runs starts from no snapshots.
  const url = new URL(mongo.url);
  url.pathname = `/sb_run_${Date.now().toString(36)}`;
  console.log(`snapshots in MongoDB: ${mongo.label}`);
  return { label: 'mongo', nodeArgs: ['--mongo-url', url.toString()], mongo };
}

/** A node's `partition recovered` log line: where a load (start-up or takeover) began and what it cost. */
export interface Recovered {
  node: string;
  tenant: string;
  /** When this script read the line (ms, `Date.now()`). */
  at: number;
  snapshotSeq: number;
  replayed: number;
  /** The worker's restore (parse + rebuild + replay). */
  ms: number;
  /** The whole load from the lease won to serving, and its parts (absent in lines of older builds). */
  totalMs?: number;
  fenceMs?: number;
  snapshotLoadMs?: number;
  logReadMs?: number;
  checkMs?: number;
  lastSeqMs?: number;
}

/** Collects every node's `partition recovered` lines from its stdout, from now on. */
export function watchRecoveries(cluster: LocalCluster): Recovered[] {
  const out: Recovered[] = [];
  for (const n of cluster.nodes) {
    const stdout = n.server.child.stdout;
    if (!stdout) continue;
    createInterface({ input: stdout }).on('line', (line) => {
      if (!line.includes('partition recovered')) return;
      try {
        const m = JSON.parse(line) as Omit<Recovered, 'node' | 'at'>;
        out.push({
          node: n.nodeId,
          tenant: m.tenant,
          at: Date.now(),
          snapshotSeq: m.snapshotSeq,
          replayed: m.replayed,
          ms: m.ms,
          totalMs: m.totalMs,
          fenceMs: m.fenceMs,
          snapshotLoadMs: m.snapshotLoadMs,
          logReadMs: m.logReadMs,
          checkMs: m.checkMs,
          lastSeqMs: m.lastSeqMs,
        });
      } catch {
        // not a JSON log line
      }
    });
  }
  return out;
}

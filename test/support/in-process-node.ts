/**
 * A Switchboard node (cluster mode, or embedded with `natsUrl: ''`) started in the test's own process (`startNode`), for tests that need
 * what a spawned node cannot be given: an injected `Clock` (a node whose wall clock is wrong), or its log
 * lines and metrics at hand. It needs the built workers (`npm run build`), like every real host.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { LogIo } from '../../src/cluster/index.js';
import type { Clock, SnapshotStore } from '../../src/cluster/ports.js';
import { defaultConfig, type NodeConfig } from '../../src/config/index.js';
import type { DeleteFaults } from '../../src/host/partition-host.js';
import { type RunningNode, type StartOptions, startNode } from '../../src/node.js';

export interface InProcessNode {
  node: RunningNode;
  /** Embedded: its data directory. */
  dataDir: string;
  /** Every log line so far, parsed. */
  lines: Record<string, unknown>[];
  /** An HTTP call; `deadlineMs` becomes `x-timeout-ms`. */
  http(
    method: string,
    path: string,
    body?: unknown,
    deadlineMs?: number,
  ): Promise<{ status: number; body: Record<string, unknown> }>;
  /** One metric's value (the first series matching `labels`), NaN when absent. */
  metric(name: string): Promise<number>;
  stop(): Promise<void>;
}

export async function startInProcessNode(
  over: Partial<NodeConfig> & { natsUrl: string; nodeId: string },
  opts: {
    clock?: Clock;
    wrapSnapshots?: (s: SnapshotStore) => SnapshotStore;
    deleteFaults?: DeleteFaults;
    /** Embedded: the command log's file writes (e.g. a full disk). */
    logIo?: Partial<LogIo>;
    /** The window of lines that come in floods (ms). */
    logSummaryMs?: number;
    /** Embedded: the data directory lock's staleness limit and renewal period. */
    dataDirLock?: { staleMs: number; renewMs: number };
    /** Embedded: told when the node fenced itself (its data directory's lock taken over). */
    onFenced?: StartOptions['onFenced'];
  } = {},
): Promise<InProcessNode> {
  const dataDir = await mkdtemp(join(tmpdir(), 'sb-inproc-'));
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'info', base: { nodeId: over.nodeId } },
    {
      write(s: string) {
        try {
          lines.push(JSON.parse(s) as Record<string, unknown>);
        } catch {
          // not a JSON line
        }
      },
    },
  );
  const config = defaultConfig({
    host: '127.0.0.1',
    grpcPort: 0,
    httpPort: 0,
    dataDir,
    workers: 1,
    maxLoopLagMs: 0,
    shutdownGraceMs: 2000,
    ...over,
  });
  const node = await startNode(config, {
    logger,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.wrapSnapshots ? { wrapSnapshots: opts.wrapSnapshots } : {}),
    ...(opts.deleteFaults ? { deleteFaults: opts.deleteFaults } : {}),
    ...(opts.logIo ? { logIo: opts.logIo } : {}),
    ...(opts.logSummaryMs !== undefined ? { logSummaryMs: opts.logSummaryMs } : {}),
    ...(opts.dataDirLock ? { dataDirLock: opts.dataDirLock } : {}),
    ...(opts.onFenced ? { onFenced: opts.onFenced } : {}),
  });
  let stopped = false;
  return {
    node,
    dataDir,
    lines,
    async http(method, path, body, deadlineMs) {
      const r = await fetch(`http://127.0.0.1:${node.httpPort}${path}`, {
        method,
        headers: {
          'content-type': 'application/json',
          ...(deadlineMs !== undefined ? { 'x-timeout-ms': String(deadlineMs) } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(20_000),
      });
      const text = await r.text();
      let parsed: Record<string, unknown> = {};
      try {
        parsed = JSON.parse(text) as Record<string, unknown>;
      } catch {
        parsed = { text };
      }
      return { status: r.status, body: parsed };
    },
    async metric(name) {
      const text = await node.registry.metrics();
      const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([-0-9.e+]+|NaN)$`, 'm').exec(text);
      return m ? Number(m[1]) : Number.NaN;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await node.stop().catch(() => undefined);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A chat queue `q1` with the given offer timeout and `agents` online agents `a0…` of chat capacity 1. */
export async function chatDesk(
  n: InProcessNode,
  tenant: string,
  opts: { offerTimeoutSeconds: number; agents: number },
): Promise<void> {
  const base = `/v1/tenants/${tenant}`;
  const must = async (p: Promise<{ status: number; body: unknown }>, what: string) => {
    const r = await p;
    if (r.status !== 200) throw new Error(`${tenant} ${what}: ${r.status} ${JSON.stringify(r.body)}`);
  };
  await must(
    n.http(
      'PUT',
      `${base}/queues/q1`,
      {
        id: 'q1',
        name: 'q1',
        channel: 'CHANNEL_CHAT',
        strategy: 'STRATEGY_LONGEST_IDLE',
        serviceLevel: { target: 0.8, thresholdSeconds: 20, windowSeconds: 3600 },
        offerTimeoutSeconds: opts.offerTimeoutSeconds,
      },
      5000,
    ),
    'queue',
  );
  for (let a = 0; a < opts.agents; a++) {
    await must(
      n.http(
        'PUT',
        `${base}/agents/a${a}`,
        { id: `a${a}`, displayName: `a${a}`, capacity: { chat: 1 } },
        5000,
      ),
      'agent',
    );
    await must(
      n.http('POST', `${base}/agents/a${a}/presence`, { presence: 'PRESENCE_ONLINE' }, 5000),
      'presence',
    );
  }
}

/** Enqueues chat conversation `id` on queue `q1`. */
export function chatEnqueue(n: InProcessNode, tenant: string, id: string, deadlineMs = 5000) {
  return n.http(
    'POST',
    `/v1/tenants/${tenant}/conversations`,
    { id, channel: 'CHANNEL_CHAT', customer: { id: `c-${id}` }, queueId: 'q1' },
    deadlineMs,
  );
}

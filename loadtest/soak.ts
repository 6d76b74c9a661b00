/**
 * `npm run soak` — does a node run for hours without growing?
 *
 *   npm run soak                          # 10 minutes against its own embedded node
 *   npm run soak -- --minutes 60          # longer
 *   npm run soak -- --cluster             # own NATS + 3 nodes (loadtest/lib/cluster.ts)
 *
 * Starts its own node(s) with `--trace-gc` and drives a mixed contact-center workload over gRPC for
 * `--minutes`: several tenants with three queues each (direct assignment, offers to accept or reject,
 * and a transfer target), a pool of agents logging on and off and going away and back (plus short-lived
 * agents created and removed: staff turnover), conversations with ever-new ids and mostly new customer
 * ids, enqueued, offered, accepted or rejected, transferred, ended with wrap-up (finished early or left to
 * time out) or cancelled by the customer while waiting; a `WatchEvents` stream per tenant drives the
 * agents' desks, and short-lived watchers come and go; list and stats reads run throughout; the node
 * snapshots every `--snapshot-seconds`, which trims its log.
 *
 * Every `--sample-seconds` it records, per node: RSS, the V8 heap used after the last full (mark-compact)
 * collection of each isolate (main thread and worker threads, from `--trace-gc`: no hook in the node
 * needed), open fds, event-loop lag, the number of metric series in `/metrics`; the data directories'
 * bytes (and, in a cluster, the NATS store's); the engine's own counts (waiting + held conversations,
 * from ListQueueStats / ListAgentStats). At the end it fits a least-squares line over the judged window —
 * the second half of the run, or from when the engine's bounded state (its last 10 000 closed
 * conversations per tenant, `--customer-limit` customers) and the node's event history for resumed
 * watches (`--event-history`: it has evicted) are full if that is later — and judges each
 * quantity that should stay flat against its tolerance (growth per hour of the fitted line): PASS/FAIL.
 * Last line: {"minutes":..,"conversations":..,"checks":{"<key>":{"per_min":..,"pass":..},...},"pass":..}.
 * Exit code 1 when a check fails.
 */
import { type Dirent, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import { AdminServiceClient } from '../src/gen/switchboard/v1/admin.js';
import { AgentDeskServiceClient } from '../src/gen/switchboard/v1/agent_desk.js';
import { Outcome, Presence } from '../src/gen/switchboard/v1/common.js';
import { type Event, EventServiceClient } from '../src/gen/switchboard/v1/events.js';
import { EnqueueStatus, GatewayServiceClient } from '../src/gen/switchboard/v1/gateway.js';
import { StatisticsServiceClient } from '../src/gen/switchboard/v1/statistics.js';
import { chatAgent, chatEnqueue, chatQueue, unary } from './lib/api-requests.js';
import { scriptArgs } from './lib/args.js';
import { type LocalCluster, snapshotStore, snapshotsOption, startLocalCluster } from './lib/cluster.js';
import { InspectorHeap, inspectorUrl } from './lib/inspector-heap.js';
import { type ChildServer, nodeArgsOption, splitNodeArgs, startSwitchboardNode } from './lib/node-process.js';
import { mulberry32 } from './lib/prng.js';
import { parseSamples, scrapeText } from './lib/prom.js';
import { writeReport } from './lib/report.js';
import {
  bucketMedians,
  bucketMinima,
  type CheckResult,
  type CheckSpec,
  fmt,
  judge,
  judgedWindow,
  type Point,
  parseMajorGc,
} from './lib/soak-judge.js';

const SPEC = {
  usage: 'npm run soak -- [options]',
  options: {
    minutes: { type: 'number', default: 10, min: 0.5, help: 'length of the run' },
    rate: {
      type: 'number',
      default: 120,
      min: 1,
      help: 'new conversations per second, spread over the tenants',
    },
    tenants: { type: 'int', default: 3, min: 1, max: 50, help: 'tenants (partitions)' },
    agents: { type: 'int', default: 40, min: 4, help: 'agents per tenant (3 chats each)' },
    'customer-limit': {
      type: 'int',
      default: 5000,
      min: 1,
      help: "the node's --customer-limit: contact-created customers each tenant remembers; low, so the\nrun reaches it and shows the forgetting keeps memory flat (the default 2 000 000 would take days)",
    },
    'snapshot-seconds': {
      type: 'int',
      default: 20,
      min: 1,
      help: 'the node snapshots every tenant this often (which trims its log)',
    },
    'sample-seconds': { type: 'number', default: 5, min: 1, help: 'sampling interval' },
    cluster: { type: 'boolean', help: 'own NATS + --cluster-nodes nodes instead of one embedded node' },
    'cluster-nodes': { type: 'int', default: 3, min: 1, max: 9, help: 'nodes of the local cluster' },
    snapshots: snapshotsOption,
    'node-args': nodeArgsOption,
    seed: { type: 'int', default: 1, min: 0, help: "the workload's PRNG seed" },
    'heap-mb-per-hour': {
      type: 'number',
      default: 30,
      min: 0,
      help: 'tolerance: heap used after full GC (all isolates of a node), MB per hour',
    },
    'rss-mb-per-hour': { type: 'number', default: 60, min: 0, help: 'tolerance: RSS, MB per hour' },
    'fds-per-hour': {
      type: 'number',
      default: 10,
      min: 0,
      help: 'tolerance: open file descriptors per hour',
    },
    'series-per-hour': { type: 'number', default: 20, min: 0, help: 'tolerance: metric series per hour' },
    'disk-mb-per-hour': {
      type: 'number',
      default: 20,
      min: 0,
      help: 'tolerance: data directory bytes (log + snapshots; NATS store in a cluster), MB per hour',
    },
    'open-per-hour': {
      type: 'number',
      default: 300,
      min: 0,
      help: "tolerance: the engine's open conversations (waiting + held), per hour",
    },
    'no-report': { type: 'boolean', help: 'skip the HTML/JSON files' },
  },
} as const;

const args = scriptArgs(SPEC);
const RUN_MS = args.minutes * 60_000;
const RNG = mulberry32(args.seed);
const rnd = (lo: number, hi: number) => lo + RNG() * (hi - lo);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(RNG() * xs.length)] as T;
/** The engine keeps this many closed conversations per tenant (`recentClosed`, src/engine/engine.ts). */
const RECENT_CLOSED = 10_000;
/**
 * Node flags: the inspector on a loopback port of the OS's choosing (the soak forces a full GC in every
 * isolate through it before reading the heap), and one line per natural full GC with the heap used after
 * it, from every isolate (the fallback without a WebSocket client, and a cross-check).
 */
const GC_FLAGS = ['--inspect=127.0.0.1:0', '--trace-gc', '--trace-gc-ignore-scavenger'];
const QUEUES = { direct: 'soak-direct', offer: 'soak-offer', transfer: 'soak-billing' } as const;
const OUTCOMES = [Outcome.OUTCOME_RESOLVED, Outcome.OUTCOME_CLOSED, Outcome.OUTCOME_NEEDS_FOLLOW_UP];
const MAX_INFLIGHT = 400;
const CALL_MS = 10_000;

interface SoakNode {
  id: string;
  grpcTarget: string;
  metricsUrl: string;
  server: ChildServer;
  /** Heap used after the last full GC, per isolate (main thread and workers), MB. */
  gcAfter: Map<string, number>;
  majorGcs: number;
  /** The node's inspector session (null: no WebSocket client here, or no inspector address seen). */
  inspector: InspectorHeap | null;
}

interface Target {
  nodes: SoakNode[];
  /** Directories whose bytes are the node(s)' persistent state. */
  dataDirs: string[];
  label: string;
  stop(): Promise<void>;
}

function soakNode(id: string, grpcTarget: string, metricsUrl: string, server: ChildServer): SoakNode {
  const n: SoakNode = {
    id,
    grpcTarget,
    metricsUrl,
    server,
    gcAfter: new Map(),
    majorGcs: 0,
    inspector: null,
  };
  const out = server.child.stdout;
  if (out)
    createInterface({ input: out }).on('line', (line) => {
      const gc = parseMajorGc(line);
      if (!gc) return;
      n.gcAfter.set(gc.isolate, gc.afterMb);
      n.majorGcs++;
    });
  return n;
}

async function startTarget(): Promise<Target> {
  const nodeArgs = [
    '--snapshot-seconds',
    String(args['snapshot-seconds']),
    '--customer-limit',
    String(args['customer-limit']),
    ...splitNodeArgs(args['node-args']),
  ];
  if (!args.cluster) {
    const s = await startSwitchboardNode(nodeArgs, GC_FLAGS);
    const { grpcPort, httpPort } = s.listening;
    return {
      nodes: [soakNode('node', `127.0.0.1:${grpcPort}`, `http://127.0.0.1:${httpPort}/metrics`, s)],
      dataDirs: [s.dataDir],
      label: 'embedded',
      stop: () => s.stop(10_000),
    };
  }
  const store = await snapshotStore(args.snapshots);
  let c: LocalCluster;
  try {
    c = await startLocalCluster({
      nodes: args['cluster-nodes'],
      nodeArgs: [...nodeArgs, ...store.nodeArgs],
      nodeExecArgv: GC_FLAGS,
    });
  } catch (e) {
    await store.mongo?.cleanup();
    throw e;
  }
  return {
    nodes: c.nodes.map((n, i) => soakNode(n.nodeId, n.grpcTarget, c.metricsUrls[i] as string, n.server)),
    dataDirs: [c.dataDir, c.nats.storeDir],
    label: `cluster of ${c.nodes.length} (snapshots in ${store.label})`,
    stop: async () => {
      await c.stop();
      await store.mongo?.cleanup();
    },
  };
}

/**
 * The event stream's directory in a NATS store: kept for 7 days / 8 GiB by design (`events.ts`), so it
 * grows through any run shorter than that; counted apart from the state that must stay flat.
 */
const EVENTS_STREAM_DIR = /[/\\]streams[/\\]SB_EVENTS$/;

/** Bytes of the files under `dir`; those under a directory `skip` matches are added to `skipped.bytes`. */
function dirBytes(dir: string, skipped?: { bytes: number }): number {
  if (skipped && EVENTS_STREAM_DIR.test(dir)) {
    skipped.bytes += dirBytes(dir);
    return 0;
  }
  let n = 0;
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    try {
      if (e.isDirectory()) n += dirBytes(p, skipped);
      else if (e.isFile()) n += statSync(p).size;
    } catch {
      // removed meanwhile (a trim's rename, a snapshot replaced)
    }
  }
  return n;
}

interface Clients {
  gateway: GatewayServiceClient;
  desk: AgentDeskServiceClient;
  admin: AdminServiceClient;
  events: EventServiceClient;
  stats: StatisticsServiceClient;
}

function clientsOf(target: string): Clients {
  const creds = grpc.credentials.createInsecure();
  return {
    gateway: new GatewayServiceClient(target, creds),
    desk: new AgentDeskServiceClient(target, creds),
    admin: new AdminServiceClient(target, creds),
    events: new EventServiceClient(target, creds),
    stats: new StatisticsServiceClient(target, creds),
  };
}

/** What the workload did, for the summary and the sanity checks. */
const counts = {
  enqueued: 0,
  enqueueStatus: {} as Record<string, number>,
  accepted: 0,
  rejected: 0,
  transferred: 0,
  ended: 0,
  wrapUpsFinished: 0,
  cancelled: 0,
  closed: 0,
  abandoned: 0,
  presenceChanges: 0,
  tempAgents: 0,
  tempAgentsRemoved: 0,
  watchersOpened: 0,
  reads: 0,
  swept: 0,
  deskReconnects: 0,
  calls: 0,
  /** Failures by gRPC code name, expected races included (e.g. cancelling what was just assigned). */
  errors: {} as Record<string, number>,
  /** Failures that are no race of the workload: UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, … */
  unexpected: 0,
  skippedBusy: 0,
};

const errorExamples: Record<string, string[]> = {};

/** Codes a mixed workload meets by design: acting on a conversation that moved on meanwhile. */
const RACE_CODES = new Set([grpc.status.FAILED_PRECONDITION, grpc.status.NOT_FOUND, grpc.status.ABORTED]);

/** Calls made after the load stopped (timers still running while the node shuts down) are not counted. */
let counting = true;

function failed(e: unknown): void {
  if (!counting) return;
  const code = (e as grpc.ServiceError).code;
  const name = code === undefined ? 'local' : (grpc.status[code] ?? String(code));
  counts.errors[name] = (counts.errors[name] ?? 0) + 1;
  // A few distinct messages per code, to tell the races from a fault.
  const msg = ((e as Error).message ?? '').replace(/"[^"]*"/g, '"…"').slice(0, 120);
  const seen = errorExamples[name] ?? [];
  errorExamples[name] = seen;
  if (seen.length < 4 && !seen.includes(msg)) seen.push(msg);
  if (code === undefined || !RACE_CODES.has(code)) counts.unexpected++;
}

/** Runs one call, counting it and its failure; resolves to the answer or null. */
async function call<T>(p: () => Promise<T>): Promise<T | null> {
  if (counting) counts.calls++;
  try {
    return await p();
  } catch (e) {
    failed(e);
    return null;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One tenant's desks, customers and readers. */
class TenantLoad {
  readonly agents: string[];
  /** Agents not online (away or offline) right now, to keep most of the pool working. */
  readonly resting = new Set<string>();
  /** Open conversations as this script knows them: when enqueued, and a token bumped by each hand-over. */
  readonly open = new Map<string, { at: number; token: number; agent: string | null }>();
  readonly recentCustomers: string[] = [];
  closed = 0;
  newCustomers = 0;
  private desk: grpc.ClientReadableStream<Event> | null = null;
  private stopped = false;
  private readonly watchers = new Set<grpc.ClientReadableStream<Event>>();

  constructor(
    readonly tenant: string,
    readonly c: Clients,
    readonly run: string,
  ) {
    this.agents = Array.from({ length: args.agents }, (_, i) => `soak-agent-${i}`);
  }

  async setup(): Promise<void> {
    const { tenant, c } = this;
    const q = async (id: string, over: Parameters<typeof chatQueue>[1]) => {
      await unary(
        c.admin,
        c.admin.upsertQueue,
        { tenant, requestId: '', queue: chatQueue(id, over) },
        CALL_MS,
      );
    };
    await q(QUEUES.direct, { name: 'Sales', broadcastWidth: 0 });
    await q(QUEUES.offer, { name: 'Support', broadcastWidth: 1, offerTimeoutSeconds: 8 });
    await q(QUEUES.transfer, { name: 'Billing', broadcastWidth: 0 });
    for (let i = 0; i < this.agents.length; i++) {
      const id = this.agents[i] as string;
      // Half the agents have a 2 s wrap-up (finished early half the time, else it times out).
      const agent = chatAgent(id, i, 3, { wrapUpSeconds: i % 2 === 0 ? 2 : 0 });
      await unary(c.admin, c.admin.upsertAgent, { tenant, requestId: '', agent }, CALL_MS);
      await unary(
        c.desk,
        c.desk.setPresence,
        { tenant, requestId: '', agentId: id, presence: Presence.PRESENCE_ONLINE },
        CALL_MS,
      );
    }
    await this.openDesk();
  }

  /** The desks' own event stream: offers are answered, assignments talked through and ended. */
  private openDesk(): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = this.c.events.watchEvents({ tenant: this.tenant, requestId: '', types: [] });
      this.desk = s;
      let ready = false;
      s.on('metadata', () => {
        ready = true;
        resolve();
      });
      s.on('data', (e: Event) => this.onEvent(e));
      s.on('error', (e: grpc.ServiceError) => {
        if (e.code === grpc.status.CANCELLED && this.stopped) return;
        if (!ready) reject(e);
        else this.reopenDesk();
      });
      s.on('end', () => this.reopenDesk());
    });
  }

  private reopenDesk(): void {
    if (this.stopped) return;
    counts.deskReconnects++;
    void sleep(200).then(() => this.openDesk().catch(() => this.reopenDesk()));
  }

  private onEvent(e: Event): void {
    if (e.offered) {
      const { conversationId, agentId } = e.offered;
      void sleep(rnd(50, 600)).then(() => this.answerOffer(conversationId, agentId));
    } else if (e.assigned) {
      const { conversationId, agentId } = e.assigned;
      let o = this.open.get(conversationId);
      if (!o) {
        // An enqueue whose answer timed out may still have been carried out: its agent ends it all the same.
        if (!conversationId.startsWith(`${this.run}-`)) return;
        o = { at: Date.now(), token: 0, agent: null };
        this.open.set(conversationId, o);
      }
      o.agent = agentId;
      const token = ++o.token;
      void sleep(rnd(300, 2500)).then(() => this.talkDone(conversationId, token));
    } else if (e.transferred) {
      const o = this.open.get(e.transferred.conversationId);
      if (o) {
        o.token++;
        o.agent = null;
      }
    } else if (e.conversationEnded) {
      this.forget(e.conversationEnded.conversationId);
    } else if (e.wrapUpStarted) {
      // Half the wrap-ups are finished early from the desk, the others run out on the engine's timer.
      const agentId = e.wrapUpStarted.agentId;
      if (RNG() < 0.5)
        void sleep(rnd(100, 800)).then(async () => {
          const r = await call(() =>
            unary(
              this.c.desk,
              this.c.desk.finishWrapUp,
              { tenant: this.tenant, requestId: '', agentId },
              CALL_MS,
            ),
          );
          if (r) counts.wrapUpsFinished++;
        });
    } else if (e.abandoned) {
      counts.abandoned++;
      this.forget(e.abandoned.conversationId);
    }
  }

  private forget(id: string): void {
    if (this.open.delete(id)) {
      this.closed++;
      counts.closed++;
    }
  }

  private async answerOffer(conversationId: string, agentId: string): Promise<void> {
    const { tenant, c } = this;
    if (RNG() < 0.15) {
      const r = await call(() =>
        unary(c.desk, c.desk.rejectOffer, { tenant, requestId: '', agentId, conversationId }, CALL_MS),
      );
      if (r) counts.rejected++;
    } else {
      const r = await call(() =>
        unary(c.desk, c.desk.acceptOffer, { tenant, requestId: '', agentId, conversationId }, CALL_MS),
      );
      if (r) counts.accepted++;
    }
  }

  /** The agent's talk with the customer is over: 8 % are transferred to billing, the rest ended. */
  private async talkDone(conversationId: string, token: number): Promise<void> {
    const o = this.open.get(conversationId);
    if (!o || o.token !== token) return;
    const { tenant, c } = this;
    if (RNG() < 0.08) {
      const r = await call(() =>
        unary(
          c.gateway,
          c.gateway.transfer,
          { tenant, requestId: '', conversationId, toQueueId: QUEUES.transfer },
          CALL_MS,
        ),
      );
      if (r) counts.transferred++;
      return;
    }
    const r = await call(() =>
      unary(
        c.desk,
        c.desk.endConversation,
        { tenant, requestId: '', conversationId, outcome: pick(OUTCOMES) },
        CALL_MS,
      ),
    );
    if (r) counts.ended++;
  }

  /** A new conversation with a new id; 70 % from a new customer, the rest from a recent one. */
  async enqueueOne(n: number): Promise<void> {
    const { tenant, c } = this;
    const id = `${this.run}-${n}`;
    let customer: string;
    if (this.recentCustomers.length > 0 && RNG() < 0.3) customer = pick(this.recentCustomers);
    else {
      customer = `cu-${this.run}-${n}`;
      this.newCustomers++;
      this.recentCustomers.push(customer);
      if (this.recentCustomers.length > 500) this.recentCustomers.shift();
    }
    const r = RNG();
    const queue = r < 0.45 ? QUEUES.direct : r < 0.9 ? QUEUES.offer : QUEUES.transfer;
    this.open.set(id, { at: Date.now(), token: 0, agent: null });
    counts.enqueued++;
    const res = await call(() =>
      unary(c.gateway, c.gateway.enqueue, chatEnqueue(tenant, queue, id, customer), CALL_MS),
    );
    if (!res) {
      this.open.delete(id);
      return;
    }
    const status = EnqueueStatus[res.status] ?? String(res.status);
    counts.enqueueStatus[status] = (counts.enqueueStatus[status] ?? 0) + 1;
    if (res.status === EnqueueStatus.ENQUEUE_STATUS_OFFERED && RNG() < 0.04) {
      // The customer hangs up while the agent's desk is ringing.
      void sleep(rnd(20, 300)).then(async () => {
        if (this.open.get(id)?.agent !== null) return;
        const ok = await call(() =>
          unary(c.gateway, c.gateway.cancel, { tenant, requestId: '', conversationId: id }, CALL_MS),
        );
        if (ok) counts.cancelled++;
      });
    }
    if (
      res.status === EnqueueStatus.ENQUEUE_STATUS_QUEUED ||
      res.status === EnqueueStatus.ENQUEUE_STATUS_OVER_CAPACITY
    ) {
      // An impatient customer gives up after 1–6 s if still waiting (the cancel fails once assigned).
      if (RNG() < 0.25)
        void sleep(rnd(1000, 6000)).then(async () => {
          const o = this.open.get(id);
          if (!o || o.agent !== null) return;
          const ok = await call(() =>
            unary(c.gateway, c.gateway.cancel, { tenant, requestId: '', conversationId: id }, CALL_MS),
          );
          if (ok) counts.cancelled++;
        });
    }
  }

  /** One agent goes away or logs off for 2–10 s (most of the pool stays online). */
  async churnAgent(): Promise<void> {
    if (this.resting.size >= this.agents.length * 0.25) return;
    const id = pick(this.agents);
    if (this.resting.has(id)) return;
    this.resting.add(id);
    const presence = RNG() < 0.6 ? Presence.PRESENCE_AWAY : Presence.PRESENCE_OFFLINE;
    const set = (p: Presence) =>
      call(() =>
        unary(
          this.c.desk,
          this.c.desk.setPresence,
          { tenant: this.tenant, requestId: '', agentId: id, presence: p },
          CALL_MS,
        ),
      );
    if (await set(presence)) counts.presenceChanges++;
    await sleep(rnd(2000, 10_000));
    if (await set(Presence.PRESENCE_ONLINE)) counts.presenceChanges++;
    this.resting.delete(id);
  }

  /** Staff turnover: an agent with a new id works for 10–20 s, logs off and is removed. */
  async tempAgent(n: number): Promise<void> {
    const { tenant, c } = this;
    const id = `soak-temp-${this.run}-${n}`;
    counts.tempAgents++;
    if (
      !(await call(() =>
        unary(c.admin, c.admin.upsertAgent, { tenant, requestId: '', agent: chatAgent(id, n, 2) }, CALL_MS),
      ))
    )
      return;
    await call(() =>
      unary(
        c.desk,
        c.desk.setPresence,
        { tenant, requestId: '', agentId: id, presence: Presence.PRESENCE_ONLINE },
        CALL_MS,
      ),
    );
    await sleep(rnd(10_000, 20_000));
    await call(() =>
      unary(
        c.desk,
        c.desk.setPresence,
        { tenant, requestId: '', agentId: id, presence: Presence.PRESENCE_OFFLINE },
        CALL_MS,
      ),
    );
    // Removing an agent who still holds conversations is refused: their desk ends what they hold (as
    // one does before leaving), then the agent is removed; an agent left behind would keep its series.
    for (let i = 0; ; i++) {
      await sleep(3000);
      const held = await call(() =>
        unary(c.gateway, c.gateway.listAgentConversations, { tenant, requestId: '', agentId: id }, CALL_MS),
      );
      if (i >= 3)
        for (const conv of held?.conversations ?? [])
          await call(() =>
            unary(
              c.desk,
              c.desk.endConversation,
              { tenant, requestId: '', conversationId: conv.id, outcome: Outcome.OUTCOME_NEEDS_FOLLOW_UP },
              CALL_MS,
            ),
          );
      if (
        await call(() => unary(c.admin, c.admin.removeAgent, { tenant, requestId: '', agentId: id }, CALL_MS))
      ) {
        counts.tempAgentsRemoved++;
        return;
      }
      if (!counting) return;
    }
  }

  /** A short-lived watcher (a supervisor's wallboard, a desktop reconnecting): 1–8 s, then cancelled. */
  watcher(): void {
    const r = RNG();
    const filter =
      r < 0.3
        ? { queueId: pick(Object.values(QUEUES)) }
        : r < 0.6
          ? { agentId: pick(this.agents) }
          : r < 0.8
            ? { types: ['assigned', 'queued', 'abandoned'] }
            : {};
    const s = this.c.events.watchEvents({ tenant: this.tenant, requestId: '', types: [], ...filter });
    counts.watchersOpened++;
    this.watchers.add(s);
    s.on('data', () => undefined);
    s.on('error', (e: grpc.ServiceError) => {
      if (e.code !== grpc.status.CANCELLED) failed(e);
    });
    s.on('close', () => this.watchers.delete(s));
    setTimeout(() => s.cancel(), rnd(1000, 8000));
  }

  /** One read a supervisor or a desktop would make. */
  async read(): Promise<void> {
    const { tenant, c } = this;
    const r = RNG();
    counts.reads++;
    const someOpen = () => {
      const ids = [...this.open.keys()].slice(0, 20);
      return ids.length > 0 ? pick(ids) : `${this.run}-0`;
    };
    if (r < 0.2)
      await call(() =>
        unary(
          c.stats,
          c.stats.listQueueStats,
          { tenant, requestId: '', pageSize: 0, pageToken: '' },
          CALL_MS,
        ),
      );
    else if (r < 0.35)
      await call(() =>
        unary(
          c.stats,
          c.stats.listAgentStats,
          { tenant, requestId: '', queueId: '', team: '', pageSize: 0, pageToken: '' },
          CALL_MS,
        ),
      );
    else if (r < 0.5)
      await call(() =>
        unary(
          c.gateway,
          c.gateway.listWaiting,
          { tenant, requestId: '', queueId: pick(Object.values(QUEUES)), pageSize: 50, pageToken: '' },
          CALL_MS,
        ),
      );
    else if (r < 0.65)
      await call(() =>
        unary(
          c.gateway,
          c.gateway.listAgentConversations,
          { tenant, requestId: '', agentId: pick(this.agents) },
          CALL_MS,
        ),
      );
    else if (r < 0.85)
      await call(() =>
        unary(
          c.gateway,
          c.gateway.getConversation,
          { tenant, requestId: '', conversationId: someOpen() },
          CALL_MS,
        ),
      );
    else if (r < 0.92)
      await call(() =>
        unary(c.admin, c.admin.listAgents, { tenant, requestId: '', pageSize: 0, pageToken: '' }, CALL_MS),
      );
    else
      await call(() =>
        unary(c.stats, c.stats.getAgentStats, { tenant, requestId: '', agentId: pick(this.agents) }, CALL_MS),
      );
  }

  /**
   * Conversations open in this script for over 60 s (an event the desk stream missed, a transfer into a
   * busy queue): asked for, and ended or cancelled, so the workload itself cannot pile up open ones.
   */
  async sweep(): Promise<void> {
    const { tenant, c } = this;
    const old = Date.now() - 60_000;
    for (const [id, o] of [...this.open]) {
      if (o.at > old) continue;
      counts.swept++;
      const got = await call(() =>
        unary(c.gateway, c.gateway.getConversation, { tenant, requestId: '', conversationId: id }, CALL_MS),
      );
      const status = got?.conversation?.status;
      if (got === null || status === 5 || status === 6 || status === 4) {
        this.forget(id);
        continue;
      }
      if (status === 3)
        await call(() =>
          unary(
            c.desk,
            c.desk.endConversation,
            { tenant, requestId: '', conversationId: id, outcome: Outcome.OUTCOME_CLOSED },
            CALL_MS,
          ),
        );
      else
        await call(() =>
          unary(c.gateway, c.gateway.cancel, { tenant, requestId: '', conversationId: id }, CALL_MS),
        );
      // Looked at again in a minute if its end or cancel did not reach us as an event.
      o.at = Date.now();
    }
  }

  /** The engine's own count of open conversations: waiting in its queues + held by its agents. */
  async engineOpen(): Promise<number | null> {
    const { tenant, c } = this;
    const q = await call(() =>
      unary(c.stats, c.stats.listQueueStats, { tenant, requestId: '', pageSize: 0, pageToken: '' }, CALL_MS),
    );
    const a = await call(() =>
      unary(
        c.stats,
        c.stats.listAgentStats,
        { tenant, requestId: '', queueId: '', team: '', pageSize: 0, pageToken: '' },
        CALL_MS,
      ),
    );
    if (!q || !a) return null;
    return q.stats.reduce((n, s) => n + s.waiting, 0) + a.stats.reduce((n, s) => n + s.open, 0);
  }

  stop(): void {
    this.stopped = true;
    this.desk?.cancel();
    for (const w of this.watchers) w.cancel();
  }
}

interface Sample {
  t: number;
  conversations: number;
  closed: number;
  /** Calls so far, failed ones that are no race of the workload, and calls the node shed. */
  calls: number;
  unexpected: number;
  shed: number;
  engineOpen: number | null;
  scriptOpen: number;
  diskBytes: number;
  /** Cluster: the SB_EVENTS stream's bytes (retained 7 days by design; not in `diskBytes`). */
  eventsBytes: number;
  nodes: {
    id: string;
    rssMb: number | null;
    heapUsedMb: number | null;
    heapAfterGcMb: number | null;
    /** The main thread's share of it (forced GC only). */
    mainAfterGcMb: number | null;
    /** The sum over isolates of the heap after each one's last natural full GC (`--trace-gc`). */
    naturalGcMb: number | null;
    isolates: number;
    fds: number | null;
    lagP99Ms: number | null;
    series: number | null;
    /**
     * The node's event history for resumed watches is full (it has evicted), or the node keeps none
     * (cluster mode resumes from SB_EVENTS): until then it grows by design (~0.3-0.4 KiB an event).
     */
    historyFull: boolean;
  }[];
}

function metricValue(text: string | null, name: string): number | null {
  if (text === null) return null;
  const s = parseSamples(text, name);
  return s.length > 0 ? s.reduce((n, x) => n + x.value, 0) : null;
}

function seriesCount(text: string | null): number | null {
  if (text === null) return null;
  let n = 0;
  for (const line of text.split('\n')) if (line !== '' && line[0] !== '#') n++;
  return n;
}

/** Series per metric name (histogram parts under their family's name), to say which ones grew. */
function seriesByFamily(text: string | null): Record<string, number> {
  const out: Record<string, number> = {};
  if (text === null) return out;
  for (const line of text.split('\n')) {
    if (line === '' || line[0] === '#') continue;
    const name = (/^[a-zA-Z_:][\w:]*/.exec(line)?.[0] ?? '').replace(/_(bucket|sum|count)$/, '');
    out[name] = (out[name] ?? 0) + 1;
  }
  return out;
}

/** The first node's series per family at each sample (kept apart: too bulky for the report's JSON). */
const familiesAt = new Map<number, Record<string, number>>();

async function takeSample(t: number, target: Target, loads: TenantLoad[]): Promise<Sample> {
  const nodes = await Promise.all(
    target.nodes.map(async (n) => {
      const text = await scrapeText(n.metricsUrl);
      const rss = metricValue(text, 'process_resident_memory_bytes');
      const heap = metricValue(text, 'nodejs_heap_size_used_bytes');
      const lag = metricValue(text, 'nodejs_eventloop_lag_p99_seconds');
      const after = [...n.gcAfter.values()];
      const naturalMb = after.length > 0 ? after.reduce((a, b) => a + b, 0) : null;
      const gc = n.inspector ? await n.inspector.heapAfterGc().catch(() => null) : null;
      if (n === target.nodes[0]) familiesAt.set(t, seriesByFamily(text));
      return {
        id: n.id,
        rssMb: rss === null ? null : rss / 2 ** 20,
        heapUsedMb: heap === null ? null : heap / 2 ** 20,
        heapAfterGcMb: gc
          ? gc.mainMb + gc.workersMb.reduce((a, b) => a + b, 0)
          : n.inspector
            ? null
            : naturalMb,
        mainAfterGcMb: gc ? gc.mainMb : null,
        naturalGcMb: naturalMb,
        isolates: gc ? 1 + gc.workersMb.length : after.length,
        fds: metricValue(text, 'process_open_fds'),
        lagP99Ms: lag === null ? null : lag * 1000,
        series: seriesCount(text),
        historyFull: (metricValue(text, 'switchboard_event_history_evicted_total') ?? 1) > 0,
      };
    }),
  );
  const opens = await Promise.all(loads.map((l) => l.engineOpen()));
  const events = { bytes: 0 };
  return {
    t,
    conversations: counts.enqueued,
    closed: counts.closed,
    calls: counts.calls,
    unexpected: counts.unexpected,
    shed: counts.errors.RESOURCE_EXHAUSTED ?? 0,
    engineOpen: opens.some((o) => o === null) ? null : opens.reduce((a: number, b) => a + (b as number), 0),
    scriptOpen: loads.reduce((n, l) => n + l.open.size, 0),
    diskBytes: target.dataDirs.reduce((n, d) => n + dirBytes(d, events), 0),
    eventsBytes: events.bytes,
    nodes,
  };
}

/** Calls `f` every `ms` until `until`, without overlapping itself. */
async function every(ms: number, until: number, f: () => Promise<void> | void): Promise<void> {
  while (Date.now() < until) {
    const next = Date.now() + ms;
    await f();
    await sleep(Math.max(0, next - Date.now()));
  }
}

async function main(): Promise<number> {
  const target = await startTarget();
  for (const n of target.nodes) {
    const url = inspectorUrl(n.server.tail());
    n.inspector = url ? await InspectorHeap.connect(url).catch(() => null) : null;
  }
  const forced = target.nodes.every((n) => n.inspector !== null);
  console.log(
    forced
      ? 'heap: a full GC forced in every isolate through the inspector before each reading'
      : "heap: no WebSocket client or inspector here: the heap after each isolate's last natural full GC (--trace-gc)",
  );
  const run = `s${Date.now().toString(36)}`;
  const loads: TenantLoad[] = [];
  let ok = false;
  let samples: Sample[] = [];
  let fullAt: number | null = null;
  let t0 = 0;
  try {
    console.log(
      `soak: ${target.label}, ${args.tenants} tenants × ${args.agents} agents, ${args.rate} conversations/s for ${args.minutes} min; snapshots every ${args['snapshot-seconds']} s; customer limit ${args['customer-limit']}; sample every ${args['sample-seconds']} s`,
    );
    for (let i = 0; i < args.tenants; i++) {
      const node = target.nodes[i % target.nodes.length] as SoakNode;
      const l = new TenantLoad(`soak-${i}`, clientsOf(node.grpcTarget), `${run}t${i}`);
      await l.setup();
      loads.push(l);
    }
    console.log('setup done');
    t0 = Date.now();
    const until = t0 + RUN_MS;
    let seq = 0;
    let inflight = 0;
    let temp = 0;
    const tasks: Promise<void>[] = [];
    // Arrivals: open loop at --rate, round robin over the tenants, capped in flight.
    tasks.push(
      (async () => {
        const interval = 1000 / args.rate;
        let due = Date.now();
        while (Date.now() < until) {
          const now = Date.now();
          while (due <= now) {
            due += interval;
            if (inflight >= MAX_INFLIGHT) {
              counts.skippedBusy++;
              continue;
            }
            const n = seq++;
            const l = loads[n % loads.length] as TenantLoad;
            inflight++;
            void l.enqueueOne(n).finally(() => {
              inflight--;
            });
          }
          await sleep(Math.max(1, due - Date.now()));
        }
      })(),
    );
    for (const l of loads) {
      tasks.push(every(700, until, () => void l.churnAgent()));
      tasks.push(every(2000, until, () => l.watcher()));
      tasks.push(every(100, until, () => void l.read()));
      tasks.push(every(15_000, until, () => void l.tempAgent(temp++)));
      tasks.push(every(10_000, until, () => l.sweep()));
    }
    // Samples.
    tasks.push(
      every(args['sample-seconds'] * 1000, until + 1, async () => {
        const s = await takeSample((Date.now() - t0) / 1000, target, loads);
        samples.push(s);
        if (
          fullAt === null &&
          loads.every((l) => l.closed >= RECENT_CLOSED && l.newCustomers >= args['customer-limit']) &&
          s.nodes.every((n) => n.historyFull)
        )
          fullAt = s.t;
        const n0 = s.nodes[0];
        console.log(
          `${s.t.toFixed(0).padStart(5)} s  conv ${s.conversations}  open ${s.engineOpen ?? '?'} (script ${s.scriptOpen})  ` +
            `rss ${n0?.rssMb?.toFixed(1)} MB  heap after GC ${n0?.heapAfterGcMb?.toFixed(1) ?? '?'} MB (main ${n0?.mainAfterGcMb?.toFixed(1) ?? '?'}, ${n0?.isolates} isolates)  ` +
            `fds ${n0?.fds}  series ${n0?.series}  lag p99 ${n0?.lagP99Ms?.toFixed(1)} ms  disk ${(s.diskBytes / 2 ** 20).toFixed(2)} MB  errors ${counts.unexpected}`,
        );
      }),
    );
    await Promise.all(tasks);
    counting = false;
    for (const l of loads) l.stop();
    ok = true;
  } finally {
    for (const l of loads) l.stop();
    for (const n of target.nodes) n.inspector?.close();
    await target.stop();
  }
  if (!ok) return 1;
  samples = samples.filter((s) => s.t <= RUN_MS / 1000 + args['sample-seconds']);
  return report(target, samples, fullAt);
}

function report(target: Target, samples: Sample[], fullAt: number | null): number {
  const runS = RUN_MS / 1000;
  const window = judgedWindow(runS, fullAt);
  const checks: CheckResult[] = [];
  let rate = 0;
  if (window) {
    const w = samples.filter((s) => s.t >= window[0]);
    const first = w[0];
    const last = w[w.length - 1];
    rate =
      first && last && last.t > first.t ? (last.conversations - first.conversations) / (last.t - first.t) : 0;
    const add = (spec: CheckSpec, pts: Point[]) => checks.push(judge(spec, pts, rate));
    const pts = (f: (s: Sample) => number | null) =>
      w.flatMap((s) => {
        const v = f(s);
        return v === null ? [] : [{ t: s.t, value: v }];
      });
    for (const [i, n] of target.nodes.entries()) {
      const sfx = target.nodes.length > 1 ? ` (${n.id})` : '';
      const key = target.nodes.length > 1 ? `_${n.id}` : '';
      const of = (f: (x: Sample['nodes'][number]) => number | null) =>
        pts((s) => f(s.nodes[i] as Sample['nodes'][number]));
      add(
        {
          key: `heap_after_gc_mb${key}`,
          what: `heap after full GC, all isolates, per-minute medians${sfx}`,
          unit: 'MB',
          tolerancePerHour: args['heap-mb-per-hour'],
        },
        // A reading taken while a snapshot is being written holds its text too (+10–15 MB), and a worker
        // read mid-way through a hand-over can come out low: per-minute medians.
        bucketMedians(
          of((x) => x.heapAfterGcMb),
          60,
        ),
      );
      // RSS jumps for a few seconds while a snapshot is serialised: its per-minute minima are judged.
      add(
        {
          key: `rss_mb${key}`,
          what: `RSS, per-minute minima${sfx}`,
          unit: 'MB',
          tolerancePerHour: args['rss-mb-per-hour'],
        },
        bucketMinima(
          of((x) => x.rssMb),
          60,
        ),
      );
      add(
        { key: `fds${key}`, what: `open fds${sfx}`, unit: 'fds', tolerancePerHour: args['fds-per-hour'] },
        of((x) => x.fds),
      );
      add(
        {
          key: `series${key}`,
          what: `metric series, per-minute minima${sfx}`,
          unit: 'series',
          tolerancePerHour: args['series-per-hour'],
        },
        // Temporary agents bring their per-agent series for a few seconds: per-minute minima.
        bucketMinima(
          of((x) => x.series),
          60,
        ),
      );
    }
    add(
      {
        key: 'disk_mb',
        what: 'data dir bytes (log + snapshots)',
        unit: 'MB',
        tolerancePerHour: args['disk-mb-per-hour'],
      },
      pts((s) => s.diskBytes / 2 ** 20),
    );
    add(
      {
        key: 'engine_open',
        what: 'engine open conversations',
        unit: 'conv',
        tolerancePerHour: args['open-per-hour'],
      },
      pts((s) => s.engineOpen),
    );
  }
  // The log is trimmed: the data dir's bytes fell at least once between samples (a snapshot's trim).
  const drops = samples.slice(1).filter((s, i) => s.diskBytes < (samples[i] as Sample).diskBytes).length;
  const lastSample = samples[samples.length - 1];
  // Judged over the window, like the rest: a node that shed load while the bounded state filled on a
  // busy machine, then kept up, is measured in its steady state.
  const w0 = window ? samples.find((s) => s.t >= window[0]) : undefined;
  const windowCalls = (lastSample?.calls ?? 0) - (w0?.calls ?? 0);
  const windowUnexpected = (lastSample?.unexpected ?? 0) - (w0?.unexpected ?? 0);
  const windowShed = (lastSample?.shed ?? 0) - (w0?.shed ?? 0);
  const callErrorShare = windowCalls > 0 ? windowUnexpected / windowCalls : 0;
  const health = [
    {
      key: 'log_trimmed',
      what: 'data dir shrank after snapshots (trims seen)',
      value: drops,
      pass: drops > 0,
    },
    {
      key: 'unexpected_errors',
      what: 'failed calls in the window that are no race of the workload, share of its calls',
      value: callErrorShare,
      pass: callErrorShare < 0.01,
    },
    {
      key: 'window',
      what: 'judged window reached (bounded state full before 3/4 of the run)',
      value: window ? 1 : 0,
      pass: window !== null,
    },
  ];
  const pass = checks.every((c) => c.pass) && health.every((h) => h.pass);
  // Load the node shed, or conversations piling up: it fell behind, and what grew meanwhile is backlog.
  const shed = windowShed;
  const behind = shed > 0 || checks.some((c) => c.key === 'engine_open' && !c.pass);
  // Which metric families gained series over the window (first node).
  const fam = window ? [...familiesAt.entries()].filter(([t]) => t >= window[0]) : [];
  const famFirst = fam[0]?.[1] ?? {};
  const famLast = fam[fam.length - 1]?.[1] ?? {};
  const famGrowth = Object.entries(famLast)
    .map(([k, v]) => [k, v - (famFirst[k] ?? 0)] as const)
    .filter(([, d]) => d !== 0)
    .sort((a, b) => b[1] - a[1]);

  console.log('');
  console.log(
    `soak ${target.label}: ${(runS / 60).toFixed(1)} min, ${counts.enqueued} conversations (${(counts.enqueued / runS).toFixed(0)}/s), ${counts.calls} calls; ` +
      `engine's bounded state full at ${fullAt === null ? 'never' : `${fullAt.toFixed(0)} s`}; judged window ${window ? `${window[0].toFixed(0)}–${window[1].toFixed(0)} s` : 'none'}`,
  );
  console.log(
    `  enqueue answers ${JSON.stringify(counts.enqueueStatus)}; accepted ${counts.accepted}, rejected ${counts.rejected}, transferred ${counts.transferred}, ended ${counts.ended}, ` +
      `wrap-ups finished early ${counts.wrapUpsFinished}, cancelled ${counts.cancelled}, abandoned ${counts.abandoned}, presence changes ${counts.presenceChanges}, ` +
      `temporary agents ${counts.tempAgents} (removed ${counts.tempAgentsRemoved}), watchers ${counts.watchersOpened}, reads ${counts.reads}, swept ${counts.swept}, desk reconnects ${counts.deskReconnects}, arrivals skipped (in flight ≥ ${MAX_INFLIGHT}) ${counts.skippedBusy}`,
  );
  console.log(`  failed calls by code: ${JSON.stringify(counts.errors)} (unexpected ${counts.unexpected})`);
  for (const [code, msgs] of Object.entries(errorExamples)) console.log(`    ${code}: ${msgs.join(' | ')}`);
  const lastEvents = lastSample?.eventsBytes ?? 0;
  if (lastEvents > 0)
    console.log(
      `  SB_EVENTS stream (kept 7 days / 8 GiB by design, not judged): ${fmt(lastEvents / 2 ** 20)} MB at the end, ${fmt(lastEvents / Math.max(1, counts.enqueued))} B per conversation`,
    );
  const lagAll = samples.flatMap((s) => s.nodes.map((n) => n.lagP99Ms ?? 0));
  console.log(
    `  event-loop lag p99 (per sample, all nodes): max ${fmt(Math.max(0, ...lagAll))} ms (reported, not judged)`,
  );
  console.log('');
  const rows = checks.map((c) => [
    c.what,
    `${fmt(c.first)} → ${fmt(c.last)} (${fmt(c.min)}–${fmt(c.max)})`,
    `${fmt(c.perMinute)}`,
    c.per1kConversations === null ? '—' : fmt(c.per1kConversations),
    `≤ ${fmt(c.tolerancePerHour)} ${c.unit}/h`,
    c.pass ? 'PASS' : 'FAIL',
  ]);
  const head = ['check', 'window first → last (min–max)', 'slope/min', 'per 1k conv', 'tolerance', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (r: string[]) => r.map((x, i) => x.padEnd(widths[i] as number)).join('  ');
  console.log(line(head));
  for (const r of rows) console.log(line(r));
  for (const h of health) console.log(`${h.what}: ${fmt(h.value)}  ${h.pass ? 'PASS' : 'FAIL'}`);
  for (const c of checks) if (c.reason) console.log(`FAIL ${c.key}: ${c.reason}`);
  if (famGrowth.length > 0)
    console.log(
      `metric series gained or lost over the window: ${famGrowth
        .slice(0, 8)
        .map(([k, d]) => `${k} ${d > 0 ? '+' : ''}${d}`)
        .join(', ')}`,
    );
  if (!pass && behind)
    console.log(
      `INCONCLUSIVE: the node fell behind the offered load in the window (${shed} calls shed with RESOURCE_EXHAUSTED, engine open conversations ${lastSample?.engineOpen ?? '?'} at the end): what grew meanwhile includes that backlog; rerun with a lower --rate on a quieter machine`,
    );

  const result = {
    mode: args.cluster ? 'cluster' : 'embedded',
    minutes: args.minutes,
    conversations: counts.enqueued,
    rate_per_s: Math.round(counts.enqueued / runS),
    calls: counts.calls,
    unexpected_errors: counts.unexpected,
    full_at_s: fullAt,
    window_s: window,
    checks: Object.fromEntries(
      checks.map((c) => [
        c.key,
        {
          first: round(c.first),
          last: round(c.last),
          per_min: round(c.perMinute),
          per_1k_conv: c.per1kConversations === null ? null : round(c.per1kConversations),
          tolerance_per_h: c.tolerancePerHour,
          pass: c.pass,
        },
      ]),
    ),
    log_trims_seen: drops,
    events_stream_mb: round(lastEvents / 2 ** 20),
    fell_behind: behind,
    series_growth: Object.fromEntries(famGrowth.slice(0, 8)),
    engine_open_last: lastSample?.engineOpen ?? null,
    pass,
  };
  if (!args['no-report']) {
    const labels = samples.map((s) => s.t.toFixed(0));
    const every = Math.max(1, Math.ceil(samples.length / 12));
    const nodeSeries = (f: (x: Sample['nodes'][number]) => number | null) =>
      target.nodes.map((n, i) => ({
        name: n.id,
        values: samples.map((s) => f(s.nodes[i] as Sample['nodes'][number])),
      }));
    const files = writeReport({
      kind: `soak-${result.mode}`,
      title: `Soak: ${target.label}, ${args.minutes} min`,
      summary: {
        verdict: pass ? 'PASS' : 'FAIL',
        conversations: counts.enqueued,
        'conv/s': result.rate_per_s,
        window: window ? `${window[0].toFixed(0)}–${window[1].toFixed(0)} s` : 'none',
        ...Object.fromEntries(checks.map((c) => [`${c.key} /min`, fmt(c.perMinute)])),
      },
      charts: [
        {
          title: 'Heap used after full GC (all isolates), MB',
          kind: 'line',
          labels,
          labelEvery: every,
          yLabel: 'MB',
          series: nodeSeries((x) => x.heapAfterGcMb),
        },
        {
          title: 'RSS, MB',
          kind: 'line',
          labels,
          labelEvery: every,
          yLabel: 'MB',
          series: nodeSeries((x) => x.rssMb),
        },
        {
          title: 'Open fds',
          kind: 'line',
          labels,
          labelEvery: every,
          yLabel: 'fds',
          series: nodeSeries((x) => x.fds),
        },
        {
          title: 'Metric series',
          kind: 'line',
          labels,
          labelEvery: every,
          yLabel: 'series',
          series: nodeSeries((x) => x.series),
        },
        {
          title: 'Event-loop lag p99, ms',
          kind: 'line',
          labels,
          labelEvery: every,
          yLabel: 'ms',
          series: nodeSeries((x) => x.lagP99Ms),
        },
        {
          title: 'Data dir, MB / engine open conversations',
          kind: 'line',
          labels,
          labelEvery: every,
          yLabel: 'MB / conv',
          series: [
            { name: 'disk MB', values: samples.map((s) => s.diskBytes / 2 ** 20) },
            { name: 'open conversations', values: samples.map((s) => s.engineOpen) },
          ],
        },
      ],
      tables: [
        {
          title: 'Checks (fitted over the judged window)',
          columns: head,
          rows,
        },
      ],
      notes: [
        "Heap after full GC: the sum over the node's isolates (main thread, partition worker threads) of the heap used after each one's latest mark-compact, from --trace-gc.",
        `Judged window: the second half of the run, or from when every tenant had closed ${RECENT_CLOSED} conversations (the engine's recently-closed list) and met --customer-limit new customers, if later.`,
      ],
      data: { args, counts, errorExamples, result, samples },
    });
    console.log(`report: ${files.html}`);
  }
  console.log(JSON.stringify(result));
  return pass ? 0 : 1;
}

function round(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1000) / 1000 : x;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);

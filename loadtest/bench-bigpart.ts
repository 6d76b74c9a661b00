/**
 * `npm run bench:bigpart`: one whole node (embedded: file log + file snapshots, one worker thread) holding
 * one big partition (SPEC §5: "up to 1 000 000 waiting conversations"): 10 000 agents, all busy, and
 * `--waiting` conversations queued behind them from `--customers` customers.
 *
 * Phase `build` (a child process): builds the partition through the host (logged commands), times the
 * reads whose answer depends on the line (queue stats, a ListWaiting page, a conversation at the back
 * with its position and estimated wait, an agent's conversations), then takes a snapshot while a
 * prober keeps calling (an enqueue on the big partition, a query on a small tenant on the same worker)
 * and memory is sampled; then logs `--after` more commands, and asks to be killed.
 * The parent `kill -9`s it, then phase `recover` (a fresh process on the same data directory) times the
 * first answer (snapshot load + log replay) with its memory.
 *
 * Usage: npm run bench:bigpart -- [--waiting 1000000] [--agents 10000] [--customers 100000] [--after 20000]
 * Last stdout line: one JSON object with every figure.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { createEmbeddedPorts } from '../src/cluster/index.js';
import type { Query } from '../src/engine/api.js';
import type { AgentConfig, ApplyResult, Command, CommandEnvelope, QueueConfig } from '../src/engine/types.js';
import { PartitionHost } from '../src/host/partition-host.js';
import { createWorkerPool } from '../src/host/worker-pool.js';
import { scriptArgs } from './lib/args.js';
import { queueConfig } from './lib/engine-workload.js';
import { LatencyHistogram } from './lib/hdr.js';

const args = scriptArgs({
  usage: 'npm run bench:bigpart -- [options]',
  options: {
    waiting: { type: 'int', default: 1_000_000, min: 0, help: 'waiting conversations' },
    agents: { type: 'int', default: 10_000, min: 1, help: 'agents (all busy: 2 chats each)' },
    customers: { type: 'int', default: 100_000, min: 1, help: 'distinct customers of the waiting ones' },
    queues: { type: 'int', default: 20, min: 1, help: 'queues' },
    after: {
      type: 'int',
      default: 20_000,
      min: 0,
      help: 'commands logged after the snapshot, before the kill',
    },
    phase: { type: 'string', default: 'main', choices: ['main', 'build', 'recover'], help: 'internal' },
    dir: { type: 'string', help: 'internal: data directory' },
  },
});

const BIG = 'big';
const SMALL = 'small';
let idSeq = 0;
const env = (cmd: Command): CommandEnvelope => ({ id: `k${process.pid}-${++idSeq}`, at: Date.now(), cmd });

function queue(q: number): QueueConfig {
  return queueConfig(`q${q}`, `s${q}`, 'least_busy', q % 5);
}

function agent(i: number, queues: number): AgentConfig {
  const s1 = i % queues;
  const s2 = (i * 7 + 3) % queues;
  const skills = [{ skill: `s${s1}`, level: 5 }];
  if (s2 !== s1) skills.push({ skill: `s${s2}`, level: 6 });
  return {
    id: `agent-${i}`,
    displayName: `Agent ${i}`,
    skills,
    teams: [],
    tier: 1,
    seniority: 'experienced',
    capacity: { chat: 2 },
    wrapUpSeconds: 0,
    queues: [],
  };
}

let convSeq = 0;
function arrival(queues: number, customers: number): Command {
  const n = ++convSeq;
  return {
    type: 'enqueue',
    conversation: {
      id: `conv-${n}`,
      channel: 'chat',
      customer: { id: `cust-${n % customers}` },
      requiredSkills: [],
      queueId: `q${n % queues}`,
      priority: n % 3,
    },
  };
}

const mb = (b: number) => Math.round(b / 1048576);
const msSince = (t: number) => Math.round((performance.now() - t) * 10) / 10;

/** Samples RSS and the main thread's heap every 20 ms; the peaks since `reset`. */
class MemSampler {
  rss = 0;
  heap = 0;
  private timer: NodeJS.Timeout | null = null;
  start(): this {
    this.reset();
    this.timer = setInterval(() => this.sample(), 20);
    return this;
  }
  sample(): void {
    const m = process.memoryUsage();
    this.rss = Math.max(this.rss, m.rss);
    this.heap = Math.max(this.heap, m.heapUsed);
  }
  reset(): void {
    const m = process.memoryUsage();
    this.rss = m.rss;
    this.heap = m.heapUsed;
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

function out(o: object): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

async function openHost(dir: string): Promise<{ host: PartitionHost; close: () => Promise<void> }> {
  const ports = await createEmbeddedPorts({ dataDir: dir, nodeId: 'bench', fsync: 'interval' });
  const pool = createWorkerPool({ kind: 'port', threads: 1 });
  const host = new PartitionHost({
    ports,
    pool,
    maxInflight: 100_000,
    maxInflightPerTenant: 100_000,
    snapshotEveryCommands: 1e12,
    snapshotEverySeconds: 1e7,
    // No load shedding: the build pushes 1 000 000 commands as fast as the node takes them.
    maxLoopLagMs: 0,
  });
  await host.start();
  return {
    host,
    close: async () => {
      await host.stop(1000);
      await ports.close();
    },
  };
}

function must(r: ApplyResult): ApplyResult {
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r;
}

/** Submits `n` commands with up to `window` in flight. */
async function pump(host: PartitionHost, n: number, make: () => Command, window = 4000): Promise<void> {
  let i = 0;
  const worker = async () => {
    while (i < n) {
      i++;
      must(await host.submit(BIG, env(make())));
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, n) }, worker));
}

async function timeQuery(
  host: PartitionHost,
  q: Query,
  runs = 30,
): Promise<{ p50_ms: number; max_ms: number }> {
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await host.query(BIG, q);
    xs.push(performance.now() - t);
  }
  xs.sort((a, b) => a - b);
  return { p50_ms: +xs[Math.floor(runs / 2)]!.toFixed(2), max_ms: +xs[runs - 1]!.toFixed(2) };
}

async function dirBytes(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) n += (await stat(join(e.parentPath, e.name))).size;
  }
  return n;
}

async function build(dir: string): Promise<void> {
  const { host } = await openHost(dir);
  const { queues, agents, waiting, customers } = args;
  let t = performance.now();
  for (let q = 0; q < queues; q++)
    must(await host.submit(BIG, env({ type: 'upsert_queue', queue: queue(q) })));
  let ai = 0;
  await pump(host, agents, () => ({ type: 'upsert_agent', agent: agent(ai++, queues) }));
  ai = 0;
  await pump(host, agents, () => ({ type: 'set_presence', agentId: `agent-${ai++}`, presence: 'online' }));
  // 2 seats each: the first arrivals are assigned, the rest wait.
  await pump(host, agents * 2 + waiting, () => arrival(queues, customers));
  must(await host.submit(SMALL, env({ type: 'upsert_queue', queue: queue(0) })));
  const buildMs = msSince(t);
  const stats = await host.query(BIG, { type: 'queue_stats', queueId: 'q0' });
  const waitingQ0 = stats.type === 'queue_stats' ? stats.stats?.waiting : null;
  out({ phase: 'built', build_ms: buildMs, waiting_q0: waitingQ0 });

  const last = `conv-${convSeq}`;
  const reads = {
    queue_stats: await timeQuery(host, { type: 'queue_stats', queueId: 'q0' }),
    all_queue_stats: await timeQuery(host, { type: 'all_queue_stats' }),
    list_waiting_50: await timeQuery(host, { type: 'list_waiting', queueId: 'q0', limit: 50 }),
    conversation_last: await timeQuery(host, { type: 'conversation', conversationId: last }),
    agent_conversations: await timeQuery(host, { type: 'agent_conversations', agentId: 'agent-7' }, 10),
  };
  const lastView = await host.query(BIG, { type: 'conversation', conversationId: last });
  out({
    phase: 'reads',
    reads,
    last_position: lastView.type === 'conversation' ? lastView.conversation?.position : null,
  });

  // The snapshot, with a prober on both tenants and memory sampled.
  global.gc?.();
  const mem = new MemSampler().start();
  const lag = monitorEventLoopDelay({ resolution: 5 });
  const bigLat = new LatencyHistogram();
  const smallLat = new LatencyHistogram();
  let probing = true;
  // Two independent probers: a command on the big partition, a query on a small tenant of the same
  // worker (a stall of the thread shows on both, one of the big partition alone only on the first).
  const probe = async (h: LatencyHistogram, call: () => Promise<unknown>) => {
    while (probing) {
      const t1 = performance.now();
      await call();
      h.recordUs((performance.now() - t1) * 1000);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const prober = Promise.all([
    probe(bigLat, async () => must(await host.submit(BIG, env(arrival(queues, customers))))),
    probe(smallLat, () => host.query(SMALL, { type: 'queue_stats', queueId: 'q0' })),
  ]);
  await new Promise((r) => setTimeout(r, 300));
  const baseline = { big: bigLat.summary(), small: smallLat.summary() };
  bigLat.reset();
  smallLat.reset();
  lag.enable();
  t = performance.now();
  await host.drain(BIG, 60_000);
  const snapshotMs = msSince(t);
  lag.disable();
  probing = false;
  await prober;
  mem.stop();
  const snapFile = (await readdir(join(dir, 'snapshots'))).find(
    (f) => f.endsWith('.snap') && f.startsWith(BIG),
  );
  const snapBytes = snapFile ? (await stat(join(dir, 'snapshots', snapFile))).size : 0;
  out({
    phase: 'snapshot',
    snapshot_ms: snapshotMs,
    snapshot_file_bytes: snapBytes,
    v8_max_string_length: (1 << 29) - 24,
    peak_rss_mb: mb(mem.rss),
    peak_main_heap_mb: mb(mem.heap),
    heap_limit_mb: mb(getHeapStatistics().heap_size_limit),
    main_loop_lag_max_ms: +(lag.max / 1e6).toFixed(1),
    main_loop_lag_p99_ms: +(lag.percentile(99) / 1e6).toFixed(1),
    probe_before: baseline,
    probe_big_during: bigLat.summary(),
    probe_small_during: smallLat.summary(),
  });

  // Logged after the snapshot: what a recovery replays.
  t = performance.now();
  await pump(host, args.after, () => arrival(queues, customers), 500);
  out({ phase: 'after', after_ms: msSince(t), data_dir_bytes: await dirBytes(dir), killme: true });
  // The parent kills this process (kill -9): nothing is stopped or flushed on purpose beyond the fsync
  // interval the log keeps.
  await new Promise(() => {});
}

async function recover(dir: string): Promise<void> {
  global.gc?.();
  const mem = new MemSampler().start();
  const lag = monitorEventLoopDelay({ resolution: 5 });
  lag.enable();
  const t = performance.now();
  const { host, close } = await openHost(dir);
  const startMs = msSince(t);
  const r = await host.query(BIG, { type: 'queue_stats', queueId: 'q0' });
  const firstAnswerMs = msSince(t);
  lag.disable();
  mem.sample();
  mem.stop();
  const t2 = performance.now();
  must(await host.submit(BIG, env(arrival(args.queues, args.customers))));
  const firstCommandMs = msSince(t2);
  out({
    phase: 'recovered',
    start_ms: startMs,
    first_answer_ms: firstAnswerMs,
    first_command_after_ms: firstCommandMs,
    waiting_q0: r.type === 'queue_stats' ? r.stats?.waiting : null,
    peak_rss_mb: mb(mem.rss),
    peak_main_heap_mb: mb(mem.heap),
    main_loop_lag_max_ms: +(lag.max / 1e6).toFixed(1),
  });
  await close();
  process.exit(0);
}

function child(phase: string, dir: string, onLine: (o: Record<string, unknown>, c: ChildProcess) => void) {
  const self = fileURLToPath(import.meta.url);
  const argv = process.argv.slice(2).filter((a) => !a.startsWith('--phase') && !a.startsWith('--dir'));
  const c = spawn(process.execPath, ['--expose-gc', self, ...argv, '--phase', phase, '--dir', dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  createInterface({ input: c.stdout! }).on('line', (l) => {
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(l) as Record<string, unknown>;
    } catch {
      return;
    }
    console.log(l);
    onLine(o, c);
  });
  return new Promise<number | null>((resolve) => c.on('exit', (code, sig) => resolve(sig ? -1 : code)));
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sb-bigpart-'));
  const all: Record<string, unknown> = {
    agents: args.agents,
    waiting: args.waiting,
    customers: args.customers,
  };
  try {
    const code = await child('build', dir, (o, c) => {
      all[o.phase as string] = o;
      if (o.killme) c.kill('SIGKILL');
    });
    if (code !== -1) throw new Error(`build phase ended with ${code}, not killed`);
    await child('recover', dir, (o) => {
      all[o.phase as string] = o;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  console.log(JSON.stringify(all));
}

if (args.phase === 'build') await build(args.dir!);
else if (args.phase === 'recover') await recover(args.dir!);
else await main();

/**
 * `npm run bench:host`: what the thread hop costs per conversation, and what micro-batching buys.
 *
 * Every scenario routes the same conversations (one tenant, 20 agents with room to spare): each is
 * enqueued (→ assigned) and then ended, so the state stays steady; latency is per conversation (both
 * commands, submit → answer) and throughput is conversations per second:
 *
 * - `hop/<pool>/1-by-1`        one call per conversation, one in flight (the raw round trip)
 * - `hop/<pool>/1-by-1 ×C`     one call per command, C clients in flight (no batching)
 * - `hop/<pool>/batched ×C`    the same commands micro-batched per event-loop turn, one call in flight
 * - `host/<pool> ×C`           the whole PartitionHost (batching, ordered release, events, metrics hooks)
 *                              over an in-memory log: hop + batching + host bookkeeping + engine
 * - `host/port pipelined ×C`   the same with 2 calls in flight per worker (`callsPerSlot: 2`)
 * - `host/port flush-on-microtask ×C` gathered work leaves on a microtask instead of setImmediate
 * - `host/port/file-<fsync> ×C` the same with the real embedded log (interval / always fsync)
 *
 * `<pool>` is `port` (worker_threads + MessagePort), `piscina` (Piscina 5, sticky balancer) or `inline` (the
 * same actors on the main thread, requests and answers copied as across a hop).
 * Flags: --conversations N (default 20000), --clients C (default 64). Last line: one JSON object.
 *
 * `--open-loop` instead measures what the gRPC load test's server side sees: conversations arrive at
 * `--rate` per second (enqueue, then end once answered) on a host over the real embedded log with
 * `fsync always`, and the enqueue's submit → durable answer is recorded. Variants (appends in flight per
 * partition, zero-preallocated log or not, write on the main thread or the thread pool) run side by
 * side in alternating rounds of `--round-seconds`, so the machine's noise hits them all alike.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileCommandLog } from '../src/cluster/embedded/index.js';
import { createEmbeddedPorts, type NodePorts } from '../src/cluster/index.js';
import type { CommandLog, LogBatch } from '../src/cluster/ports.js';
import { systemClock } from '../src/cluster/ports.js';
import type { AgentConfig, ApplyResult, Command, CommandEnvelope, QueueConfig } from '../src/engine/types.js';
import { PartitionHost } from '../src/host/partition-host.js';
import type { HostItem } from '../src/host/protocol.js';
import { createWorkerPool, type PoolKind, type WorkerPool } from '../src/host/worker-pool.js';
import { scriptArgs } from './lib/args.js';
import { formatTable, LatencyHistogram } from './lib/hdr.js';

const values = scriptArgs({
  usage: 'npm run bench:host -- [options]',
  options: {
    conversations: { type: 'int', default: 20_000, min: 100, help: 'conversations per scenario' },
    clients: { type: 'int', default: 64, min: 1, help: 'callers in flight (C)' },
    'open-loop': {
      type: 'boolean',
      help: "measure the gRPC load test's server side instead (see the file's header)",
    },
    rate: { type: 'number', default: 500, min: 1, help: 'with --open-loop: conversations per second' },
    rounds: { type: 'int', default: 6, min: 1, help: 'with --open-loop: alternating rounds' },
    'round-seconds': {
      type: 'number',
      default: 2,
      min: 0.5,
      help: 'with --open-loop: length of each round, s',
    },
  },
});
const N = values.conversations;
const C = values.clients;
const TENANT = 'bench';

const QUEUE: QueueConfig = {
  id: 'chat',
  name: 'Chat',
  channel: 'chat',
  requiredSkills: [],
  strategy: 'least_busy',
  onlineOnly: false,
  broadcastWidth: 0,
  priority: 0,
  serviceLevel: { target: 0.8, thresholdSeconds: 20, windowSeconds: 3600 },
  maxSize: 0,
  offerTimeoutSeconds: 0,
  overflow: [],
  previousAgentWaitSeconds: 0,
  newCustomersToNewAgents: false,
};

function agent(i: number): AgentConfig {
  return {
    id: `agent-${i}`,
    displayName: `Agent ${i}`,
    skills: [],
    teams: [],
    tier: 1,
    seniority: 'experienced',
    capacity: { chat: 1000 },
    wrapUpSeconds: 0,
    queues: [],
  };
}

const SETUP: Command[] = [
  { type: 'upsert_queue', queue: QUEUE },
  ...Array.from({ length: 20 }, (_, i): Command => ({ type: 'upsert_agent', agent: agent(i) })),
  ...Array.from(
    { length: 20 },
    (_, i): Command => ({ type: 'set_presence', agentId: `agent-${i}`, presence: 'online' }),
  ),
];

let seq = 0;
function envelope(cmd: Command): CommandEnvelope {
  return { id: `b${++seq}`, at: Date.now(), cmd };
}
let failures = 0;
/** One conversation's two commands: enqueue, then end. */
function conversationEnvelopes(): [CommandEnvelope, CommandEnvelope] {
  const id = `conv-${++seq}`;
  return [
    envelope({
      type: 'enqueue',
      conversation: {
        id,
        channel: 'chat',
        customer: { id: `cust-${seq}` },
        requiredSkills: [],
        priority: 0,
        queueId: 'chat',
      },
    }),
    envelope({ type: 'end_conversation', conversationId: id, outcome: 'resolved' }),
  ];
}
function check(r: ApplyResult | undefined): void {
  if (!r?.ok || (r.reply.kind === 'enqueued' && r.reply.status !== 'assigned')) failures++;
}

/** A log that is durable instantly: isolates the hop and batching from the disk. */
class MemoryLog implements CommandLog {
  private readonly last = new Map<string, number>();
  async append(p: string, _c: CommandEnvelope[], expected: number): Promise<number> {
    const s = (this.last.get(p) ?? 0) + 1;
    if (expected !== s - 1) throw Object.assign(new Error('fenced'), { code: 'SB_ERR_NOT_OWNER' });
    this.last.set(p, s);
    return s;
  }
  async *read(): AsyncIterable<LogBatch> {}
  async lastSeq(p: string): Promise<number> {
    return this.last.get(p) ?? 0;
  }
  async trim(): Promise<void> {}
  async close(): Promise<void> {}
}

interface Row {
  scenario: string;
  conversations: number;
  per_sec: number;
  p50_us: number;
  p99_us: number;
  p999_us: number;
}

/** Runs `clients` closed loops until `total` conversations are done; one latency per conversation. */
async function closedLoop(
  name: string,
  total: number,
  clients: number,
  one: () => Promise<unknown>,
): Promise<Row> {
  const h = new LatencyHistogram();
  // Warm-up: JIT and worker start-up out of the measurement.
  await Promise.all(Array.from({ length: Math.min(clients, 200) }, () => one()));
  let started = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (started < total) {
        started++;
        const s = process.hrtime.bigint();
        await one();
        h.recordNs(process.hrtime.bigint() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const sum = h.summary();
  const row = {
    scenario: name,
    conversations: total,
    per_sec: Math.round(total / secs),
    p50_us: sum.p50_us,
    p99_us: sum.p99_us,
    p999_us: sum.p999_us,
  };
  process.stderr.write(`  ${name}: ${row.per_sec}/s p50 ${row.p50_us} µs p99 ${row.p99_us} µs\n`);
  return row;
}

async function hopScenarios(kind: PoolKind): Promise<Row[]> {
  const pool: WorkerPool = createWorkerPool({ kind, threads: 1, maxQueue: C * 2 });
  try {
    const load: HostItem = {
      kind: 'load',
      partition: TENANT,
      snapshot: null,
      snapshotDigest: null,
      batches: [SETUP.map(envelope)],
    };
    await pool.call(0, { items: [load] });
    const apply = async (env: CommandEnvelope) => {
      const res = await pool.call(0, {
        items: [{ kind: 'apply', partition: TENANT, commands: [env], receivedAt: [Number.NaN] }],
      });
      const r = res.results[0];
      check(r?.kind === 'apply' ? r.results[0] : undefined);
    };
    const one = async () => {
      const [enqueue, end] = conversationEnvelopes();
      await apply(enqueue);
      await apply(end);
    };
    // The same hop with micro-batching alone (no log, no host bookkeeping): everything submitted in one
    // event-loop turn travels in one call, one call in flight.
    let queued: { env: CommandEnvelope; done: () => void }[] = [];
    let busy = false;
    let scheduled = false;
    const flush = () => {
      scheduled = false;
      if (busy || queued.length === 0) return;
      const batch = queued;
      queued = [];
      busy = true;
      const item: HostItem = {
        kind: 'apply',
        partition: TENANT,
        commands: batch.map((b) => b.env),
        receivedAt: batch.map(() => Number.NaN),
      };
      void pool.call(0, { items: [item] }).then((res) => {
        busy = false;
        const r = res.results[0];
        batch.forEach((b, i) => {
          check(r?.kind === 'apply' ? r.results[i] : undefined);
          b.done();
        });
        if (queued.length > 0 && !scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    };
    const batched = (env: CommandEnvelope) =>
      new Promise<void>((done) => {
        queued.push({ env, done });
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    const oneBatched = async () => {
      const [enqueue, end] = conversationEnvelopes();
      await batched(enqueue);
      await batched(end);
    };
    return [
      await closedLoop(`hop/${kind}/1-by-1`, Math.min(N, 10_000), 1, one),
      await closedLoop(`hop/${kind}/1-by-1 x${C}`, N, C, one),
      await closedLoop(`hop/${kind}/batched x${C}`, N, C, oneBatched),
    ];
  } finally {
    await pool.close();
  }
}

async function hostScenario(
  name: string,
  kind: PoolKind,
  ports: NodePorts | null,
  callsPerSlot = 1,
  flushOn: 'microtask' | 'immediate' = 'immediate',
): Promise<Row> {
  const pool = createWorkerPool({ kind, threads: 1 });
  const memory = new MemoryLog();
  const p = ports ?? {
    mode: 'embedded' as const,
    log: memory,
    snapshots: {
      save: async () => {},
      load: async () => null,
      storedSeq: async () => 0,
      close: async () => {},
    },
    ownership: {
      nodeId: 'bench',
      start: async () => {},
      acquire: async () => true,
      owns: () => true,
      ownerOf: () => 'bench',
      onChange: () => () => {},
      stop: async () => {},
    },
    clock: systemClock,
    knownPartitions: async () => [],
    close: async () => {},
  };
  const host = new PartitionHost({
    ports: p,
    pool,
    maxInflight: C * 4,
    snapshotEveryCommands: 1e9,
    callsPerSlot,
    flushOn,
  });
  await host.start();
  try {
    for (const cmd of SETUP) check(await host.submit(TENANT, envelope(cmd)));
    return await closedLoop(name, N, C, async () => {
      const [enqueue, end] = conversationEnvelopes();
      check(await host.submit(TENANT, enqueue));
      check(await host.submit(TENANT, end));
    });
  } finally {
    await host.stop(1000);
    await p.close();
  }
}

async function fileHost(fsync: 'always' | 'interval'): Promise<Row> {
  const dir = await mkdtemp(join(tmpdir(), 'sb-bench-host-'));
  try {
    const ports = await createEmbeddedPorts({ dataDir: dir, nodeId: 'bench', fsync });
    return await hostScenario(`host/port/file-${fsync} x${C}`, 'port', ports);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

interface OpenVariant {
  name: string;
  appends: number;
  preallocate: boolean;
  writes: 'thread-pool' | 'main-thread' | 'auto';
}

const OPEN_VARIANTS: OpenVariant[] = [
  { name: '1 append in flight, growing file', appends: 1, preallocate: false, writes: 'thread-pool' },
  { name: '1 append in flight, preallocated', appends: 1, preallocate: true, writes: 'thread-pool' },
  { name: '2 appends in flight, preallocated', appends: 2, preallocate: true, writes: 'thread-pool' },
  { name: '4 appends in flight, preallocated', appends: 4, preallocate: true, writes: 'thread-pool' },
  { name: 'main-thread writes, growing file', appends: 1, preallocate: false, writes: 'main-thread' },
  { name: 'main-thread writes, preallocated', appends: 1, preallocate: true, writes: 'main-thread' },
  { name: 'auto writes, preallocated', appends: 1, preallocate: true, writes: 'auto' },
];

/** Open loop: enqueue submit → durable answer, per variant, alternating rounds. */
async function openLoopMain(): Promise<void> {
  const rate = values.rate;
  const rounds = values.rounds;
  const roundMs = values['round-seconds'] * 1000;
  interface Setup {
    v: OpenVariant;
    dir: string;
    ports: NodePorts;
    host: PartitionHost;
    hist: LatencyHistogram;
    count: number;
  }
  const setups: Setup[] = [];
  for (const v of OPEN_VARIANTS) {
    const dir = await mkdtemp(join(tmpdir(), 'sb-bench-open-'));
    const base = await createEmbeddedPorts({ dataDir: dir, nodeId: 'bench', fsync: 'always' });
    const log = new FileCommandLog({
      dir: join(dir, 'log2'),
      fsync: 'always',
      writes: v.writes,
      ...(v.preallocate ? {} : { preallocateBytes: 0 }),
    });
    const ports: NodePorts = {
      ...base,
      log,
      knownPartitions: async () => [],
      close: async () => {
        await log.close();
        await base.close();
      },
    };
    const pool = createWorkerPool({ kind: 'port', threads: 1 });
    const host = new PartitionHost({
      ports,
      pool,
      snapshotEveryCommands: 1e9,
      appendsPerPartition: v.appends,
    });
    await host.start();
    for (const cmd of SETUP) check(await host.submit(TENANT, envelope(cmd)));
    setups.push({ v, dir, ports, host, hist: new LatencyHistogram(), count: 0 });
  }
  const runRound = async (s: Setup, record: boolean) => {
    const interval = 1000 / rate;
    const t0 = performance.now();
    const inflight: Promise<void>[] = [];
    for (let i = 0; performance.now() - t0 < roundMs; i++) {
      const due = t0 + i * interval;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const [enqueue, end] = conversationEnvelopes();
      const started = process.hrtime.bigint();
      inflight.push(
        s.host.submit(TENANT, enqueue).then(async (r) => {
          if (record) {
            s.hist.recordNs(process.hrtime.bigint() - started);
            s.count++;
          }
          check(r);
          check(await s.host.submit(TENANT, end));
        }),
      );
    }
    await Promise.all(inflight);
  };
  process.stderr.write(
    `bench-host --open-loop: ${rate} conversations/s, ${rounds} rounds of ${roundMs} ms\n`,
  );
  for (const s of setups) await runRound(s, false);
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? setups : [...setups].reverse();
    for (const s of order) await runRound(s, true);
    process.stderr.write(`  round ${r + 1}/${rounds} done\n`);
  }
  const rows = setups.map((s) => ({ variant: s.v.name, enqueues: s.count, ...s.hist.summary() }));
  console.log(
    formatTable([
      ['variant (fsync always)', 'enqueues', 'p50 µs', 'p90 µs', 'p99 µs', 'p99.9 µs'],
      ...rows.map((r) => [r.variant, r.enqueues, r.p50_us, r.p90_us, r.p99_us, r.p999_us]),
    ]),
  );
  for (const s of setups) {
    await s.host.stop(1000);
    await s.ports.close();
    await rm(s.dir, { recursive: true, force: true });
  }
  if (failures > 0) process.stderr.write(`WARNING: ${failures} commands were rejected or not assigned\n`);
  console.log(JSON.stringify({ bench: 'host-open-loop', rate, failures, rows }));
}

async function main(): Promise<void> {
  if (values['open-loop']) return openLoopMain();
  process.stderr.write(`bench-host: ${N} conversations per scenario, ${C} concurrent clients\n`);
  const rows: Row[] = [];
  for (const kind of ['port', 'piscina', 'inline'] as const) rows.push(...(await hopScenarios(kind)));
  for (const kind of ['port', 'piscina', 'inline'] as const)
    rows.push(await hostScenario(`host/${kind} x${C}`, kind, null));
  rows.push(await hostScenario(`host/port pipelined x${C}`, 'port', null, 2));
  rows.push(await hostScenario(`host/port flush-on-microtask x${C}`, 'port', null, 1, 'microtask'));
  rows.push(await fileHost('interval'));
  rows.push(await fileHost('always'));
  console.log(
    formatTable([
      ['scenario', 'conversations/s', 'p50 µs', 'p99 µs', 'p99.9 µs'],
      ...rows.map((r) => [r.scenario, r.per_sec, r.p50_us, r.p99_us, r.p999_us]),
    ]),
  );
  const by = (s: string) => rows.find((r) => r.scenario === s) as Row;
  if (failures > 0) process.stderr.write(`WARNING: ${failures} commands were rejected or not assigned\n`);
  const summary = {
    bench: 'host',
    failures,
    conversations: N,
    clients: C,
    hop_p50_us: {
      port: by('hop/port/1-by-1').p50_us,
      piscina: by('hop/piscina/1-by-1').p50_us,
      inline: by('hop/inline/1-by-1').p50_us,
    },
    batching_speedup_port: +(
      by(`hop/port/batched x${C}`).per_sec / by(`hop/port/1-by-1 x${C}`).per_sec
    ).toFixed(2),
    batching_speedup_piscina: +(
      by(`hop/piscina/batched x${C}`).per_sec / by(`hop/piscina/1-by-1 x${C}`).per_sec
    ).toFixed(2),
    rows,
  };
  console.log(JSON.stringify(summary));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

/**
 * Engine decision benchmark: latency (HDR p50/p99/p99.9, per `apply` with process.hrtime.bigint) and
 * throughput of routing decisions in both directions, at several partition sizes, beside a naive
 * linear-scan matcher running the same workload in the same process.
 *
 *   arrive   a conversation arrives in a queue with free agents → the engine chooses the agent
 *   release  a saturated agent ends a conversation → the engine chooses the best waiting conversation
 *
 * Usage: npm run bench:engine -- [--sizes=100,1000,10000,100000] [--waiting-factor=10] [--ops=20000]
 *        [--naive-ops=2000] [--queues=20] [--no-naive]
 * Runs with --expose-gc (heap per agent / per waiting conversation from gc'd heapUsed + arrayBuffers deltas).
 * Last stdout line: {"results":[{"agents":N,"waiting":M,"p50_us":..,"p99_us":..,"ops_per_sec":..,
 * "naive_p99_us":..,"heap_mb":..,...}]}
 */
import { availableParallelism, loadavg } from 'node:os';
import { createEngine } from '../src/engine/index.js';
import { scriptArgs } from './lib/args.js';
import { EngineWorkload } from './lib/engine-workload.js';
import { formatTable, LatencyHistogram } from './lib/hdr.js';
import { mulberry32 } from './lib/prng.js';

interface Args {
  sizes: number[];
  waitingFactor: number;
  ops: number;
  naiveOps: number;
  queues: number;
  naive: boolean;
}

function parseArgs(argv: string[]): Args {
  const v = scriptArgs(
    {
      usage: 'npm run bench:engine -- [options]',
      options: {
        sizes: {
          type: 'string',
          default: '100,1000,10000,100000',
          value: 'N,N,…',
          help: 'agent counts, one row each',
        },
        'waiting-factor': { type: 'int', default: 10, min: 0, help: 'waiting conversations per agent' },
        ops: { type: 'int', default: 20_000, min: 100, help: 'measured decisions per row' },
        'naive-ops': {
          type: 'int',
          default: 2_000,
          min: 100,
          help: 'decisions of the naive matcher per row',
        },
        queues: { type: 'int', default: 20, min: 1, help: 'queues (skills)' },
        'no-naive': { type: 'boolean', help: 'skip the naive-matcher comparison' },
      },
    },
    argv,
  );
  const sizes = v.sizes.split(',').map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1)) {
    console.error(`--sizes must be positive integers separated by commas (got "${v.sizes}")`);
    process.exit(2);
  }
  return {
    sizes,
    waitingFactor: v['waiting-factor'],
    ops: v.ops,
    naiveOps: v['naive-ops'],
    queues: v.queues,
    naive: !v['no-naive'],
  };
}

const gc: () => void =
  (globalThis as { gc?: () => void }).gc ??
  (() => {
    throw new Error('run with node --expose-gc (npm run bench:engine does)');
  });

/**
 * JS heap plus ArrayBuffer backing stores: the engine keeps indexes in typed arrays (pools, timer heaps,
 * the conversation and customer tables), whose memory is outside `heapUsed`; leaving it out understated
 * the bytes per agent and per waiting conversation.
 */
function heapUsed(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

interface Row {
  agents: number;
  waiting: number;
  p50_us: number;
  p99_us: number;
  p999_us: number;
  /** p99 of the best of 5 equal rounds (least disturbed by other processes). */
  p99_best_round_us: number;
  ops_per_sec: number;
  naive_p99_us: number | null;
  heap_mb: number;
  heap_bytes_per_agent: number;
  heap_bytes_per_waiting: number;
  arrive_p50_us: number;
  arrive_p99_us: number;
  release_p50_us: number;
  release_p99_us: number;
  naive_arrive_p99_us: number | null;
  naive_release_p99_us: number | null;
  wall_cmds_per_sec: number;
  setup_s: number;
  /** Measured commands that did not end in an assignment (should be 0: every sample is a decision). */
  undecided_arrive: number;
  undecided_release: number;
}

function benchEngine(
  agents: number,
  waiting: number,
  args: Args,
): Omit<Row, 'naive_p99_us' | 'naive_arrive_p99_us' | 'naive_release_p99_us'> {
  const t0 = process.hrtime.bigint();
  const h0 = heapUsed();
  const w = new EngineWorkload(createEngine(`bench-${agents}`), { agents, waiting, queues: args.queues });
  w.staff();
  const h1 = heapUsed();
  w.fillAssigned();
  const h2 = heapUsed();
  w.fillWaiting(waiting);
  const h3 = heapUsed();
  const setupS = Number(process.hrtime.bigint() - t0) / 1e9;

  const all = new LatencyHistogram();
  const arrive = new LatencyHistogram();
  const release = new LatencyHistogram();
  const undecided = { arrive: 0, release: 0 };
  let decidedNs = 0;
  let decisions = 0;
  const warm = Math.min(2000, args.ops);
  // Rounds: on a shared machine other processes preempt us at random; the best round's p99 shows what the
  // engine does when it has the CPU (reported beside, never instead of, the p99 over all samples).
  const rounds = 5;
  const perRound = Math.ceil(args.ops / rounds);
  const roundHists = Array.from({ length: rounds }, () => new LatencyHistogram());
  for (let i = 0; i < warm + args.ops; i++) {
    const a = w.nextArrival();
    let s = process.hrtime.bigint();
    const ra = w.engine.apply(a);
    const ns = Number(process.hrtime.bigint() - s);
    const aDecided = w.afterArrival(ra);
    const r = w.nextRelease();
    s = process.hrtime.bigint();
    const rr = w.engine.apply(r);
    const ns2 = Number(process.hrtime.bigint() - s);
    const rDecided = w.afterRelease(rr);
    if (i < warm) continue;
    if (!aDecided) undecided.arrive++;
    if (!rDecided) undecided.release++;
    arrive.recordNs(ns);
    release.recordNs(ns2);
    all.recordNs(ns);
    all.recordNs(ns2);
    const round = roundHists[Math.min(rounds - 1, Math.floor((i - warm) / perRound))]!;
    round.recordNs(ns);
    round.recordNs(ns2);
    decidedNs += ns + ns2;
    decisions += 2;
  }

  // Wall-clock pass: decisions plus the companion commands that keep the steady state, no per-op timers.
  const wallOps = args.ops;
  const ws = process.hrtime.bigint();
  for (let i = 0; i < wallOps; i++) {
    w.afterArrival(w.engine.apply(w.nextArrival()));
    w.afterRelease(w.engine.apply(w.nextRelease()));
  }
  const wallS = Number(process.hrtime.bigint() - ws) / 1e9;

  const s = all.summary();
  return {
    agents,
    waiting,
    p50_us: s.p50_us,
    p99_us: s.p99_us,
    p999_us: s.p999_us,
    p99_best_round_us: Math.min(...roundHists.map((h) => h.summary().p99_us)),
    ops_per_sec: Math.round(decisions / (decidedNs / 1e9)),
    heap_mb: Math.round(((h3 - h0) / 1048576) * 10) / 10,
    heap_bytes_per_agent: Math.round((h1 - h0) / agents),
    heap_bytes_per_waiting: waiting > 0 ? Math.round((h3 - h2) / waiting) : 0,
    arrive_p50_us: arrive.summary().p50_us,
    arrive_p99_us: arrive.summary().p99_us,
    release_p50_us: release.summary().p50_us,
    release_p99_us: release.summary().p99_us,
    wall_cmds_per_sec: Math.round((wallOps * 4) / wallS),
    setup_s: Math.round(setupS * 10) / 10,
    undecided_arrive: undecided.arrive,
    undecided_release: undecided.release,
  };
}

/**
 * The same workload on a matcher without indexes: every arrival scans all agents, every release scans all
 * waiting conversations. Same rules: skill ≥ 3 on the queue's skill, capacity, least busy then longest idle;
 * waiting order by queue priority, conversation priority, then age.
 */
class NaiveMatcher {
  readonly skills: Map<string, number>[] = [];
  readonly load: number[] = [];
  readonly idleSince: number[] = [];
  readonly waitQueue: number[] = [];
  readonly waitPriority: number[] = [];
  readonly waitAt: number[] = [];
  readonly queuePriority: number[] = [];
  now = 0;

  constructor(
    readonly agents: number,
    readonly queues: number,
    readonly capacity: number,
    readonly backlogAgents: number,
  ) {
    const rand = mulberry32(42);
    for (let q = 0; q < 2 * queues; q++) this.queuePriority.push((q >> 1) % 11);
    for (let i = 0; i < agents; i++) {
      const backlog = i < backlogAgents;
      const m = new Map<string, number>();
      // Queue index space: even = backlog b{q}, odd = live l{q}.
      const off = backlog ? 0 : 1;
      m.set(`q${2 * (i % queues) + off}`, 3 + Math.floor(rand() * 8));
      m.set(`q${2 * ((i * 7 + 3) % queues) + off}`, 3 + Math.floor(rand() * 8));
      this.skills.push(m);
      this.load.push(0);
      this.idleSince.push(0);
    }
  }

  /** Arrival in queue `q`: scan every agent. Returns the agent index or -1 (then it waits). */
  arrive(q: number, priority: number): number {
    const key = `q${q}`;
    let best = -1;
    for (let i = 0; i < this.agents; i++) {
      if (this.load[i]! >= this.capacity) continue;
      const lvl = this.skills[i]!.get(key);
      if (lvl === undefined || lvl < 3) continue;
      if (
        best < 0 ||
        this.load[i]! < this.load[best]! ||
        (this.load[i] === this.load[best] && this.idleSince[i]! < this.idleSince[best]!)
      ) {
        best = i;
      }
    }
    this.now++;
    if (best < 0) {
      this.waitQueue.push(q);
      this.waitPriority.push(priority);
      this.waitAt.push(this.now);
      return -1;
    }
    this.load[best]!++;
    return best;
  }

  /** Agent `a` frees a slot: scan every waiting conversation for the best one it may serve. */
  release(a: number): number {
    this.load[a]!--;
    this.idleSince[a] = ++this.now;
    const sk = this.skills[a]!;
    let best = -1;
    for (let i = 0; i < this.waitQueue.length; i++) {
      const q = this.waitQueue[i]!;
      const lvl = sk.get(`q${q}`);
      if (lvl === undefined || lvl < 3) continue;
      if (best < 0) {
        best = i;
        continue;
      }
      const qp = this.queuePriority[q]! - this.queuePriority[this.waitQueue[best]!]!;
      const cp = this.waitPriority[i]! - this.waitPriority[best]!;
      if (qp > 0 || (qp === 0 && (cp > 0 || (cp === 0 && this.waitAt[i]! < this.waitAt[best]!)))) best = i;
    }
    if (best >= 0) {
      const last = this.waitQueue.length - 1;
      this.waitQueue[best] = this.waitQueue[last]!;
      this.waitPriority[best] = this.waitPriority[last]!;
      this.waitAt[best] = this.waitAt[last]!;
      this.waitQueue.pop();
      this.waitPriority.pop();
      this.waitAt.pop();
      this.load[a]!++;
    }
    return best;
  }
}

function benchNaive(agents: number, waiting: number, args: Args) {
  const backlog = Math.ceil(agents / 2);
  const cap = 2;
  const m = new NaiveMatcher(agents, args.queues, cap, backlog);
  const rand = mulberry32(7);
  const backlogQ = () => 2 * Math.floor(rand() * args.queues);
  const liveQ = () => 2 * Math.floor(rand() * args.queues) + 1;
  const prio = () => Math.floor(rand() * 4);
  // Same shape as the engine run (backlog saturated plus `waiting`, live half full), set directly: a
  // scanning setup of 1 000 000 arrivals over 100 000 agents would take hours.
  for (let i = 0; i < agents; i++) m.load[i] = i < backlog ? cap : cap >> 1;
  for (let i = 0; i < waiting; i++) {
    m.waitQueue.push(backlogQ());
    m.waitPriority.push(prio());
    m.waitAt.push(++m.now);
  }
  // Scans grow with size: fewer samples at the top keep the run short; at least 100 for a p99.
  const ops = Math.max(100, Math.min(args.naiveOps, Math.floor(4e7 / (agents + waiting))));
  const arrive = new LatencyHistogram();
  const release = new LatencyHistogram();
  const all = new LatencyHistogram();
  for (let i = 0; i < ops; i++) {
    const q = liveQ();
    const p = prio();
    let s = process.hrtime.bigint();
    const got = m.arrive(q, p);
    const ns = Number(process.hrtime.bigint() - s);
    if (got >= 0) m.load[got]!--; // companion: the live conversation ends (unmeasured)
    const a = Math.floor(rand() * backlog);
    s = process.hrtime.bigint();
    m.release(a);
    const ns2 = Number(process.hrtime.bigint() - s);
    m.arrive(backlogQ(), prio()); // companion: keep the backlog size
    arrive.recordNs(ns);
    release.recordNs(ns2);
    all.recordNs(ns);
    all.recordNs(ns2);
  }
  return {
    p99: all.summary().p99_us,
    arrive: arrive.summary().p99_us,
    release: release.summary().p99_us,
    ops,
  };
}

/** Tail latency is only meaningful on an otherwise idle machine: say how busy it was. */
function machineNote(when: string): string {
  const [one] = loadavg();
  const cores = availableParallelism();
  const busy = one! > cores ? ' — BUSY: other processes compete for the CPU, tails are inflated' : '';
  return `load average ${when}: ${one!.toFixed(2)} on ${cores} cores${busy}`;
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const loadBefore = machineNote('before');
  const rows: Row[] = [];
  for (const agents of args.sizes) {
    const waiting = agents * args.waitingFactor;
    const e = benchEngine(agents, waiting, args);
    let naive = null as ReturnType<typeof benchNaive> | null;
    if (args.naive) {
      heapUsed();
      naive = benchNaive(agents, waiting, args);
    }
    rows.push({
      ...e,
      naive_p99_us: naive?.p99 ?? null,
      naive_arrive_p99_us: naive?.arrive ?? null,
      naive_release_p99_us: naive?.release ?? null,
    });
    console.error(`size ${agents} agents / ${waiting} waiting done (setup ${e.setup_s}s)`);
  }

  const header = [
    'agents',
    'waiting',
    'p50 µs',
    'p99 µs',
    'p99.9 µs',
    'p99 best rnd',
    'arrive p99',
    'release p99',
    'decisions/s',
    'wall cmds/s',
    'naive p99 µs',
    'naive/engine',
    'heap MB',
    'B/agent',
    'B/waiting',
  ];
  const body = rows.map((r) => [
    r.agents,
    r.waiting,
    r.p50_us,
    r.p99_us,
    r.p999_us,
    r.p99_best_round_us,
    r.arrive_p99_us,
    r.release_p99_us,
    r.ops_per_sec,
    r.wall_cmds_per_sec,
    r.naive_p99_us ?? '-',
    r.naive_p99_us === null ? '-' : `${(r.naive_p99_us / r.p99_us).toFixed(0)}x`,
    r.heap_mb,
    r.heap_bytes_per_agent,
    r.heap_bytes_per_waiting,
  ]);
  console.log(
    `Engine decisions (${args.ops} per direction per size; decisions/s = 1 / mean engine time per decision)`,
  );
  console.log(formatTable([header, ...body]));

  const at = (n: number) => rows.find((r) => r.agents === n);
  const big = at(100_000);
  const small = at(1_000);
  const largeRows = rows.filter((r) => r.agents >= 10_000);
  const checks: [string, boolean | null][] = [
    ['p99 ≤ 20 µs at 100 000 agents', big ? big.p99_us <= 20 : null],
    ['p99 (best round) ≤ 20 µs at 100 000 agents', big ? big.p99_best_round_us <= 20 : null],
    ['p99(100k) ≤ 2 × p99(1k)', big && small ? big.p99_us <= 2 * small.p99_us : null],
    ['≥ 200 000 decisions/s (every size)', rows.every((r) => r.ops_per_sec >= 200_000)],
    // Per-item bytes at 100 agents are mostly the 40 queues' fixed cost: judge where it is amortised.
    [
      '≤ 2 KiB heap per agent (sizes ≥ 10 000)',
      largeRows.length ? largeRows.every((r) => r.heap_bytes_per_agent <= 2048) : null,
    ],
    [
      '≤ 512 B heap per waiting conversation (sizes ≥ 10 000)',
      largeRows.length ? largeRows.every((r) => r.heap_bytes_per_waiting <= 512) : null,
    ],
  ];
  for (const [name, ok] of checks) console.log(`${ok === null ? 'SKIP' : ok ? 'PASS' : 'FAIL'}  ${name}`);
  console.log(`${loadBefore}; ${machineNote('after')}`);
  console.log(JSON.stringify({ results: rows }));
}

main();

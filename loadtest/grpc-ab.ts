/**
 * `node dist/loadtest/grpc-ab.js A B [--rounds N] [--rate R]`: two nodes side by side, so a change can be
 * judged on a noisy shared machine. Both run at once (each with its own temporary data dir); open-loop
 * rounds of 2 s alternate between them (who goes first alternates too), so the machine's load hits
 * both alike. Each side is `label|repo-dir|node flags`, where repo-dir holds a built `dist/`, e.g.
 *
 *   git archive <commit> | tar -x -C /tmp/base && ln -s $PWD/node_modules /tmp/base/ && (cd /tmp/base && npx tsc -p tsconfig.build.json)
 *   node dist/loadtest/grpc-ab.js "before|/tmp/base|" "after|.|"
 *   node dist/loadtest/grpc-ab.js "pool|.|" "auto|.|--log-writes auto"
 *   node dist/loadtest/grpc-ab.js --cluster --rate 2000 "before|/tmp/base|" "after|.|"
 *
 * `--client auto|go|node` (default auto = go where Go is installed): the load comes from the native client
 * (loadtest/gclient, see lib/drivers.ts) or from grpc-js in this process, whose own GC pauses then land in
 * both sides' figures.
 *
 * `--cluster`: each side is a local cluster instead (its own NATS with `sync_interval: always` and 3 nodes,
 * `loadtest/lib/cluster.ts`), the load sent to the owner of the load-test tenant, as `loadtest:grpc --cluster`.
 *
 * The workload is `loadtest:grpc`'s (enqueue, measured, then end). Last line: one JSON object with the
 * enqueue → answer percentiles per side, their ratio, each node's own histograms over the measured
 * rounds (`server`: [p50, p99] µs of the decision, the durable Enqueue and the log append), and the
 * 1-minute load average before and after.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { scriptArgs } from './lib/args.js';
import { startLocalCluster } from './lib/cluster.js';
import { clientOption, type Driver, pickClient, workloadDriver } from './lib/drivers.js';
import { setupRouterWorkload, TENANT } from './lib/grpc-workload.js';
import { WindowedLatency } from './lib/load-loops.js';
import { localNodeArgs, startChild } from './lib/node-process.js';
import { scrapeText, serverBreakdown } from './lib/prom.js';

const values = scriptArgs({
  usage: 'node dist/loadtest/grpc-ab.js "labelA|repoA|flags" "labelB|repoB|flags" [options]',
  positionals: true,
  options: {
    rounds: { type: 'int', default: 8, min: 1, help: 'open-loop rounds per side' },
    rate: { type: 'number', default: 500, min: 1, help: 'enqueues per second' },
    agents: { type: 'int', default: 50, min: 1, help: 'agents created, 100 chat conversations each' },
    cluster: {
      type: 'boolean',
      help: 'each side is a local cluster (NATS + 3 nodes), load sent to the owner',
    },
    client: clientOption,
  },
  epilog:
    'Each side: label|repo dir with a built dist/|flags ("node:--flag" goes to the node binary, "env:NAME=value" to its environment).',
});
const positionals = values.positionals;
if (positionals.length !== 2) {
  console.error('two sides are needed, e.g. "before|/tmp/base|" "after|.|" (--help for more)');
  process.exit(2);
}

/** `env:NAME=value` words set the node's environment (e.g. `env:UV_USE_IO_URING=1`). */
function sideEnv(words: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const w of words) {
    if (!w.startsWith('env:')) continue;
    const eq = w.indexOf('=');
    if (eq < 0) throw new Error(`${w}: expected env:NAME=value`);
    env[w.slice('env:'.length, eq)] = w.slice(eq + 1);
  }
  return env;
}

interface Side {
  label: string;
  dataDir: string;
  stop(): Promise<void>;
  workload: Awaited<ReturnType<typeof setupRouterWorkload>>;
  driver: Driver;
  lat: WindowedLatency;
  metricsUrl: string | null;
  metricsBefore: string | null;
}

async function main(): Promise<void> {
  const rate = values.rate;
  const rounds = values.rounds;
  const client = pickClient(values.client);
  const sides: Side[] = [];
  try {
    for (const spec of positionals) {
      const [label = '?', repo = '.', flags = ''] = spec.split('|');
      const dataDir = mkdtempSync(join(tmpdir(), 'sb-ab-'));
      // `node:--flag` goes to the node binary (V8/GC flags), everything else to the router.
      const words = flags.split(/\s+/).filter(Boolean);
      const execArgv = words.filter((w) => w.startsWith('node:')).map((w) => w.slice('node:'.length));
      const routerArgs = words.filter((w) => !w.startsWith('node:') && !w.startsWith('env:'));
      const entryPoint = join(resolve(repo), 'dist', 'src', 'cli', 'main.js');
      let address: string;
      let stop: () => Promise<void>;
      let metricsUrl: string | null = null;
      if (values.cluster) {
        const c = await startLocalCluster({
          entryPoint,
          nodeArgs: routerArgs,
          nodeExecArgv: execArgv,
          env: sideEnv(words),
          ownerFirstFor: TENANT,
        });
        address = c.grpcTargets[0] as string;
        // The owner's histograms (it is first, like its gRPC target).
        metricsUrl = c.metricsUrls[0] ?? null;
        stop = () => c.stop();
      } else {
        const child = await startChild(
          entryPoint,
          [...localNodeArgs(dataDir), ...routerArgs],
          30_000,
          execArgv,
          sideEnv(words),
        );
        address = `127.0.0.1:${child.listening.grpcPort}`;
        const { httpPort } = child.listening;
        if (httpPort) metricsUrl = `http://127.0.0.1:${httpPort}/metrics`;
        stop = () => child.stop();
      }
      const workload = await setupRouterWorkload(address, new grpc.Metadata(), values.agents);
      const driver = await workloadDriver(client, [{ ...workload, address }]);
      sides.push({
        label,
        dataDir,
        stop,
        workload,
        driver,
        lat: new WindowedLatency(process.hrtime.bigint()),
        metricsUrl,
        metricsBefore: null,
      });
    }
    const loadBefore = loadavg()[0] as number;
    // Both sides warm up at once, so neither starts the measured rounds fresher than the other (warmed one
    // after the other, the side warmed last had the lower p99 in 4 of 4 pairs run in both orders). A/A
    // runs still spread 0.83–1.64× at p99 either way: a single run's p99 ratio inside that band is noise.
    await Promise.all(sides.map((s) => s.driver.closed(8, 4000)));
    // Each node's own histograms over the measured rounds only (after the warm-up).
    for (const s of sides) s.metricsBefore = s.metricsUrl ? await scrapeText(s.metricsUrl) : null;
    // Failed calls leave the latency histograms, so a side that fails calls would look as fast as its
    // successful ones: they are counted, printed, and make the run fail.
    const failures = new Map<string, { errors: number; first?: string }>(
      sides.map((s) => [s.label, { errors: 0 }]),
    );
    for (let r = 0; r < rounds; r++) {
      for (const s of r % 2 === 0 ? sides : [...sides].reverse()) {
        const res = await s.driver.open(rate, 2000, s.lat);
        const f = failures.get(s.label) as { errors: number; first?: string };
        f.errors += res.errors;
        if (res.firstError && f.first === undefined) f.first = res.firstError;
      }
      process.stderr.write(`round ${r + 1}/${rounds}\n`);
    }
    const out: Record<string, unknown> = {};
    const p50: number[] = [];
    const p99: number[] = [];
    for (const s of sides) {
      const m = s.lat.total.summary();
      p50.push(m.p50_us);
      p99.push(m.p99_us);
      const after = s.metricsUrl ? await scrapeText(s.metricsUrl) : null;
      const server = Object.fromEntries(
        serverBreakdown(s.metricsBefore, after).map((b) => [b.key, [b.p50_us, b.p99_us]]),
      );
      out[s.label] = {
        p50_us: Math.round(m.p50_us),
        p90_us: Math.round(m.p90_us),
        p99_us: Math.round(m.p99_us),
        calls: m.count,
        errors: failures.get(s.label)?.errors ?? 0,
        ...(failures.get(s.label)?.first ? { first_error: failures.get(s.label)?.first } : {}),
        // The node's view, [p50, p99] µs: decision, durable Enqueue, log append.
        server,
      };
    }
    const ratio = (a: number[]) => Math.round(((a[1] as number) / (a[0] as number)) * 100) / 100;
    out.p50_ratio = ratio(p50);
    out.p99_ratio = ratio(p99);
    out.open_rate = rate;
    out.client = client;
    out.loadavg_1m = [loadBefore, loadavg()[0] as number].map((x) => Math.round(x * 100) / 100);
    console.log(JSON.stringify(out));
    const failed = [...failures].filter(([, f]) => f.errors > 0);
    if (failed.length > 0) {
      console.error(
        `grpc-ab: calls failed (${failed.map(([l, f]) => `${l}: ${f.errors}, first: ${f.first ?? '?'}`).join('; ')}): the ratio above is not a comparison`,
      );
      process.exitCode = 1;
    }
  } finally {
    for (const s of sides) {
      s.driver.close();
      s.workload.close();
      await s.stop();
      rmSync(s.dataDir, { recursive: true, force: true });
    }
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  // Exit now: the nodes and clients still running would keep the process alive (they are killed on exit).
  process.exit(1);
});

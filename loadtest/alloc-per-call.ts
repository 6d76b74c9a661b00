/**
 * Bytes the server's main thread allocates per unary call (garbage included): the figure behind "Where
 * the open-loop tail goes" in loadtest/README.md, since young-generation scavenges sit at the p99.
 *
 *   npm run build && node dist/loadtest/alloc-per-call.js [--iterations 3000] [--echo] [-- <node flags>]
 *
 * Starts an embedded node (durable, defaults) with `lib/alloc-sampler.ts` preloaded, sets up the
 * `loadtest:grpc` workload, warms up with a closed loop, then samples the heap profiler over
 * `--iterations` enqueue+end iterations (4 in flight) and divides by the number of calls (2 per
 * iteration). `--echo` also measures the bare grpc-js echo server with the same message sizes. Prints
 * one JSON line. Sampling is statistical (1 KiB interval): repeat runs differ by about ±0.15 KB.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { scriptArgs } from './lib/args.js';
import { echoWorkload, setupRouterWorkload } from './lib/grpc-workload.js';
import { closedLoop, type Iteration } from './lib/load-loops.js';
import { type ChildServer, localNodeArgs, nodeEntryPoint, startChild } from './lib/node-process.js';

const values = scriptArgs({
  usage: 'node dist/loadtest/alloc-per-call.js [options] [-- <node flags>]',
  positionals: true,
  options: {
    iterations: { type: 'int', default: 3000, min: 100, help: 'sampled enqueue+end iterations' },
    echo: { type: 'boolean', help: 'also measure the bare grpc-js echo server' },
  },
});
const iterations = values.iterations;
const positionals = values.positionals;

const here = fileURLToPath(new URL('.', import.meta.url));
const preload = `--import=${pathToFileURL(join(here, 'lib', 'alloc-sampler.js')).href}`;
const outDir = mkdtempSync(join(tmpdir(), 'sb-alloc-'));
process.env.SB_ALLOC_OUT = outDir;

/** Warm-up, then the sampled iterations; returns sampled bytes per call. */
async function measure(child: ChildServer, iteration: Iteration): Promise<number> {
  await closedLoop(8, 3000, iteration);
  const pid = child.child.pid as number;
  process.kill(pid, 'SIGUSR2');
  await new Promise((r) => setTimeout(r, 200));
  let started = 0;
  const worker = async () => {
    while (started < iterations) {
      started++;
      await iteration(() => {});
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  process.kill(pid, 'SIGUSR2');
  const file = join(outDir, `alloc-${pid}.json`);
  for (let i = 0; i < 100 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
  const r = JSON.parse(readFileSync(file, 'utf8')) as { bytes?: number; error?: string };
  if (r.bytes === undefined) throw new Error(`heap sampling failed: ${r.error}`);
  return Math.round(r.bytes / (2 * iterations));
}

const dataDir = mkdtempSync(join(tmpdir(), 'sb-alloc-node-'));
const node = await startChild(nodeEntryPoint(), [...localNodeArgs(dataDir), ...positionals], 30_000, [
  preload,
]);
const out: Record<string, number> = { iterations, calls: 2 * iterations };
try {
  const w = await setupRouterWorkload(`127.0.0.1:${node.listening.grpcPort}`, new grpc.Metadata(), 50);
  out.node_bytes_per_call = await measure(node, w.iteration);
  w.close();
  if (values.echo) {
    const echo = await startChild(join(here, 'echo-server.js'), [], 30_000, [preload]);
    try {
      const e = echoWorkload(`127.0.0.1:${echo.listening.grpcPort}`, new grpc.Metadata(), w.sizes);
      out.echo_bytes_per_call = await measure(echo, e.iteration);
      e.close();
    } finally {
      await echo.stop();
    }
  }
} finally {
  await node.stop();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(outDir, { recursive: true, force: true });
}
console.log(JSON.stringify(out));

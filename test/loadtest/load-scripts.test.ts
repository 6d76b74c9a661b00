import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { hasOpenssl } from '../support/certs.js';
import { requireNatsServer } from '../support/nats-server.js';

const root = join(import.meta.dirname, '../..');
const node = join(root, 'dist/src/cli/main.js');
const run = promisify(execFile);
if (!existsSync(node)) console.warn(`load script tests skipped: ${node} missing (npm test builds it)`);
if (!hasOpenssl()) console.warn('[load-scripts] the --tls run is SKIPPED: no `openssl` command');
let hasGo = true;
try {
  execFileSync('go', ['version']);
} catch {
  hasGo = false;
  console.warn('[load-scripts] the --client go run is SKIPPED: no `go` on PATH');
}

/** Runs a built load script with short phases; returns its last stdout line parsed as JSON. */
async function lastLine(script: string, args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run(
    process.execPath,
    [join(root, 'dist/loadtest', script), ...args, '--no-report'],
    {
      cwd: root,
      timeout: 110_000,
    },
  );
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
}

/** A short `loadtest:grpc` run beside the echo server: one round of 1 s at 200/s, 5 agents. */
const SHORT_ECHO_RUN = [
  '--compare-echo',
  '--rounds',
  '1',
  '--round-seconds',
  '1',
  '--rate',
  '200',
  '--concurrency',
  '4',
  '--agents',
  '5',
  '--warmup',
  '1',
];

describe('load scripts against a node they start themselves', () => {
  // Both clients: grpc-js in the script's process, and the native Go client (loadtest/gclient); the
  // Go run spreads the load over two tenants (two lanes, two partitions) and traces every call.
  const runs: [string, number, string[]][] = [
    ['node', 1, []],
    ...(hasGo ? [['go', 2, ['--trace-calls']] as [string, number, string[]]] : []),
  ];
  it.skipIf(!existsSync(node)).each(runs)(
    'the gRPC load test (--client %s, %i tenant(s)) routes every enqueue to an agent and measures the echo floor beside it',
    async (client, tenants, extra) => {
      const r = await lastLine('grpc.js', [
        '--client',
        client,
        '--tenants',
        String(tenants),
        ...extra,
        ...SHORT_ECHO_RUN,
      ]);
      expect(r.errors).toBe(0);
      expect(r.client).toBe(client);
      expect(r.tenants).toBe(tenants);
      for (const k of ['rps', 'p50_us', 'p99_us', 'p999_us', 'echo_p50_us', 'echo_p99_us']) {
        expect(typeof r[k], k).toBe('number');
        expect(r[k] as number, k).toBeGreaterThan(0);
      }
      if (extra.includes('--trace-calls')) {
        // Every open-loop router call (200/s for 1 s) found in the node's trace, by its conversation id,
        // with a way in, a server part and a way out.
        const t = r.trace as Record<string, { calls: number; unmatched: number; [k: string]: unknown }>;
        expect(t.router!.calls).toBe(200);
        expect(t.router!.unmatched).toBe(0);
        for (const part of ['way_in', 'server', 'way_out'] as const) {
          expect((t.router![part] as number[])[0], part).toBeGreaterThan(0);
        }
        // The echo's measured calls carry the iteration in their filler: all found too.
        expect(t.echo!.calls).toBe(200);
        expect(t.echo!.unmatched).toBe(0);
        expect((t.echo!.server as number[])[1]).toBe(0);
      }
    },
  );

  it.skipIf(!existsSync(node))(
    '--trace-calls without the Go client stops before it starts anything',
    async () => {
      const err = await run(
        process.execPath,
        [join(root, 'dist/loadtest/grpc.js'), '--trace-calls', '--client', 'node'],
        {
          cwd: root,
        },
      ).then(
        () => null,
        (e: { code: number; stderr: string }) => e,
      );
      expect(err?.code).toBe(2);
      expect(err?.stderr).toMatch(/--trace-calls needs the Go client/);
    },
  );

  it.skipIf(!existsSync(node) || !hasOpenssl())(
    'with --tls the node and the echo server serve TLS, the clients trust their CA, and the node is scraped over HTTPS',
    async () => {
      const r = await lastLine('grpc.js', ['--tls', ...SHORT_ECHO_RUN]);
      expect(r.errors).toBe(0);
      expect(r.tls).toBe(true);
      for (const k of ['p50_us', 'echo_p50_us', 'server_enqueue_p50_us']) {
        expect(r[k] as number, k).toBeGreaterThan(0);
      }
    },
  );

  it.skipIf(!existsSync(node))(
    'the gRPC load test against a local cluster sends each tenant to its owner and sums the owners’ histograms',
    async () => {
      requireNatsServer();
      const r = await lastLine('grpc.js', [
        '--cluster',
        '--tenants',
        '3',
        '--rounds',
        '1',
        '--round-seconds',
        '1',
        '--rate',
        '150',
        '--concurrency',
        '3',
        '--agents',
        '3',
        '--warmup',
        '1',
      ]);
      expect(r.errors).toBe(0);
      expect(r.tenants).toBe(3);
      expect(r.cluster_nodes).toBe(3);
      expect(r.nats_sync_interval).toBe('always');
      // Read from the owners' /metrics (absent if the owners were not found or not scraped).
      expect(r.server_enqueue_p50_us as number).toBeGreaterThan(0);
      expect(r.p50_us as number).toBeGreaterThan(0);
    },
    120_000,
  );

  it.skipIf(!existsSync(node))(
    'the failover bench kills the owner twice and a survivor serves the tenant again from its snapshot',
    async () => {
      requireNatsServer();
      const { stdout } = await run(
        process.execPath,
        [join(root, 'dist/loadtest/bench-failover.js'), '--agents', '40', '--waiting', '40'],
        { cwd: root, timeout: 110_000 },
      );
      const r = JSON.parse(stdout.trim().split('\n').at(-1) as string) as Record<string, unknown>;
      const failover = r.failover_ms as number[];
      expect(failover).toHaveLength(2);
      // Bounded by what the prober could see: a kill, then an answer from another node.
      for (const ms of failover) expect(ms).toBeGreaterThan(0); // -1 = never served again
      expect(r.from_snapshot).toEqual([true, true]);
      expect((r.load_ms as number[]).every((ms) => ms >= 0)).toBe(true);
      expect(['mongo', 'jetstream']).toContain(r.snapshots);
    },
    120_000,
  );

  it.skipIf(!existsSync(node))(
    'the HTTP load test keeps agents free by ending conversations and reads the node’s own histogram',
    async () => {
      const r = await lastLine('http.js', ['--duration', '2', '--connections', '4', '--agents', '5']);
      expect(r.errors).toBe(0);
      expect(r.rps as number).toBeGreaterThan(0);
      expect(typeof r.p50_ms).toBe('number');
      expect(r.still_open).toBe(0);
      expect(r.server_assign_p50_us as number).toBeGreaterThan(0);
    },
  );
});

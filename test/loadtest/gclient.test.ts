/**
 * The native load client (loadtest/gclient, `--client go`): it must send what the grpc-js iteration
 * sends — a distinct conversation per iteration, customers from the bounded set, Enqueue answered
 * ASSIGNED then ended — and report one latency per measured call. Needs Go (CI installs nats-server
 * with it); without Go the tests say so and skip.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGoClient, goDriver } from '../../loadtest/lib/drivers.js';
import { echoWorkload, setupRouterWorkload, TENANT } from '../../loadtest/lib/grpc-workload.js';
import { WindowedLatency } from '../../loadtest/lib/load-loops.js';
import { type ChildServer, startChild, startSwitchboardNode } from '../../loadtest/lib/node-process.js';
import { StatisticsServiceClient } from '../../src/gen/switchboard/v1/statistics.js';

const root = join(import.meta.dirname, '../..');
const built = existsSync(join(root, 'dist/src/cli/main.js'));
let goVersion: string | undefined;
try {
  goVersion = execFileSync('go', ['version'], { encoding: 'utf8' }).trim();
} catch {
  goVersion = undefined;
}
const skip = !goVersion || !built;
if (skip)
  console.warn(
    `[gclient] SKIPPED: ${!goVersion ? 'no `go` on PATH to build loadtest/gclient' : 'dist/ missing (npm test builds it)'}`,
  );

describe.skipIf(skip)('Go load client (loadtest/gclient)', () => {
  let node: ChildServer & { dataDir: string };
  let echo: ChildServer;
  beforeAll(async () => {
    buildGoClient();
    node = await startSwitchboardNode();
    echo = await startChild(join(root, 'dist/loadtest/echo-server.js'), []);
  }, 180_000);
  afterAll(async () => {
    await node?.stop();
    await echo?.stop();
  });

  it('sends distinct conversations that are assigned and ended, one latency per Enqueue', async () => {
    const address = `127.0.0.1:${node.listening.grpcPort}`;
    const md = new grpc.Metadata();
    const w = await setupRouterWorkload(address, md, 3);
    const stats = new StatisticsServiceClient(address, grpc.credentials.createInsecure());
    let closed: Awaited<ReturnType<Awaited<ReturnType<typeof goDriver>>['closed']>>;
    let open: typeof closed;
    let res: { stats?: { inbound: number; assigned: number; waiting: number } };
    const lat = new WindowedLatency(process.hrtime.bigint());
    try {
      const drv = await goDriver([{ target: address, calls: w.goCalls }], undefined);
      try {
        closed = await drv.closed(4, 600, lat);
        open = await drv.open(200, 500, lat);
      } finally {
        drv.close();
      }
      expect(closed.errors, closed.firstError).toBe(0);
      expect(open.errors, open.firstError).toBe(0);
      expect(closed.ops).toBeGreaterThan(20);
      expect(open.ops).toBe(100);
      expect(lat.total.count).toBe(closed.ops + open.ops);

      // Every iteration was a new conversation (the probe iteration of the setup is one more), and each
      // was ended: nothing is left open on the three agents.
      res = await new Promise((resolve, reject) =>
        stats.getQueueStats({ tenant: TENANT, requestId: '', queueId: 'lt-chat' }, md, (err, r) =>
          err ? reject(err) : resolve(r as never),
        ),
      );
    } finally {
      stats.close();
      w.close();
    }
    const total = closed.ops + open.ops + 1;
    expect(Number(res.stats?.inbound)).toBe(total);
    expect(Number(res.stats?.assigned)).toBe(total);
    expect(res.stats?.waiting).toBe(0);
  }, 60_000);

  it('runs the echo iteration in an open loop at the asked rate', async () => {
    const address = `127.0.0.1:${echo.listening.grpcPort}`;
    const w = echoWorkload(address, new grpc.Metadata(), {
      enqReqBytes: 49,
      enqResBytes: 46,
      endReqBytes: 26,
    });
    const lat = new WindowedLatency(process.hrtime.bigint());
    let r: Awaited<ReturnType<Awaited<ReturnType<typeof goDriver>>['open']>>;
    try {
      const drv = await goDriver([{ target: address, calls: w.goCalls }], undefined);
      try {
        r = await drv.open(400, 500, lat);
      } finally {
        drv.close();
      }
    } finally {
      w.close();
    }
    expect(r.errors, r.firstError).toBe(0);
    expect(r.ops).toBe(200);
    expect(lat.total.count).toBe(200);
    expect(lat.total.percentileUs(50)).toBeGreaterThan(0);
  }, 30_000);
});

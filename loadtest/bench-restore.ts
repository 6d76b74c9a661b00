/**
 * Failover cost of one big partition: 10 000 agents and 100 000 waiting conversations are built, snapshot,
 * serialised to a JSON string (as the snapshot store writes it), parsed and restored; the restored digest
 * must equal the original. Target: restore < 1 s.
 *
 * Usage: npm run bench:restore -- [--agents 10000] [--waiting 100000]
 * Last stdout line: {"agents":..,"waiting":..,"snapshot_bytes":..,"serialize_ms":..,"restore_ms":..,"digest_ok":true,...}
 */

import { availableParallelism, loadavg } from 'node:os';
import type { EngineSnapshot } from '../src/engine/index.js';
import { createEngine, restoreEngine } from '../src/engine/index.js';
import { scriptArgs } from './lib/args.js';
import { EngineWorkload } from './lib/engine-workload.js';
import { formatTable } from './lib/hdr.js';

const ms = (from: bigint) => Math.round(Number(process.hrtime.bigint() - from) / 1e4) / 100;

function main(): void {
  const { agents, waiting } = scriptArgs({
    usage: 'npm run bench:restore -- [options]',
    options: {
      agents: { type: 'int', default: 10_000, min: 1, help: 'agents of the partition' },
      waiting: { type: 'int', default: 100_000, min: 0, help: 'waiting conversations' },
    },
  });
  (globalThis as { gc?: () => void }).gc?.();

  let t = process.hrtime.bigint();
  const w = new EngineWorkload(createEngine('bench-restore'), { agents, waiting });
  w.staff();
  w.fillAssigned();
  w.fillWaiting(waiting);
  const buildMs = ms(t);
  const digest = w.engine.digest();

  t = process.hrtime.bigint();
  const snap = w.engine.snapshot();
  const snapshotMs = ms(t);
  t = process.hrtime.bigint();
  const json = JSON.stringify(snap);
  const stringifyMs = ms(t);
  const bytes = Buffer.byteLength(json);

  t = process.hrtime.bigint();
  const parsed = JSON.parse(json) as EngineSnapshot;
  const parseMs = ms(t);
  t = process.hrtime.bigint();
  const restored = restoreEngine(parsed);
  const restoreMs = ms(t);
  t = process.hrtime.bigint();
  const restoredDigest = restored.digest();
  const digestMs = ms(t);
  const digestOk = restoredDigest === digest;

  // The restored partition must keep routing: one release decision on it.
  const probe = w.nextRelease();
  const before = restored.apply(probe);
  const routes = before.ok && before.events.some((e) => e.type === 'assigned');

  console.log(`Partition restore: ${agents} agents, ${waiting} waiting (build ${buildMs} ms)`);
  console.log(
    formatTable([
      ['step', 'ms'],
      ['snapshot()', snapshotMs],
      ['JSON.stringify', stringifyMs],
      ['JSON.parse', parseMs],
      ['restoreEngine()', restoreMs],
      ['digest()', digestMs],
      ['parse + restore (failover path)', Math.round((parseMs + restoreMs) * 100) / 100],
    ]),
  );
  console.log(
    `snapshot ${(bytes / 1048576).toFixed(1)} MiB; digest ${digestOk ? 'matches' : 'DIFFERS'}; restored partition routes: ${routes}`,
  );
  console.log(`${parseMs + restoreMs < 1000 ? 'PASS' : 'FAIL'}  parse + restore < 1 s`);
  console.log(`load average ${loadavg()[0]!.toFixed(2)} on ${availableParallelism()} cores`);
  console.log(
    JSON.stringify({
      agents,
      waiting,
      snapshot_bytes: bytes,
      serialize_ms: Math.round((snapshotMs + stringifyMs) * 100) / 100,
      restore_ms: restoreMs,
      parse_ms: parseMs,
      digest_ms: digestMs,
      digest_ok: digestOk,
      routes_after_restore: routes,
    }),
  );
  if (!digestOk) process.exitCode = 1;
}

main();

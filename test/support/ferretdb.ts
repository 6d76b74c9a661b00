/**
 * A MongoDB-wire-protocol server for the snapshot-store tests: `MONGO_URL` when given, else FerretDB v1
 * (SQLite backend) started on a free port with a temp dir. FerretDB is optional (it may not install from
 * the Go module proxy), so callers skip with the reason when {@link mongoTarget} says none is available.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './nats-server.js';
import { reapOnExit } from './reap.js';

export function findFerretDb(): string | null {
  const fromEnv = process.env.FERRETDB_BIN;
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  const which = spawnSync('sh', ['-c', 'command -v ferretdb'], { encoding: 'utf8' });
  const onPath = which.status === 0 ? which.stdout.trim() : '';
  for (const c of [onPath, join(homedir(), 'go', 'bin', 'ferretdb')]) if (c && existsSync(c)) return c;
  return null;
}

/** What the Mongo tests can run against, or why they cannot. */
export type MongoTarget =
  | { kind: 'external'; url: string }
  | { kind: 'ferretdb'; bin: string }
  | { kind: 'none'; reason: string };

export function mongoTarget(): MongoTarget {
  if (process.env.MONGO_URL) return { kind: 'external', url: process.env.MONGO_URL };
  const bin = findFerretDb();
  if (bin) return { kind: 'ferretdb', bin };
  return {
    kind: 'none',
    reason:
      'no MONGO_URL and no ferretdb binary (PATH, ~/go/bin): `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.1` ' +
      'failed or was not run (see .ci/run); MongoSnapshotStore contract tests skipped',
  };
}

export interface RunningMongo {
  url: string;
  label: string;
  cleanup(): Promise<void>;
}

/** Starts FerretDB (SQLite backend) or returns the external `MONGO_URL`. */
export async function startMongo(target: Exclude<MongoTarget, { kind: 'none' }>): Promise<RunningMongo> {
  if (target.kind === 'external') {
    return { url: target.url, label: `MONGO_URL=${target.url}`, cleanup: async () => {} };
  }
  const dir = mkdtempSync(join(tmpdir(), 'sb-ferret-'));
  mkdirSync(join(dir, 'data'));
  const port = await freePort();
  let stderr = '';
  const proc = spawn(
    target.bin,
    [
      '--handler=sqlite',
      `--sqlite-url=file:${join(dir, 'data')}/`,
      `--listen-addr=127.0.0.1:${port}`,
      `--state-dir=${dir}`,
      '--telemetry=disable',
      '--log-level=error',
      // Its metrics/pprof listener is on 127.0.0.1:8088 by default: a second FerretDB (another test
      // file, a load script) would fail to start on it.
      '--debug-addr=-',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  reapOnExit(proc);
  proc.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  try {
    await waitForPort(port, 15_000, proc, 'ferretdb');
  } catch (e) {
    proc.kill('SIGKILL');
    throw new Error(`${(e as Error).message}\n${stderr}`);
  }
  return {
    url: `mongodb://127.0.0.1:${port}/`,
    label: `FerretDB (SQLite) on 127.0.0.1:${port}`,
    async cleanup() {
      if (proc.exitCode === null) {
        const exited = new Promise<void>((r) => proc.once('exit', () => r()));
        proc.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

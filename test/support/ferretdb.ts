/**
 * MongoDB-wire-protocol servers for the snapshot-store tests: FerretDB v1 (SQLite backend) started on a
 * free port with a temp dir, and the server at `MONGO_URL` when given. The tests run against every one
 * available ({@link mongoTargets}); FerretDB is optional (it may not install from the Go module proxy), so
 * with neither the tests skip with the reason. Load scripts take one ({@link mongoTarget}).
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

export type AvailableMongoTarget = Exclude<MongoTarget, { kind: 'none' }>;

const NO_FERRETDB =
  'no ferretdb binary (FERRETDB_BIN, PATH, ~/go/bin): `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.1` ' +
  'failed or was not run (see .ci/run)';

/**
 * Every Mongo-wire store available here: FerretDB when installed AND the `MONGO_URL` server when given
 * (a contract test runs against each), with why each missing one is missing.
 */
export function mongoTargets(): { available: AvailableMongoTarget[]; missing: string[] } {
  const available: AvailableMongoTarget[] = [];
  const missing: string[] = [];
  const bin = findFerretDb();
  if (bin) available.push({ kind: 'ferretdb', bin });
  else missing.push(NO_FERRETDB);
  if (process.env.MONGO_URL) available.push({ kind: 'external', url: process.env.MONGO_URL });
  else missing.push('no MONGO_URL (a MongoDB server to run against as well)');
  return { available, missing };
}

/** One store, for a script that needs a single one: `MONGO_URL` when given, else FerretDB. */
export function mongoTarget(): MongoTarget {
  if (process.env.MONGO_URL) return { kind: 'external', url: process.env.MONGO_URL };
  const bin = findFerretDb();
  if (bin) return { kind: 'ferretdb', bin };
  return { kind: 'none', reason: `no MONGO_URL and ${NO_FERRETDB}` };
}

/** A short name for a target, for test titles and logs (no credentials from the URL). */
export function mongoTargetName(t: AvailableMongoTarget): string {
  if (t.kind === 'ferretdb') return 'FerretDB';
  try {
    const u = new URL(t.url);
    return `MONGO_URL (${u.host})`;
  } catch {
    return 'MONGO_URL';
  }
}

export interface RunningMongo {
  url: string;
  label: string;
  cleanup(): Promise<void>;
}

/** Starts FerretDB (SQLite backend) or returns the external `MONGO_URL`. */
export async function startMongo(target: AvailableMongoTarget): Promise<RunningMongo> {
  if (target.kind === 'external') {
    return { url: target.url, label: mongoTargetName(target), cleanup: async () => {} };
  }
  const dir = mkdtempSync(join(tmpdir(), 'sb-ferret-'));
  let port: number;
  try {
    mkdirSync(join(dir, 'data'));
    port = await freePort();
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
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
  const stop = async () => {
    if (proc.pid !== undefined && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, 15_000, proc, 'ferretdb');
  } catch (e) {
    // Nothing of a FerretDB that did not start is kept: neither the process nor its directory.
    await stop();
    throw new Error(`${(e as Error).message}\n${stderr}`);
  }
  return {
    url: `mongodb://127.0.0.1:${port}/`,
    label: `FerretDB (SQLite) on 127.0.0.1:${port}`,
    cleanup: stop,
  };
}

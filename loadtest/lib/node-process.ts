/**
 * Spawns a Switchboard node (or the bare echo server) as a child process on free ports and waits for
 * its `{"msg":"listening",...}` log line. Used by the load scripts when no `--target` is given.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { reapOnExit } from '../../test/support/reap.js';
import { repoRoot } from './machine.js';

export interface Listening {
  grpcPort: number;
  httpPort?: number;
  [k: string]: unknown;
}

export interface ChildServer {
  readonly child: ChildProcess;
  readonly listening: Listening;
  /** Last lines of output, for error messages. */
  tail(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts `node <script> ...args` and resolves once it logs a JSON line with `msg: "listening"`. */
export function startChild(
  script: string,
  args: string[],
  timeoutMs = 30_000,
  execArgv: string[] = [],
  env: Record<string, string> = {},
): Promise<ChildServer> {
  const child = spawn(process.execPath, [...execArgv, script, ...args], {
    cwd: repoRoot(),
    stdio: ['ignore', 'pipe', 'pipe'],
    // The `listening` line is logged at info: a quieter SB_LOG_LEVEL inherited from the shell would hide it.
    env: { ...process.env, ...env, SB_LOG_LEVEL: 'info' },
  });
  reapOnExit(child);
  const lines: string[] = [];
  const keep = (l: string) => {
    lines.push(l);
    if (lines.length > 40) lines.shift();
  };
  const tail = () => lines.join('\n');
  // The pipes are drained for the child's whole life: a full pipe would block its logging.
  createInterface({ input: child.stderr! }).on('line', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (graceMs = 5000) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(t);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop(500);
      reject(new Error(`${script} did not log "listening" within ${timeoutMs} ms:\n${tail()}`));
    }, timeoutMs);
    let ready = false;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      keep(line);
      if (ready || !line.includes('listening')) return;
      try {
        const msg = JSON.parse(line) as Listening & { msg?: string };
        if (msg.msg === 'listening' && typeof msg.grpcPort === 'number') {
          ready = true;
          clearTimeout(timer);
          resolve({ child, listening: msg, tail, stop });
        }
      } catch {
        // not JSON: an ordinary log line
      }
    });
    child.once('exit', (code, signal) => {
      if (ready) return;
      clearTimeout(timer);
      reject(new Error(`${script} exited (${code ?? signal}) before listening:\n${tail()}`));
    });
  });
}

/** Path of the built node entry point; a clear error when `npm run build` has not run. */
export function nodeEntryPoint(): string {
  const p = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
  if (!existsSync(p)) throw new Error(`${p} not found: run \`npm run build\` first (the npm scripts do).`);
  return p;
}

/**
 * Node.js flags for the Switchboard nodes the load tests start, from `SB_NODE_FLAGS` (e.g.
 * `SB_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof"`, which NODE_OPTIONS does not allow).
 */
export function nodeFlags(): string[] {
  return (process.env.SB_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
}

/** Flags for a node on loopback with OS-chosen ports (it logs the real ones in its `listening` line). */
export function localNodeArgs(dataDir: string): string[] {
  return ['--grpc-port', '0', '--http-port', '0', '--host', '127.0.0.1', '--data-dir', dataDir];
}

/**
 * Starts a fresh embedded Switchboard node on free ports with a throw-away data directory; `execArgv`:
 * Node.js flags after `SB_NODE_FLAGS`'s (e.g. `--trace-gc` for the soak).
 */
export async function startSwitchboardNode(
  extraArgs: string[] = [],
  execArgv: string[] = [],
): Promise<ChildServer & { dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sb-loadtest-'));
  const server = await startChild(nodeEntryPoint(), [...localNodeArgs(dataDir), ...extraArgs], undefined, [
    ...nodeFlags(),
    ...execArgv,
  ]);
  return {
    ...server,
    dataDir,
    stop: async (graceMs?: number) => {
      await server.stop(graceMs);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** `--node-args="…"`: extra flags for the node(s) a script starts. */
export const nodeArgsOption = {
  type: 'string',
  default: '',
  value: '"ARGS"',
  help: 'extra flags for the node(s) it starts, e.g. --node-args="--pool inline"',
} as const;

/** The words of a `--node-args` value. */
export function splitNodeArgs(value: string): string[] {
  return value.split(/\s+/).filter(Boolean);
}

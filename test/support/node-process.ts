/**
 * A real Switchboard node in a child process for system tests: `node dist/src/cli/main.js` on port 0
 * with a temp data directory; resolves once the node logs `{"msg":"listening",...}`. It can be killed
 * (`SIGKILL`, like a crash), stopped (`SIGTERM`, graceful) and restarted on the same data directory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { localNodeArgs } from '../../loadtest/lib/node-process.js';
import { reapOnExit } from './reap.js';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const NODE_MAIN = join(REPO_ROOT, 'dist/src/cli/main.js');

export interface NodeProcessOptions {
  dataDir?: string;
  /** Extra CLI flags, e.g. `['--tokens', 'acme=tok']`. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** A command the node runs under, e.g. `['unshare', '-p', '-f', '--kill-child']` (a new PID namespace). */
  wrap?: string[];
}

export interface NodeProcess {
  readonly dataDir: string;
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Every stdout/stderr line so far (for assertions and failure messages). */
  lines(): string[];
  /** `kill -9`: no drain, no snapshot. Resolves once the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM (graceful); SIGKILL after `graceMs`. Resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
  /** A new node on the same data directory (after kill/stop). */
  restart(): Promise<NodeProcess>;
  /** Stops the node if still running and deletes its data directory. */
  dispose(): Promise<void>;
}

/** Starts a node; fails with the node's own output if it does not become ready. */
export async function startNodeProcess(opts: NodeProcessOptions = {}): Promise<NodeProcess> {
  if (!existsSync(NODE_MAIN)) throw new Error(`${NODE_MAIN} is missing: run \`npm run build\` first`);
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'sb-node-')));
  const args = [NODE_MAIN, ...localNodeArgs(dataDir)];
  const [cmd, ...argv] = [...(opts.wrap ?? []), process.execPath, ...args, ...(opts.args ?? [])];
  const child = spawn(cmd as string, argv, {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Load shedding off unless a test sets it: on a busy CI machine a freshly started node's loop runs
    // ~0.5–1 s late for a moment, and a shed setup call fails a test about something else (shedding has
    // its own tests, in-process: test/runtime/loop-lag.test.ts).
    env: { ...process.env, SB_LOG_LEVEL: 'info', SB_MAX_LOOP_LAG_MS: '0', ...opts.env },
  });
  reapOnExit(child);
  const lines: string[] = [];
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (l) => lines.push(l));
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  let listening: { grpcPort: number; httpPort: number };
  try {
    listening = await untilListening();
  } catch (e) {
    // A node that did not start leaves nothing behind: no process, and no data directory unless the
    // caller gave it (a restart's directory belongs to the first node's owner).
    if (!gone()) child.kill('SIGKILL');
    await exited;
    if (opts.dataDir === undefined) await rm(dataDir, { recursive: true, force: true });
    throw e;
  }
  function untilListening(): Promise<{ grpcPort: number; httpPort: number }> {
    return new Promise((res, rej) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        rej(
          new Error(
            `node did not log "listening" within ${opts.timeoutMs ?? 30_000} ms:\n${lines.join('\n')}`,
          ),
        );
      }, opts.timeoutMs ?? 30_000);
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => {
        lines.push(l);
        if (!l.includes('"listening"')) return;
        try {
          const m = JSON.parse(l) as { msg?: string; grpcPort?: number; httpPort?: number };
          if (m.msg === 'listening' && m.grpcPort && m.httpPort) {
            clearTimeout(timer);
            res({ grpcPort: m.grpcPort, httpPort: m.httpPort });
          }
        } catch {
          // Not a JSON log line.
        }
      });
      void exited.then((code) => {
        clearTimeout(timer);
        rej(new Error(`node exited with code ${code} before listening:\n${lines.join('\n')}`));
      });
    });
  }
  const proc: NodeProcess = {
    dataDir,
    grpcPort: listening.grpcPort,
    httpPort: listening.httpPort,
    pid: child.pid as number,
    child,
    lines: () => [...lines],
    async kill() {
      if (!gone()) child.kill('SIGKILL');
      await exited;
    },
    async stop(graceMs = 10_000) {
      if (gone()) return child.exitCode;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
    restart: () => startNodeProcess({ ...opts, dataDir }),
    async dispose() {
      await proc.kill();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return proc;
}

/** HTTP path of the `--demo` tenant's conversations. */
export const DEMO_CONVERSATIONS = '/v1/tenants/demo/conversations';

/** An HTTP enqueue of a French billing chat for the `--demo` tenant (the cluster tests' unit of load). */
export function demoChatEnqueue(id: string): RequestInit {
  return {
    method: 'POST',
    body: JSON.stringify({
      id,
      channel: 'CHANNEL_CHAT',
      customer: { id: `cust-${id}` },
      queueId: 'chat-billing',
      requiredSkills: [{ skill: 'lang:fr', minLevel: 5 }],
    }),
  };
}

/**
 * Real `nats-server` processes for tests and the chaos run: free ports, temp dirs, kill -9 and restart.
 * Modelled on nats.js's own launcher (`nats-io/nats.js`, `nst/src/launcher.ts`): tests never depend on a
 * server they did not start, unless `NATS_URL` is given (then they use it and say so).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { reapOnExit } from './reap.js';

/** Where `nats-server` may be: PATH first, then `go install`'s bin dir, then Debian's location. */
export function findNatsServer(): string | null {
  const fromEnv = process.env.NATS_SERVER_BIN;
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  const which = spawnSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' });
  const onPath = which.status === 0 ? which.stdout.trim() : '';
  const candidates = [
    onPath,
    join(homedir(), 'go', 'bin', 'nats-server'),
    '/usr/sbin/nats-server',
    '/usr/bin/nats-server',
  ];
  for (const c of candidates) if (c && existsSync(c)) return c;
  return null;
}

/** Throws a clear message when the binary is missing (cluster tests cannot mean anything without it). */
export function requireNatsServer(): string {
  const bin = findNatsServer();
  if (!bin) {
    throw new Error(
      'nats-server not found (looked on PATH, ~/go/bin, /usr/sbin). Install it with ' +
        '`go install github.com/nats-io/nats-server/v2@v2.15.2` (see .ci/run) or set NATS_URL to a running server.',
    );
  }
  return bin;
}

export function natsServerVersion(bin = requireNatsServer()): string {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  return (r.stdout || r.stderr).trim();
}

/** A port the OS says is free right now (small race window, acceptable for tests). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port; fails early if `proc` exits. */
export async function waitForPort(
  port: number,
  timeoutMs: number,
  proc?: ChildProcess,
  name = 'nats-server',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc && proc.exitCode !== null)
      throw new Error(`${name} exited with ${proc.exitCode} before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = new Socket();
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
      s.connect(port, '127.0.0.1');
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${name} did not listen on ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface NatsServerOptions {
  /** JetStream on (default true). */
  jetstream?: boolean;
  /** `sync_interval` for JetStream ("always" is what deploy/ recommends; tests default to it too). */
  syncInterval?: string;
  /** Extra config text appended verbatim. */
  extraConfig?: string;
}

/** One server process; restartable on the same ports and store directory. */
export class NatsServer {
  proc: ChildProcess | null = null;
  private stderr = '';
  constructor(
    readonly bin: string,
    readonly name: string,
    readonly port: number,
    readonly configFile: string,
    readonly storeDir: string,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) return;
    this.stderr = '';
    const p = reapOnExit(spawn(this.bin, ['-c', this.configFile], { stdio: ['ignore', 'ignore', 'pipe'] }));
    p.stderr?.on('data', (d: Buffer) => {
      // Keep the tail only: enough to explain a failed start.
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    this.proc = p;
    try {
      await waitForPort(this.port, 10_000, p);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${this.stderr}`);
    }
  }

  /** `kill -9`: no flush, no goodbye to the cluster. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }

  get log(): string {
    return this.stderr;
  }
}

function jsBlock(storeDir: string, syncInterval: string | undefined): string {
  return `jetstream {\n  store_dir: "${storeDir}"\n  sync_interval: ${syncInterval ?? 'always'}\n}\n`;
}

/**
 * `freePort()` closes its probe socket before the server binds, so a test running in parallel can take
 * the port in between ("bind: address already in use"): try again on fresh ports, a few times.
 */
async function onFreshPorts<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (e) {
      if (attempt >= 4 || !/address already in use/.test(String((e as Error).message))) throw e;
    }
  }
}

/** A single JetStream server on a free port with its own temp store. Call `stop()` (or `cleanup()`) after. */
export function startNatsServer(
  opts: NatsServerOptions = {},
): Promise<NatsServer & { cleanup(): Promise<void> }> {
  return onFreshPorts(() => startNatsServerOnce(opts));
}

async function startNatsServerOnce(
  opts: NatsServerOptions,
): Promise<NatsServer & { cleanup(): Promise<void> }> {
  const bin = requireNatsServer();
  const dir = mkdtempSync(join(tmpdir(), 'sb-nats-'));
  const port = await freePort();
  const storeDir = join(dir, 'js');
  const conf = join(dir, 'nats.conf');
  writeFileSync(
    conf,
    `server_name: "sb-test-${port}"\nlisten: "127.0.0.1:${port}"\nmax_payload: 8MB\n` +
      (opts.jetstream === false ? '' : jsBlock(storeDir, opts.syncInterval)) +
      (opts.extraConfig ?? ''),
  );
  const server = new NatsServer(bin, `sb-test-${port}`, port, conf, storeDir);
  try {
    await server.start();
  } catch (e) {
    await server.kill();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return Object.assign(server, {
    async cleanup() {
      await server.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

export interface NatsCluster {
  servers: NatsServer[];
  /** All client URLs, comma-separated (what a client's `servers` option takes). */
  urls: string[];
  cleanup(): Promise<void>;
}

/** A JetStream cluster of `size` servers with routes between them, for replication tests. */
export function startNatsCluster(size = 3, opts: NatsServerOptions = {}): Promise<NatsCluster> {
  return onFreshPorts(() => startNatsClusterOnce(size, opts));
}

async function startNatsClusterOnce(size: number, opts: NatsServerOptions): Promise<NatsCluster> {
  const bin = requireNatsServer();
  const dir = mkdtempSync(join(tmpdir(), 'sb-natsc-'));
  const clientPorts: number[] = [];
  const routePorts: number[] = [];
  for (let i = 0; i < size; i++) {
    clientPorts.push(await freePort());
    routePorts.push(await freePort());
  }
  const routes = routePorts.map((p) => `nats-route://127.0.0.1:${p}`).join(', ');
  const clusterName = `sb-c-${clientPorts[0]}`;
  const servers: NatsServer[] = [];
  for (let i = 0; i < size; i++) {
    const name = `${clusterName}-n${i}`;
    const storeDir = join(dir, `n${i}`);
    const conf = join(dir, `n${i}.conf`);
    writeFileSync(
      conf,
      `server_name: "${name}"\nlisten: "127.0.0.1:${clientPorts[i]}"\nmax_payload: 8MB\n` +
        jsBlock(storeDir, opts.syncInterval) +
        `cluster {\n  name: "${clusterName}"\n  listen: "127.0.0.1:${routePorts[i]}"\n  routes: [${routes}]\n}\n` +
        (opts.extraConfig ?? ''),
    );
    servers.push(new NatsServer(bin, name, clientPorts[i] as number, conf, storeDir));
  }
  const started = await Promise.allSettled(servers.map((s) => s.start()));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(servers.map((s) => s.kill()));
    rmSync(dir, { recursive: true, force: true });
    throw failed.reason;
  }
  return {
    servers,
    urls: servers.map((s) => s.url),
    async cleanup() {
      await Promise.all(servers.map((s) => s.kill()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The NATS to test against: `NATS_URL` when given (logged, and never killed), else a fresh server.
 * `external` tells a test that it must not kill or restart the server.
 */
export async function natsForTest(
  label: string,
): Promise<{ urls: string[]; external: boolean; server: NatsServer | null; cleanup(): Promise<void> }> {
  const env = process.env.NATS_URL;
  if (env) {
    console.log(`[${label}] using NATS_URL=${env} (external server)`);
    return { urls: env.split(','), external: true, server: null, cleanup: async () => {} };
  }
  const s = await startNatsServer();
  console.log(`[${label}] started ${natsServerVersion(s.bin)} on ${s.url}`);
  return { urls: [s.url], external: false, server: s, cleanup: () => s.cleanup() };
}

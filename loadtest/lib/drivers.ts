/**
 * Who sends the load: the grpc-js client in this process (`node`), or the native client
 * `loadtest/gclient` (`go`), both behind one interface so the load tests run the same rounds either way.
 *
 * Why two: at 2 000 calls/s the grpc-js client spends 5–8 ms in every young-generation collection (each
 * HTTP/2 stream's native wrapper survives the scavenge), 10+ times a second, and those pauses land in the
 * p99 of whatever it measures. Against the same bare echo server at 2 000/s it measured p50 0.6 ms /
 * p99 10–15 ms where the Go client measured p50 0.24 ms / p99 1.6–4.4 ms (loadtest/README.md). The Go
 * client measures the server; the node client measures what a grpc-js gateway would see, its own GC
 * included.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { reapOnExit } from '../../test/support/reap.js';
import type { ClientTls } from './grpc-workload.js';
import { closedLoop, type Iteration, type LoopResult, openLoop, type WindowedLatency } from './load-loops.js';
import { repoRoot } from './machine.js';

export type ClientKind = 'node' | 'go';

/**
 * `--client auto|go|node` → the client to use: `auto` (the default) takes Go where `go` can build the
 * native client, else grpc-js, and says why.
 */
/** The load-test client choices (`--client`, read by `pickClient`). */
export const clientOption = {
  type: 'string',
  default: 'auto',
  choices: ['auto', 'go', 'node'],
  help:
    'who sends the load: go = the native client loadtest/gclient (grpc-go, built with\n' +
    '`go build`), which adds no GC pauses of its own to the figures; node = the grpc-js\n' +
    'client in this process (what a Node.js gateway sees, its own GC included);\n' +
    'auto = go where Go is installed, else node (see loadtest/README.md)',
} as const;

export function pickClient(asked: string): ClientKind {
  if (asked === 'node' || asked === 'go') return asked;
  if (asked !== 'auto') throw new Error(`--client: auto, go or node, not ${asked}`);
  try {
    buildGoClient();
    return 'go';
  } catch (err) {
    console.log(`--client auto: using grpc-js (${err instanceof Error ? err.message : err})`);
    return 'node';
  }
}

export interface Driver {
  /**
   * Iterations started at `rate` per second for `ms`, whatever the answers do. `trace` (Go client
   * only): the result carries each measured call's iteration and monotonic start/end (`calls`).
   */
  open(rate: number, ms: number, lat?: WindowedLatency, trace?: boolean): Promise<LoopResult>;
  /** `concurrency` callers back to back for `ms`. */
  closed(concurrency: number, ms: number, lat?: WindowedLatency): Promise<LoopResult>;
  close(): void;
}

/** Iterations taken in turn from `lanes` (e.g. one per tenant), so a rate is shared evenly among them. */
function roundRobin(lanes: Iteration[]): Iteration {
  if (lanes.length === 1) return lanes[0] as Iteration;
  let k = 0;
  return (measure) => (lanes[k++ % lanes.length] as Iteration)(measure);
}

function nodeDriver(iteration: Iteration): Driver {
  return {
    open: (rate, ms, lat, trace) => {
      if (trace) throw new Error('call tracing needs the Go client (--client go)');
      return openLoop(rate, ms, iteration, lat);
    },
    closed: (concurrency, ms, lat) => closedLoop(concurrency, ms, iteration, lat),
    close() {},
  };
}

/**
 * One call of a Go-client iteration: a pre-encoded request whose `patches` are fixed-width decimal
 * fields overwritten with the iteration number (modulo `mod` when non-zero), e.g. the conversation id.
 * `checkStatus` ≠ 0: the reply's field 2 (EnqueueResponse.status) must equal it.
 */
export interface GoCall {
  method: string;
  bytes: Uint8Array;
  patches: { offset: number; width: number; mod?: number }[];
  checkStatus?: number;
}

/** The patch that writes the iteration number over `digits`, found right after `prefix` in `bytes`. */
export function patchAt(
  bytes: Uint8Array,
  prefix: string,
  digits: string,
  mod?: number,
): GoCall['patches'][number] {
  const at = Buffer.from(bytes).indexOf(prefix + digits, 0, 'latin1');
  if (at < 0) throw new Error(`${prefix}${digits} not in the encoded request`);
  return { offset: at + prefix.length, width: digits.length, ...(mod ? { mod } : {}) };
}

let built: string | undefined;

/** One lane of a workload: where its calls go, and the iteration for either client. */
export interface WorkloadLane {
  address: string;
  iteration: Iteration;
  goCalls: GoCall[];
}

/** The driver of `kind` for `lanes`, taken in turn (one lane per tenant; a rate is shared evenly). */
export function workloadDriver(
  kind: ClientKind,
  lanes: WorkloadLane[],
  token?: string,
  tls?: ClientTls,
): Promise<Driver> {
  return kind === 'go'
    ? goDriver(
        lanes.map((l) => ({ target: l.address, calls: l.goCalls })),
        token,
        tls?.caFile,
      )
    : Promise.resolve(nodeDriver(roundRobin(lanes.map((l) => l.iteration))));
}

/** Builds loadtest/gclient once per process (Go's build cache makes a rebuild a no-op). */
export function buildGoClient(): string {
  if (built) return built;
  const out = join(repoRoot(), 'dist', 'loadtest', 'gclient');
  try {
    execFileSync('go', ['build', '-C', join(repoRoot(), 'loadtest', 'gclient'), '-o', out, '.'], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  } catch (err) {
    throw new Error(
      `--client go needs Go to build loadtest/gclient (${err instanceof Error ? err.message : err}); use --client node`,
    );
  }
  built = out;
  return out;
}

interface GoResult {
  ops: number;
  errors: number;
  first_error?: string;
  seconds: number;
  lat_us: number[];
  end_ms: number[];
  iter?: number[];
  start_ns?: number[];
  end_ns?: number[];
  late_p50_us?: number;
  late_p99_us?: number;
  late_max_us?: number;
}

/** One lane of the Go client: a target and the calls of one iteration there (e.g. one tenant's). */
export interface GoLane {
  target: string;
  calls: GoCall[];
}

/** The Go client, taking iterations from `lanes` in turn (one connection per distinct target). */
export async function goDriver(lanes: GoLane[], token: string | undefined, caFile?: string): Promise<Driver> {
  const bin = buildGoClient();
  const child: ChildProcess = reapOnExit(spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] }));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code, sig) => reject(new Error(`gclient exited (${code ?? sig})`))),
  );
  exited.catch(() => {});
  const ask = async <T>(cmd: object): Promise<T> => {
    child.stdin!.write(`${JSON.stringify(cmd)}\n`);
    const next = await Promise.race([lines.next(), exited]);
    if (next.done) throw new Error('gclient closed its output');
    return JSON.parse(next.value) as T;
  };
  await ask({
    cmd: 'setup',
    token: token ?? '',
    ca_file: caFile ?? '',
    start: 1,
    lanes: lanes.map((l) => ({
      target: l.target,
      calls: l.calls.map((c) => ({
        method: c.method,
        bytes: Buffer.from(c.bytes).toString('base64'),
        patches: c.patches,
        check_status: c.checkStatus ?? 0,
      })),
    })),
  });
  const run = async (cmd: object, lat?: WindowedLatency): Promise<LoopResult> => {
    const startNs = process.hrtime.bigint();
    const r = await ask<GoResult>({ cmd: 'run', ...cmd });
    if (lat) {
      for (let i = 0; i < r.lat_us.length; i++) {
        const end = startNs + BigInt(Math.round((r.end_ms[i] as number) * 1e6));
        lat.record(BigInt(Math.round((r.lat_us[i] as number) * 1e3)), end);
      }
    }
    return {
      ops: r.ops,
      errors: r.errors,
      seconds: r.seconds,
      opsPerSecond: r.ops / r.seconds,
      ...(r.first_error ? { firstError: r.first_error } : {}),
      ...(r.late_p99_us !== undefined
        ? { sendLate: { p50Us: r.late_p50_us ?? 0, p99Us: r.late_p99_us, maxUs: r.late_max_us ?? 0 } }
        : {}),
      ...(r.iter && r.start_ns && r.end_ns
        ? {
            calls: r.iter.map((iter, i) => ({
              iter,
              startNs: r.start_ns![i] as number,
              endNs: r.end_ns![i] as number,
            })),
          }
        : {}),
    };
  };
  return {
    open: (rate, ms, lat, trace) => run({ rate, ms, ...(trace ? { trace: true } : {}) }, lat),
    closed: (concurrency, ms, lat) => run({ concurrency, ms }, lat),
    close() {
      child.stdin!.end();
    },
  };
}

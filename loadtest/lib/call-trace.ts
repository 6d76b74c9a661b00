/**
 * `loadtest:grpc --trace-calls`: each measured call's latency split into the way in, the server's own
 * part and the way out, from two traces on the same monotonic clock — the Go client's (when it sent the
 * call, when the answer arrived) and the server's (`--trace-calls` of the node, `--trace` of the echo
 * server: when the call reached the handler, when the handler answered; `src/api/call-trace.ts`).
 *
 *   way in  = handler entered − call sent     (client, kernel, HTTP/2 + grpc-js parsing, waiting for the
 *                                               server's event loop)
 *   server  = handler answered − entered      (the node: validation, worker, durable log; echo: 0)
 *   way out = answer received − answered      (grpc-js + HTTP/2 writing, the trailers one event-loop
 *                                               turn later, kernel, client)
 *
 * The node's histograms only see the middle part; the way in and out are where a busy event loop shows.
 */
import { readFileSync } from 'node:fs';

/** A measured call as the client saw it (monotonic ns). */
export interface ClientCall {
  iter: number;
  startNs: number;
  endNs: number;
}

/** A call as the server saw it (monotonic ns); `iter` -1 when its request carries no iteration number. */
export interface ServerCall {
  iter: number;
  receivedNs: number;
  answeredNs: number;
}

/** One call's parts, µs. */
export interface CallParts {
  totalUs: number;
  inUs: number;
  serverUs: number;
  outUs: number;
}

/** Reads a trace file written by `CallTrace.write()`. */
export function readServerTrace(file: string): ServerCall[] {
  const out: ServerCall[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const [iter, received, answered] = line.split(' ').map(Number);
    if (iter === undefined || received === undefined || answered === undefined || Number.isNaN(answered)) {
      throw new Error(`${file}: not a call trace line: ${line}`);
    }
    out.push({ iter, receivedNs: received, answeredNs: answered });
  }
  return out;
}

/**
 * Lines client calls up with server calls: by iteration number where the server knows it (the node:
 * conversation ids end with it; the echo server: the Go client writes it into the request's filler),
 * else by time — the one server call that began inside the client call. A client call without exactly
 * one partner is left out and counted.
 */
export function splitCalls(
  client: ClientCall[],
  server: ServerCall[],
): { parts: CallParts[]; unmatched: number } {
  const byIter = new Map<number, ServerCall>();
  const anonymous: ServerCall[] = [];
  for (const s of server) {
    if (s.iter >= 0) byIter.set(s.iter, s);
    else anonymous.push(s);
  }
  anonymous.sort((a, b) => a.receivedNs - b.receivedNs);
  const parts: CallParts[] = [];
  let unmatched = 0;
  for (const c of client) {
    const s = byIter.get(c.iter) ?? onlyOneInside(anonymous, c);
    if (!s || s.receivedNs < c.startNs || s.answeredNs > c.endNs) {
      unmatched++;
      continue;
    }
    parts.push({
      totalUs: (c.endNs - c.startNs) / 1e3,
      inUs: (s.receivedNs - c.startNs) / 1e3,
      serverUs: (s.answeredNs - s.receivedNs) / 1e3,
      outUs: (c.endNs - s.answeredNs) / 1e3,
    });
  }
  return { parts, unmatched };
}

/** The single server call (sorted by `receivedNs`) received within [startNs, endNs], else undefined. */
function onlyOneInside(sorted: ServerCall[], c: ClientCall): ServerCall | undefined {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((sorted[mid] as ServerCall).receivedNs < c.startNs) lo = mid + 1;
    else hi = mid;
  }
  const first = sorted[lo];
  if (!first || first.receivedNs > c.endNs) return undefined;
  const next = sorted[lo + 1];
  return next && next.receivedNs <= c.endNs ? undefined : first;
}

export interface PartsSummary {
  calls: number;
  unmatched: number;
  /** p50 / p99 of each part over all calls, µs. */
  total: [number, number];
  way_in: [number, number];
  server: [number, number];
  way_out: [number, number];
  /** Mean of each part over the slowest 1 % of calls (total ≥ its p99), µs: where the tail's time went. */
  slowest_1pct: { way_in: number; server: number; way_out: number };
}

export function summarizeParts(split: { parts: CallParts[]; unmatched: number }): PartsSummary {
  const { parts } = split;
  const pct = (k: keyof CallParts): [number, number] => {
    const xs = parts.map((p) => p[k]).sort((a, b) => a - b);
    const at = (q: number) => Math.round(xs[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? 0);
    return [at(0.5), at(0.99)];
  };
  const total = pct('totalUs');
  const slow = parts.filter((p) => p.totalUs >= total[1]);
  const mean = (k: keyof CallParts) =>
    slow.length === 0 ? 0 : Math.round(slow.reduce((n, p) => n + p[k], 0) / slow.length);
  return {
    calls: parts.length,
    unmatched: split.unmatched,
    total,
    way_in: pct('inUs'),
    server: pct('serverUs'),
    way_out: pct('outUs'),
    slowest_1pct: { way_in: mean('inUs'), server: mean('serverUs'), way_out: mean('outUs') },
  };
}

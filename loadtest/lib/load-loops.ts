/**
 * Open- and closed-loop drivers for the gRPC load test, with latency recorded into HDR histograms both
 * overall and per second of the run (for the "percentiles over time" chart).
 */
import type { ClientCall } from './call-trace.js';
import { LatencyHistogram } from './hdr.js';

/** Latencies of one target (the router or the echo floor): overall, and per wall-clock second of the run. */
export class WindowedLatency {
  readonly total = new LatencyHistogram();
  private readonly windows = new Map<number, LatencyHistogram>();

  constructor(private readonly origin: bigint) {}

  /** Records one latency (ns) that ended at `endNs` (a `process.hrtime.bigint()` reading). */
  record(latencyNs: bigint, endNs: bigint): void {
    this.total.recordNs(latencyNs);
    const sec = Number((endNs - this.origin) / 1_000_000_000n);
    let w = this.windows.get(sec);
    if (!w) {
      w = new LatencyHistogram();
      this.windows.set(sec, w);
    }
    w.recordNs(latencyNs);
  }

  /** Per-second p50/p99 (µs) for every second in which something completed. */
  perSecond(): { second: number; count: number; p50_us: number; p99_us: number }[] {
    return [...this.windows.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([second, h]) => ({
        second,
        count: h.count,
        p50_us: h.percentileUs(50),
        p99_us: h.percentileUs(99),
      }));
  }
}

export interface LoopResult {
  /** Completed iterations (each may be several calls; the first one is the measured one). */
  ops: number;
  errors: number;
  seconds: number;
  opsPerSecond: number;
  firstError?: string;
  /** Open loop, Go client: how late iterations left after their due time (a late schedule measures the client). */
  sendLate?: { p50Us: number; p99Us: number; maxUs: number };
  /** With tracing (Go client): each measured call's iteration, start and end on the monotonic clock. */
  calls?: ClientCall[];
}

/** One iteration: calls `measure(startNs, endNs)` around its timed call, throws on failure. */
export type Iteration = (measure: (startNs: bigint, endNs: bigint) => void) => Promise<void>;

/** `concurrency` callers, each starting the next iteration as soon as the previous one finished. */
export async function closedLoop(
  concurrency: number,
  durationMs: number,
  iter: Iteration,
  lat?: WindowedLatency,
): Promise<LoopResult> {
  const started = performance.now();
  const end = started + durationMs;
  let ops = 0;
  let errors = 0;
  let firstError: string | undefined;
  const measure = (s: bigint, e: bigint) => lat?.record(e - s, e);
  const worker = async () => {
    while (performance.now() < end) {
      try {
        await iter(measure);
        ops++;
      } catch (err) {
        errors++;
        firstError ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  return { ops, errors, seconds, opsPerSecond: ops / seconds, ...(firstError ? { firstError } : {}) };
}

/**
 * Starts iterations at a fixed rate whatever the answers do (an open system, like real gateways). A
 * slow server shows as growing latency, not as a politely slower client. Iterations beyond `maxInFlight`
 * are counted as errors rather than piling up without bound.
 */
export async function openLoop(
  ratePerSecond: number,
  durationMs: number,
  iter: Iteration,
  lat?: WindowedLatency,
  maxInFlight = 5000,
): Promise<LoopResult> {
  const started = performance.now();
  let sent = 0;
  let ops = 0;
  let errors = 0;
  let inFlight = 0;
  let firstError: string | undefined;
  const measure = (s: bigint, e: bigint) => lat?.record(e - s, e);
  const pending = new Set<Promise<void>>();
  const fire = () => {
    if (inFlight >= maxInFlight) {
      errors++;
      firstError ??= `more than ${maxInFlight} calls in flight`;
      return;
    }
    inFlight++;
    const p: Promise<void> = iter(measure)
      .then(
        () => {
          ops++;
        },
        (err) => {
          errors++;
          firstError ??= err instanceof Error ? err.message : String(err);
        },
      )
      .finally(() => {
        inFlight--;
        pending.delete(p);
      });
    pending.add(p);
  };
  await new Promise<void>((resolve) => {
    const step = () => {
      const elapsed = performance.now() - started;
      const due = Math.min(
        Math.floor((elapsed / 1000) * ratePerSecond),
        Math.floor((durationMs / 1000) * ratePerSecond),
      );
      while (sent < due) {
        sent++;
        fire();
      }
      if (elapsed >= durationMs) resolve();
      else setTimeout(step, 1);
    };
    step();
  });
  await Promise.all(pending);
  const seconds = (performance.now() - started) / 1000;
  return { ops, errors, seconds, opsPerSecond: ops / seconds, ...(firstError ? { firstError } : {}) };
}

/**
 * `--trace-calls FILE` (diagnostic): when each Enqueue reached its gRPC handler and when the handler
 * handed its answer to grpc-js, on the machine's monotonic clock, written to FILE at shutdown.
 *
 * A load client that records when it sent each call and when the answer arrived, on the same clock
 * (`npm run loadtest:grpc -- --trace-calls`), can then split every call's latency into the way in
 * (client → handler: the client, the kernel, HTTP/2 and grpc-js parsing, and the wait for this node's
 * event loop), the node's own part (handler → answer: validation, the partition's worker, the
 * durable log) and the way out (answer → client). The node's histograms cannot show the first and
 * last parts, which is where a busy event loop shows up (loadtest/README.md).
 *
 * Kept in preallocated typed arrays (no allocation per call); calls beyond the capacity are counted,
 * not kept. Off unless the flag is given.
 */
import { writeFileSync } from 'node:fs';

export class CallTrace {
  private readonly iter: Float64Array;
  private readonly received: Float64Array;
  private readonly answered: Float64Array;
  private n = 0;
  private dropped = 0;
  /** performance.now() (ms since the process's time origin) → CLOCK_MONOTONIC ns. */
  private readonly originNs: number;

  readonly file: string;

  /** `file` may hold `{pid}`, replaced by this process's id (several nodes given one path: a cluster). */
  constructor(
    file: string,
    readonly capacity = 1_000_000,
  ) {
    this.file = file.replaceAll('{pid}', String(process.pid));
    this.iter = new Float64Array(capacity);
    this.received = new Float64Array(capacity);
    this.answered = new Float64Array(capacity);
    this.originNs = monotonicOriginNs();
  }

  /** Now, for `record` (performance.now(): a double, no allocation). */
  now(): number {
    return performance.now();
  }

  /**
   * One call: its conversation id (the trailing digits are the load client's iteration number; ids
   * without them are kept as -1) and the two `now()` readings.
   */
  record(conversationId: string, receivedAt: number, answeredAt: number): void {
    if (this.n >= this.capacity) {
      this.dropped++;
      return;
    }
    this.iter[this.n] = trailingNumber(conversationId);
    this.received[this.n] = receivedAt;
    this.answered[this.n] = answeredAt;
    this.n++;
  }

  /** Writes the file: a header line, then `iteration received_ns answered_ns` per call. */
  write(): void {
    const lines = [
      `# switchboard call trace v1: iteration received_ns answered_ns (CLOCK_MONOTONIC); dropped ${this.dropped}`,
    ];
    for (let i = 0; i < this.n; i++) {
      const r = Math.round(this.originNs + (this.received[i] as number) * 1e6);
      const a = Math.round(this.originNs + (this.answered[i] as number) * 1e6);
      lines.push(`${this.iter[i]} ${r} ${a}`);
    }
    writeFileSync(this.file, `${lines.join('\n')}\n`);
  }
}

/**
 * CLOCK_MONOTONIC ns at performance.now() = 0. The first call of each clock is slow (lazy set-up, ~0.8
 * ms here, which would skew a pair read across it), so both are read once first; then an hrtime reading
 * is taken between two performance.now() readings and paired with their midpoint, the tightest of a
 * few pairs kept (a few µs here).
 */
export function monotonicOriginNs(): number {
  performance.now();
  process.hrtime.bigint();
  let best = Number.POSITIVE_INFINITY;
  let origin = 0;
  for (let i = 0; i < 5; i++) {
    const before = performance.now();
    const mono = Number(process.hrtime.bigint());
    const after = performance.now();
    if (after - before < best) {
      best = after - before;
      origin = mono - ((before + after) / 2) * 1e6;
    }
  }
  return origin;
}

/** The number the id ends with (`run-0000012` → 12), or -1. */
export function trailingNumber(id: string): number {
  const end = id.length;
  let start = end;
  while (start > 0) {
    const c = id.charCodeAt(start - 1);
    if (c < 48 || c > 57) break;
    start--;
  }
  if (start === end || end - start > 15) return -1;
  return Number(id.slice(start, end));
}

/**
 * Latency recorder over an HDR histogram, shared by the engine benches and the load tests.
 *
 * Values are kept in nanoseconds internally so sub-microsecond engine decisions keep three significant
 * digits; every report is in microseconds. Callers either record a µs figure (`recordUs`) or time a span
 * with `process.hrtime.bigint()` and pass the nanosecond difference (`recordNs`).
 */
import { build, type Histogram } from 'hdr-histogram-js';

/** Percentile report, all in microseconds. */
export interface LatencySummary {
  count: number;
  mean_us: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
}

/** An HDR histogram recording latencies; reports µs percentiles. */
export class LatencyHistogram {
  private readonly h: Histogram;

  constructor() {
    // 3 significant digits = 0.1 % relative error; autoResize so an outlier (GC pause) never throws.
    this.h = build({ numberOfSignificantValueDigits: 3, autoResize: true, lowestDiscernibleValue: 1 });
  }

  /** Records one latency given in nanoseconds (e.g. a `process.hrtime.bigint()` difference). */
  recordNs(ns: number | bigint): void {
    const v = typeof ns === 'bigint' ? Number(ns) : Math.round(ns);
    this.h.recordValue(Math.max(1, v));
  }

  /** Records one latency given in microseconds (fractions kept to the nanosecond). */
  recordUs(us: number): void {
    this.recordNs(us * 1000);
  }

  /** Number of recorded values. */
  get count(): number {
    return this.h.totalCount;
  }

  /** Latency at a percentile (0–100), µs. */
  percentileUs(p: number): number {
    return this.h.getValueAtPercentile(p) / 1000;
  }

  /** p50/p90/p99/p99.9/max and mean, µs, rounded to the nanosecond. */
  summary(): LatencySummary {
    const r = (ns: number) => Math.round(ns) / 1000;
    return {
      count: this.h.totalCount,
      mean_us: r(this.h.mean),
      p50_us: r(this.h.getValueAtPercentile(50)),
      p90_us: r(this.h.getValueAtPercentile(90)),
      p99_us: r(this.h.getValueAtPercentile(99)),
      p999_us: r(this.h.getValueAtPercentile(99.9)),
      max_us: r(this.h.maxValue),
    };
  }

  /** Adds every value of another histogram into this one (e.g. merging per-worker recorders). */
  add(other: LatencyHistogram): void {
    this.h.add(other.h);
  }

  reset(): void {
    this.h.reset();
  }
}

/** Formats rows of values as an aligned plain-text table (first row = header). */
export function formatTable(rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? fmtNum(c) : c)));
  const widths: number[] = [];
  for (const r of cells) {
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.length);
    });
  }
  return cells
    .map((r, ri) => {
      const line = r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
      return ri === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
    })
    .join('\n');
}

function fmtNum(n: number): string {
  if (Number.isInteger(n)) return String(n);
  return Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2);
}

/**
 * The soak's verdicts (`loadtest/soak.ts`): a least-squares slope over the judged window of samples, and
 * per check whether what should stay flat grew beyond its tolerance. Pure functions, unit-tested in
 * `test/loadtest/soak-judge.test.ts`.
 */

export interface Point {
  /** Seconds since the load started. */
  t: number;
  value: number;
}

/** Least-squares slope (value per second) and intercept; slope 0 with fewer than two distinct times. */
export function fitLine(points: readonly Point[]): { slope: number; intercept: number } {
  const n = points.length;
  if (n === 0) return { slope: 0, intercept: 0 };
  let st = 0;
  let sv = 0;
  for (const p of points) {
    st += p.t;
    sv += p.value;
  }
  const mt = st / n;
  const mv = sv / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - mt) * (p.value - mv);
    den += (p.t - mt) * (p.t - mt);
  }
  const slope = den === 0 ? 0 : num / den;
  return { slope, intercept: mv - slope * mt };
}

export interface CheckSpec {
  /** Short name, e.g. `heap_after_gc_mb`. */
  key: string;
  /** What is measured, for the table. */
  what: string;
  unit: string;
  /** Most growth allowed, in `unit` per hour of the fitted line (the slope × 60 min). */
  tolerancePerHour: number;
}

export interface CheckResult extends CheckSpec {
  samples: number;
  first: number;
  last: number;
  min: number;
  max: number;
  /** The fitted growth per minute, in `unit`. */
  perMinute: number;
  /** The fitted growth per 1 000 conversations enqueued in the window, in `unit` (null: none enqueued). */
  per1kConversations: number | null;
  pass: boolean;
  /** Why it failed (or `null`). */
  reason: string | null;
}

/**
 * Judges one series over the window: the fitted slope per hour must not exceed the tolerance. A series
 * with no samples in the window fails (nothing was measured, so nothing was shown flat).
 */
export function judge(
  spec: CheckSpec,
  points: readonly Point[],
  conversationsPerSecond: number,
): CheckResult {
  if (points.length < 3) {
    return {
      ...spec,
      samples: points.length,
      first: Number.NaN,
      last: Number.NaN,
      min: Number.NaN,
      max: Number.NaN,
      perMinute: Number.NaN,
      per1kConversations: null,
      pass: false,
      reason: `only ${points.length} sample(s) in the window: nothing to fit`,
    };
  }
  const { slope } = fitLine(points);
  const values = points.map((p) => p.value);
  const perMinute = slope * 60;
  const perHour = slope * 3600;
  const pass = perHour <= spec.tolerancePerHour;
  return {
    ...spec,
    samples: points.length,
    first: values[0] as number,
    last: values[values.length - 1] as number,
    min: Math.min(...values),
    max: Math.max(...values),
    perMinute,
    per1kConversations: conversationsPerSecond > 0 ? (slope / conversationsPerSecond) * 1000 : null,
    pass,
    reason: pass
      ? null
      : `grows ${fmt(perHour)} ${spec.unit}/h, more than the ${fmt(spec.tolerancePerHour)} ${spec.unit}/h allowed`,
  };
}

/**
 * The window judged: the second half of the run, or later if the engine's bounded state (recently closed
 * conversations, contact-created customers) was still filling then — its growth until full is by design.
 * `null` when that leaves less than a quarter of the run: the run was too short (or too slow) to judge.
 */
export function judgedWindow(runSeconds: number, fullAtSeconds: number | null): [number, number] | null {
  const from = Math.max(runSeconds / 2, fullAtSeconds ?? Number.POSITIVE_INFINITY);
  if (runSeconds - from < runSeconds / 4) return null;
  return [from, runSeconds];
}

/** 3 significant figures, no exponent for ordinary sizes. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(2);
}

/** One line of V8's `--trace-gc` output for a full (mark-compact) collection, or null. */
export interface MajorGc {
  /** The isolate (main thread or a worker thread) it ran in. */
  isolate: string;
  /** Heap used after it, MB. */
  afterMb: number;
}

const MAJOR_GC =
  /\[\d+:(0x[0-9a-f]+)\]\s+[\d.]+ ms: Mark-Compact(?: \(reduce\))? [\d.]+ \([\d.]+\) -> ([\d.]+) \([\d.]+\) MB/;

/** Parses a `--trace-gc` line: `[pid:0xisolate]  123 ms: Mark-Compact 41.4 (71.6) -> 31.8 (66.2) MB, …`. */
export function parseMajorGc(line: string): MajorGc | null {
  const m = MAJOR_GC.exec(line);
  if (!m) return null;
  return { isolate: m[1] as string, afterMb: Number(m[2]) };
}

/**
 * The lowest value in each `seconds`-long bucket, at the bucket's middle: the baseline of a series with
 * short spikes (RSS while a snapshot is serialised), whose slope the spikes would otherwise decide.
 */
export function bucketMinima(points: readonly Point[], seconds: number): Point[] {
  const out: Point[] = [];
  let bucket = Number.NaN;
  for (const p of points) {
    const b = Math.floor(p.t / seconds);
    const last = out[out.length - 1];
    if (b !== bucket || !last) {
      bucket = b;
      out.push({ t: (b + 0.5) * seconds, value: p.value });
    } else if (p.value < last.value) last.value = p.value;
  }
  return out;
}

/**
 * The median of each `seconds`-long bucket, at the bucket's middle: for a series with rare outliers both
 * ways (the heap read while a snapshot's text is alive, or a worker read mid-way through a hand-over).
 */
export function bucketMedians(points: readonly Point[], seconds: number): Point[] {
  const buckets = new Map<number, number[]>();
  for (const p of points) {
    const b = Math.floor(p.t / seconds);
    const vs = buckets.get(b) ?? [];
    vs.push(p.value);
    buckets.set(b, vs);
  }
  return [...buckets].map(([b, vs]) => {
    const s = [...vs].sort((x, y) => x - y);
    const m = s.length >> 1;
    return {
      t: (b + 0.5) * seconds,
      value: s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2,
    };
  });
}

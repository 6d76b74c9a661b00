/**
 * Reads a Prometheus histogram from a node's `/metrics` text and turns the difference between two
 * scrapes into percentiles — the server's own microsecond view of enqueue → assignment, which
 * autocannon (whole milliseconds) cannot give.
 */
import { get as httpsGet } from 'node:https';

/** Cumulative bucket counts of one histogram, summed over all label sets; `le` in seconds. */
export interface HistogramScrape {
  buckets: { le: number; count: number }[];
  count: number;
  sum: number;
}

/**
 * Parses `name_bucket{...,le="x"} n` lines from Prometheus text format, summing all label sets — or only
 * those whose line contains `labelFilter` (e.g. `method="enqueue"`).
 */
export function parseHistogram(text: string, name: string, labelFilter?: string): HistogramScrape | null {
  const byLe = new Map<number, number>();
  let count = 0;
  let sum = 0;
  let seen = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (labelFilter !== undefined && !line.includes(labelFilter))) continue;
    const rest = line.slice(name.length);
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (rest.startsWith('_bucket')) {
      const m = /le="([^"]+)"/.exec(rest);
      if (!m) continue;
      const le = m[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[1]);
      byLe.set(le, (byLe.get(le) ?? 0) + value);
      seen = true;
    } else if (rest.startsWith('_count')) count += value;
    else if (rest.startsWith('_sum')) sum += value;
  }
  if (!seen) return null;
  const buckets = [...byLe.entries()].sort((a, b) => a[0] - b[0]).map(([le, c]) => ({ le, count: c }));
  return { buckets, count, sum };
}

/** after − before, bucket by bucket (same bucket layout assumed, as from one process). */
export function diffHistogram(before: HistogramScrape | null, after: HistogramScrape): HistogramScrape {
  if (!before) return after;
  const prev = new Map(before.buckets.map((b) => [b.le, b.count]));
  return {
    buckets: after.buckets.map((b) => ({ le: b.le, count: b.count - (prev.get(b.le) ?? 0) })),
    count: after.count - before.count,
    sum: after.sum - before.sum,
  };
}

/**
 * Quantile (0–1) in seconds by linear interpolation inside the bucket that holds it, like PromQL's
 * `histogram_quantile`: resolution is the bucket width (buckets double from 50 µs here). NaN if empty.
 */
export function histogramQuantile(h: HistogramScrape, q: number): number {
  const total = h.buckets.length > 0 ? h.buckets[h.buckets.length - 1]!.count : 0;
  if (total <= 0) return Number.NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of h.buckets) {
    if (b.count >= rank) {
      if (!Number.isFinite(b.le)) return prevLe;
      const inBucket = b.count - prevCount;
      return inBucket > 0 ? prevLe + ((b.le - prevLe) * (rank - prevCount)) / inBucket : b.le;
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

/** Fetches `/metrics` and returns the named histogram (null if the node does not export it). */
export async function scrapeHistogram(metricsUrl: string, name: string): Promise<HistogramScrape | null> {
  const res = await fetch(metricsUrl);
  if (!res.ok) throw new Error(`GET ${metricsUrl}: HTTP ${res.status}`);
  return parseHistogram(await res.text(), name);
}

export const ASSIGNMENT_LATENCY = 'switchboard_assignment_latency_seconds';

/** The node's server-side view of a run: which histograms, and (optionally) which label set. */
export const SERVER_BREAKDOWN: { key: string; name: string; label?: string; what: string }[] = [
  { key: 'assign', name: ASSIGNMENT_LATENCY, what: 'enqueue received → assignment decided' },
  {
    key: 'enqueue_command',
    name: 'switchboard_command_duration_seconds',
    label: 'method="enqueue"',
    what: 'Enqueue command, received → reply released (durable)',
  },
  { key: 'log_append', name: 'switchboard_log_append_seconds', what: 'command log append (group commit)' },
];

/** p50/p99 in µs of each breakdown histogram between two `/metrics` texts (null where absent). */
export function serverBreakdown(before: string | null, after: string | null) {
  return SERVER_BREAKDOWN.map((b) => {
    const a = after === null ? null : parseHistogram(after, b.name, b.label);
    const d = a ? diffHistogram(before === null ? null : parseHistogram(before, b.name, b.label), a) : null;
    const q = (p: number) => (d && d.count > 0 ? Math.round(histogramQuantile(d, p) * 1e6) : null);
    return { ...b, count: d?.count ?? 0, p50_us: q(0.5), p99_us: q(0.99) };
  });
}

/** The samples of counter or gauge `name` in `/metrics` text: each label set (`{}` for none) and its value. */
export function parseSamples(
  text: string,
  name: string,
): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== ' ' && line[name.length] !== '{')) continue;
    const labels: Record<string, string> = {};
    const close = line.lastIndexOf('}');
    if (line[name.length] === '{') {
      for (const m of line.slice(name.length, close).matchAll(/(\w+)="([^"]*)"/g))
        labels[m[1] as string] = m[2] as string;
    }
    out.push({ labels, value: Number(line.slice(line.lastIndexOf(' ') + 1)) });
  }
  return out;
}

/** The raw `/metrics` text, or null when unreachable. */
export async function scrapeText(metricsUrl: string, ca?: Buffer): Promise<string | null> {
  if (ca !== undefined) return scrapeHttps(metricsUrl, ca);
  try {
    const res = await fetch(metricsUrl);
    return res.ok ? await res.text() : null;
  } catch {
    return null;
  }
}

/** `/metrics` of a node serving HTTPS with a certificate from `ca` (fetch takes no CA of its own). */
function scrapeHttps(metricsUrl: string, ca: Buffer): Promise<string | null> {
  return new Promise((resolve) => {
    const req = httpsGet(metricsUrl, { ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve(res.statusCode === 200 ? body : null));
    });
    req.on('error', () => resolve(null));
  });
}

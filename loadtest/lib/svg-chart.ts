/**
 * Line and bar charts as inline SVG strings: the report must open anywhere (no CDN, no script needed),
 * so the charts are drawn on the server side into the HTML.
 */

export interface Series {
  name: string;
  values: (number | null)[];
}

export interface ChartSpec {
  title: string;
  kind: 'line' | 'bar';
  /** Category labels (bar) or x positions' labels (line), same length as every series. */
  labels: string[];
  series: Series[];
  yLabel: string;
  /** Fixed y range top (e.g. 1 for service level); default: the data maximum. */
  yMax?: number;
  /** A horizontal reference line (a target, a floor). */
  reference?: { value: number; label: string };
  /** Show every n-th x label (long time axes). */
  labelEvery?: number;
  /** Logarithmic y axis (latencies: a p50 of 300 µs and a p99 spike of 200 ms on one chart). */
  log?: boolean;
}

const W = 760;
const H = 300;
const M = { left: 64, right: 16, top: 34, bottom: 58 };
export const PALETTE = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#17becf',
];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function niceMax(x: number): number {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 1000) return `${Math.round(v / 100) / 10}k`;
  if (Math.abs(v) >= 10) return String(Math.round(v));
  return String(Math.round(v * 100) / 100);
}

/** Renders one chart as an `<svg>` element string with class `chart`. */
export function renderChart(c: ChartSpec): string {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  let dataMax = 0;
  for (const s of c.series)
    for (const v of s.values) if (v !== null && Number.isFinite(v)) dataMax = Math.max(dataMax, v);
  if (c.reference) dataMax = Math.max(dataMax, c.reference.value);
  let dataMin = Number.POSITIVE_INFINITY;
  for (const s of c.series) for (const v of s.values) if (v !== null && v > 0) dataMin = Math.min(dataMin, v);
  const yMax = c.log ? 10 ** Math.ceil(Math.log10(Math.max(dataMax, 1e-9))) : (c.yMax ?? niceMax(dataMax));
  const yMin = c.log ? 10 ** Math.floor(Math.log10(Number.isFinite(dataMin) ? dataMin : yMax / 10)) : 0;
  const decades = c.log ? Math.max(1, Math.round(Math.log10(yMax / yMin))) : 4;
  const n = c.labels.length;
  const y = (v: number) =>
    c.log
      ? M.top + ph - (Math.log10(Math.min(Math.max(v, yMin), yMax) / yMin) / decades) * ph
      : M.top + ph - (Math.min(v, yMax) / yMax) * ph;
  const out: string[] = [];
  out.push(
    `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(c.title)}">`,
  );
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${M.left}" y="20" font-size="14" font-weight="bold">${esc(c.title)}</text>`);
  for (let i = 0; i <= decades; i++) {
    const v = c.log ? yMin * 10 ** i : (yMax * i) / 4;
    const yy = y(v);
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${yy}" y2="${yy}" stroke="#ddd"/>`);
    out.push(`<text x="${M.left - 6}" y="${yy + 4}" font-size="11" text-anchor="end">${fmt(v)}</text>`);
  }
  out.push(
    `<text x="14" y="${M.top + ph / 2}" font-size="11" transform="rotate(-90 14 ${M.top + ph / 2})" text-anchor="middle">${esc(c.yLabel)}</text>`,
  );
  const every = c.labelEvery ?? Math.max(1, Math.ceil(n / 12));
  const xAt = (i: number) =>
    c.kind === 'bar'
      ? M.left + ((i + 0.5) * pw) / Math.max(1, n)
      : M.left + (n > 1 ? (i * pw) / (n - 1) : pw / 2);
  for (let i = 0; i < n; i += every) {
    out.push(
      `<text x="${xAt(i)}" y="${M.top + ph + 16}" font-size="11" text-anchor="middle">${esc(c.labels[i]!)}</text>`,
    );
  }
  out.push(
    `<line x1="${M.left}" x2="${W - M.right}" y1="${M.top + ph}" y2="${M.top + ph}" stroke="#333"/><line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${M.top + ph}" stroke="#333"/>`,
  );
  if (c.kind === 'bar') {
    const groupW = pw / Math.max(1, n);
    const bw = (groupW * 0.8) / Math.max(1, c.series.length);
    c.series.forEach((s, si) => {
      s.values.forEach((v, i) => {
        if (v === null || !Number.isFinite(v) || (c.log && v <= 0)) return;
        const x = M.left + i * groupW + groupW * 0.1 + si * bw;
        const top = y(v);
        out.push(
          `<rect class="mark" x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${bw.toFixed(1)}" height="${(M.top + ph - top).toFixed(1)}" fill="${PALETTE[si % PALETTE.length]}"><title>${esc(s.name)} ${esc(c.labels[i]!)}: ${fmt(v)}</title></rect>`,
        );
      });
    });
  } else {
    c.series.forEach((s, si) => {
      let d = '';
      let pen = false;
      s.values.forEach((v, i) => {
        if (v === null || !Number.isFinite(v) || (c.log && v <= 0)) {
          pen = false;
          return;
        }
        d += `${pen ? 'L' : 'M'}${xAt(i).toFixed(1)},${y(v).toFixed(1)}`;
        pen = true;
      });
      if (d !== '') {
        out.push(
          `<path class="mark" d="${d}" fill="none" stroke="${PALETTE[si % PALETTE.length]}" stroke-width="2.5" stroke-linejoin="round"/>`,
        );
      }
    });
  }
  if (c.reference) {
    const yy = y(c.reference.value);
    out.push(
      `<line x1="${M.left}" x2="${W - M.right}" y1="${yy}" y2="${yy}" stroke="#555" stroke-dasharray="6 4"/><text x="${W - M.right}" y="${yy - 4}" font-size="11" text-anchor="end">${esc(c.reference.label)}</text>`,
    );
  }
  let lx = M.left;
  c.series.forEach((s, si) => {
    out.push(
      `<rect x="${lx}" y="${H - 18}" width="12" height="12" fill="${PALETTE[si % PALETTE.length]}"/><text x="${lx + 16}" y="${H - 8}" font-size="11">${esc(s.name)}</text>`,
    );
    lx += 28 + s.name.length * 6.5;
  });
  out.push('</svg>');
  return out.join('');
}

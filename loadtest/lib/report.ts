/**
 * Every run (simulate, loadtest, loadtest:grpc) leaves two files under `loadtest/results/`: the raw JSON
 * and a self-contained HTML report (inline CSS and SVG, nothing fetched at view time) headed by the
 * machine, versions, commit and command line that produced it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type MachineHeader, machineHeader, repoRoot } from './machine.js';
import { type ChartSpec, renderChart } from './svg-chart.js';

export interface Table {
  title: string;
  columns: string[];
  rows: (string | number | null)[][];
}

export interface ReportInput {
  /** File name prefix: `simulate`, `loadtest-http`, `loadtest-grpc`. */
  kind: string;
  title: string;
  /** Headline figures shown as cards. */
  summary: Record<string, string | number>;
  charts: ChartSpec[];
  tables: Table[];
  notes?: string[];
  /** The full result, saved as JSON and embedded in the page. */
  data: unknown;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function cell(v: string | number | null): string {
  if (v === null) return '—';
  return esc(String(v));
}

/** The report page as a string. */
export function renderReport(r: ReportInput, header: MachineHeader = machineHeader()): string {
  const cards = Object.entries(r.summary)
    .map(([k, v]) => `<div class="card"><div class="k">${esc(k)}</div><div class="v">${cell(v)}</div></div>`)
    .join('');
  const charts = r.charts.map((c) => `<figure>${renderChart(c)}</figure>`).join('\n');
  const tables = r.tables
    .map(
      (t) =>
        `<h2>${esc(t.title)}</h2><table><thead><tr>${t.columns.map((c) => `<th>${esc(c)}</th>`).join('')}</tr></thead><tbody>${t.rows
          .map((row) => `<tr>${row.map((v) => `<td>${cell(v)}</td>`).join('')}</tr>`)
          .join('')}</tbody></table>`,
    )
    .join('\n');
  const notes = (r.notes ?? []).map((n) => `<li>${esc(n)}</li>`).join('');
  const json = JSON.stringify({ header, result: r.data }).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:20px;margin:0 0 8px}h2{font-size:16px;margin:24px 0 8px}
.hdr{font:12px/1.5 ui-monospace,monospace;background:#f6f6f6;padding:8px 12px;border-radius:6px}
.cards{display:flex;flex-wrap:wrap;gap:8px;margin:16px 0}.card{border:1px solid #ddd;border-radius:6px;padding:6px 12px;min-width:110px}
.card .k{font-size:11px;color:#666}.card .v{font-size:18px;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;border:1px solid #e4e4e4;border-radius:6px}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}
</style></head>
<body>
<h1>${esc(r.title)}</h1>
<div class="hdr">
date ${esc(header.date)} · ${esc(header.os)} · ${header.cpuCount} × ${esc(header.cpus)} · ${header.memoryGiB} GiB · node ${esc(header.node)}<br>
switchboard ${esc(header.packageVersion)} · commit ${esc(header.gitCommit)}<br>
$ ${esc(header.commandLine)}
</div>
<div class="cards">${cards}</div>
<div class="charts" id="charts">
${charts}
</div>
${tables}
${notes ? `<h2>Notes</h2><ul>${notes}</ul>` : ''}
<script type="application/json" id="result">${json}</script>
<script>
// Lets a headless check (--dump-dom) confirm the charts drew: count the SVG marks actually laid out.
(function(){var n=0;document.querySelectorAll('svg.chart').forEach(function(s){var m=s.querySelectorAll('.mark');var ok=false;m.forEach(function(e){var b=e.getBBox();if(b.width>0||b.height>0)ok=true});if(ok)n++});document.body.setAttribute('data-rendered',String(n));document.body.setAttribute('data-charts',String(document.querySelectorAll('svg.chart').length));})();
</script>
</body></html>
`;
}

/** Writes `<kind>-<timestamp>.json` and `.html` under `loadtest/results/` (or `dir`); returns their paths. */
export function writeReport(
  r: ReportInput,
  dir = join(repoRoot(), 'loadtest', 'results'),
): { json: string; html: string } {
  mkdirSync(dir, { recursive: true });
  const header = machineHeader();
  const stamp = header.date.replace(/[:.]/g, '-');
  const base = join(dir, `${r.kind}-${stamp}`);
  writeFileSync(`${base}.json`, `${JSON.stringify({ header, result: r.data }, null, 2)}\n`);
  writeFileSync(`${base}.html`, renderReport(r, header));
  return { json: `${base}.json`, html: `${base}.html` };
}

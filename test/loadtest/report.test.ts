import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderReport } from '../../loadtest/lib/report.js';
import { simulate } from '../../loadtest/sim/run.js';
import { loadScenario } from '../../loadtest/sim/scenario.js';
import { simulationReport } from '../../loadtest/sim/sim-report.js';
import { countColouredPixels, decodePng } from './png.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (!CHROMIUM)
  console.warn('report rendering test skipped: no Chromium (Debian package `chromium`) installed');

const dir = mkdtempSync(join(tmpdir(), 'sb-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function chromium(args: string[]): string {
  return execFileSync(
    CHROMIUM!,
    ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', ...args],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 60_000,
    },
  );
}

/** Renders a page in headless Chromium; returns the coloured pixel count and the DOM's rendered flags. */
function render(name: string, html: string) {
  const page = join(dir, `${name}.html`);
  const png = join(dir, `${name}.png`);
  writeFileSync(page, html);
  chromium([`--screenshot=${png}`, '--window-size=1600,1500', `file://${page}`]);
  const dom = chromium(['--dump-dom', `file://${page}`]);
  const attr = (k: string) => Number(new RegExp(`${k}="(\\d+)"`).exec(dom)?.[1] ?? Number.NaN);
  return {
    coloured: countColouredPixels(decodePng(readFileSync(png))),
    rendered: attr('data-rendered'),
    charts: attr('data-charts'),
  };
}

describe('the self-contained HTML report', () => {
  it.skipIf(!CHROMIUM)('shows a simulated support desk day as drawn charts in headless Chromium', () => {
    const scenario = loadScenario(
      join(import.meta.dirname, '../../loadtest/scenarios/small-support-desk.json'),
    );
    const day = simulate(scenario);
    const full = simulationReport({ base: day });
    expect(full.charts.length).toBeGreaterThanOrEqual(4);
    expect(renderReport(full)).not.toMatch(/<script[^>]+src=|<link[^>]+href=|https?:\/\/(?!www\.w3\.org)/);

    // The same page with every series emptied: axes, titles and legends only — the "blank canvas" baseline.
    const blank = {
      ...full,
      charts: full.charts.map((c) => ({
        ...c,
        series: c.series.map((s) => ({ ...s, values: s.values.map(() => null) })),
      })),
    };
    const drawn = render('day', renderReport(full));
    const empty = render('blank', renderReport(blank));

    expect(drawn.charts).toBe(full.charts.length);
    expect(drawn.rendered).toBe(full.charts.length);
    expect(empty.rendered).toBe(0);
    // Lines and bars put thousands of coloured pixels on screen; an empty chart only its legend swatches.
    expect(drawn.coloured).toBeGreaterThan(10_000);
    expect(drawn.coloured).toBeGreaterThan(5 * empty.coloured);
  });
});

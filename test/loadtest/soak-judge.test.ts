import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  bucketMedians,
  bucketMinima,
  fitLine,
  judge,
  judgedWindow,
  parseMajorGc,
} from '../../loadtest/lib/soak-judge.js';

const spec = { key: 'heap', what: 'heap', unit: 'MB', tolerancePerHour: 30 };

describe('soak verdicts (loadtest/lib/soak-judge.ts)', () => {
  it('fits the slope of a line exactly, and of a noisy sawtooth around a flat level as about zero', () => {
    const line = Array.from({ length: 20 }, (_, i) => ({ t: i * 5, value: 100 + 0.5 * i * 5 }));
    expect(fitLine(line).slope).toBeCloseTo(0.5, 10);
    expect(fitLine(line).intercept).toBeCloseTo(100, 10);
    // A log that grows between snapshots and is trimmed at each one: flat on average.
    const saw = Array.from({ length: 120 }, (_, i) => ({ t: 300 + i * 5, value: 10 + (i % 4) * 2 }));
    expect(Math.abs(fitLine(saw).slope * 3600)).toBeLessThan(30);
    expect(fitLine([]).slope).toBe(0);
    expect(fitLine([{ t: 1, value: 5 }]).slope).toBe(0);
  });

  it('passes a flat series and fails one growing faster than the tolerance, per minute and per 1 000 conversations', () => {
    const flat = Array.from({ length: 60 }, (_, i) => ({ t: 300 + i * 5, value: 50 + (i % 2) * 0.5 }));
    const ok = judge(spec, flat, 100);
    expect(ok.pass).toBe(true);
    expect(ok.reason).toBeNull();
    // 1 MB per minute = 60 MB/h, twice the tolerance; at 100 conversations/s, 1/6 MB per 1 000.
    const growing = Array.from({ length: 60 }, (_, i) => ({ t: 300 + i * 5, value: 50 + (i * 5) / 60 }));
    const bad = judge(spec, growing, 100);
    expect(bad.pass).toBe(false);
    expect(bad.perMinute).toBeCloseTo(1, 6);
    expect(bad.per1kConversations).toBeCloseTo(1 / 6, 6);
    expect(bad.reason).toContain('60.0 MB/h');
    // Nothing measured is nothing shown flat.
    expect(judge(spec, flat.slice(0, 2), 100).pass).toBe(false);
  });

  it('judges the second half, or from when the bounded state is full, and nothing when that leaves under a quarter', () => {
    expect(judgedWindow(600, 250)).toEqual([300, 600]);
    expect(judgedWindow(600, 400)).toEqual([400, 600]);
    expect(judgedWindow(600, 460)).toBeNull();
    expect(judgedWindow(600, null)).toBeNull();
  });

  it("reads the heap after a full GC from V8's --trace-gc lines, per isolate, and ignores the rest", () => {
    expect(
      parseMajorGc(
        '[9729:0x2b963ce0]      996 ms: Mark-Compact 154.8 (173.9) -> 132.1 (167.4) MB, 10.39 / 0.00 ms  (average mu = 0.842) finalize incremental marking via task; GC in old space requested',
      ),
    ).toEqual({ isolate: '0x2b963ce0', afterMb: 132.1 });
    expect(
      parseMajorGc(
        '[9729:0x7f00c4000000]    61234 ms: Mark-Compact (reduce) 12.5 (20.1) -> 9.8 (19.0) MB, 4.1 / 0.0 ms  (average mu = 0.9) memory reducer; GC in old space requested',
      ),
    ).toEqual({ isolate: '0x7f00c4000000', afterMb: 9.8 });
    expect(
      parseMajorGc('[9729:0x2b963ce0]  12 ms: Scavenge 4.1 (5.0) -> 3.2 (6.0) MB, 0.8 / 0.0 ms'),
    ).toBeNull();
    expect(parseMajorGc('{"level":30,"msg":"snapshot taken"}')).toBeNull();
  });
});

describe('bucketMinima', () => {
  it('keeps the lowest value of each bucket, so short spikes do not decide the slope', () => {
    const pts = [
      { t: 0, value: 170 },
      { t: 20, value: 240 },
      { t: 40, value: 171 },
      { t: 60, value: 172 },
      { t: 80, value: 235 },
      { t: 125, value: 169 },
    ];
    expect(bucketMinima(pts, 60)).toEqual([
      { t: 30, value: 170 },
      { t: 90, value: 172 },
      { t: 150, value: 169 },
    ]);
  });
});

describe('npm run soak (dist/loadtest/soak.js)', () => {
  const soak = join(import.meta.dirname, '../../dist/loadtest/soak.js');
  if (!existsSync(soak))
    console.warn(`[soak] the script check is SKIPPED: ${soak} missing (npm test builds it)`);
  it.skipIf(!existsSync(soak))(
    'lists its options and refuses a bad value before starting anything',
    async () => {
      const help = await promisify(execFile)(process.execPath, [soak, '--help']);
      for (const o of ['--minutes X', '--cluster', '--heap-mb-per-hour X', '--customer-limit N'])
        expect(help.stdout).toContain(o);
      const err = await promisify(execFile)(process.execPath, [soak, '--minutes', '0.1']).then(
        () => null,
        (e: { code: number; stderr: string }) => e,
      );
      expect(err?.code).toBe(2);
      expect(err?.stderr).toContain('--minutes must be a number ≥ 0.5 (got "0.1")');
    },
  );
});

describe('bucketMedians', () => {
  it('keeps the median of each bucket, so outliers either way do not decide the slope', () => {
    const pts = [
      { t: 0, value: 48 },
      { t: 10, value: 6 },
      { t: 20, value: 48.2 },
      { t: 60, value: 48.1 },
      { t: 70, value: 61 },
      { t: 80, value: 48.3 },
      { t: 90, value: 48.5 },
    ];
    expect(bucketMedians(pts, 60)).toEqual([
      { t: 30, value: 48 },
      { t: 90, value: 48.4 },
    ]);
  });
});

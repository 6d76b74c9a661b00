import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readServerTrace } from '../../loadtest/lib/call-trace.js';
import { CallTrace, monotonicOriginNs, trailingNumber } from './call-trace.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempFile = () => {
  const d = mkdtempSync(join(tmpdir(), 'sb-call-trace-test-'));
  dirs.push(d);
  return join(d, 'calls.trace');
};

describe('CallTrace (--trace-calls)', () => {
  it('takes the iteration number from the end of the conversation id', () => {
    expect(trailingNumber('ltabc123g-0000004711')).toBe(4711);
    expect(trailingNumber('chat-7')).toBe(7);
    expect(trailingNumber('no-digits-here')).toBe(-1);
    expect(trailingNumber('')).toBe(-1);
    // Longer than a double holds exactly: not an iteration number.
    expect(trailingNumber('x1234567890123456')).toBe(-1);
  });

  it('writes every kept call on the monotonic clock, in order, and counts what did not fit', () => {
    const file = tempFile();
    const t = new CallTrace(file, 2);
    const a = t.now();
    t.record('run-0000000001', a, a + 0.25);
    t.record('other', a + 1, a + 1.5);
    t.record('run-0000000003', a + 2, a + 3);
    t.write();
    expect(readFileSync(file, 'utf8').split('\n')[0]).toContain('dropped 1');
    const calls = readServerTrace(file);
    expect(calls.map((c) => c.iter)).toEqual([1, -1]);
    // 0.25 ms and 0.5 ms apart, in ns (to the rounding of a double of ~1e13 ns).
    expect(Math.abs(calls[0]!.answeredNs - calls[0]!.receivedNs - 250_000)).toBeLessThan(10);
    expect(Math.abs(calls[1]!.answeredNs - calls[1]!.receivedNs - 500_000)).toBeLessThan(10);
    // On process.hrtime's clock (CLOCK_MONOTONIC, the Go client's): the first call was just now.
    const nowNs = Number(process.hrtime.bigint());
    expect(calls[0]!.receivedNs).toBeLessThanOrEqual(nowNs);
    expect(nowNs - calls[0]!.receivedNs).toBeLessThan(5e9);
  });

  it('maps performance.now() onto CLOCK_MONOTONIC without the first-call skew', () => {
    const origin = monotonicOriginNs();
    const before = performance.now();
    const mono = Number(process.hrtime.bigint());
    const after = performance.now();
    // The hrtime reading lies between the two performance.now() readings, give or take 50 µs (an
    // unwarmed pair was 0.8 ms off here).
    expect(mono).toBeGreaterThanOrEqual(origin + before * 1e6 - 50_000);
    expect(mono).toBeLessThanOrEqual(origin + after * 1e6 + 50_000);
  });

  it('refuses a file that is not a call trace', () => {
    const file = tempFile();
    const t = new CallTrace(file);
    t.write();
    expect(readServerTrace(file)).toEqual([]);
    rmSync(file);
    expect(() => readServerTrace(file)).toThrow(/ENOENT/);
  });
});

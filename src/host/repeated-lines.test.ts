import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RepeatedLines } from './repeated-lines.js';

function recorder() {
  const lines: { level: string; fields: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, msg: string) =>
    lines.push({ level, fields, msg });
  return { lines, logger: { error: at('error'), warn: at('warn'), info: at('info') } as never };
}

describe('lines that come in floods', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('the first of a kind is logged at once; the rest of the window is one line saying how many, and over how many tenants', () => {
    const { lines, logger } = recorder();
    const r = new RepeatedLines(logger, 10_000);
    for (let i = 0; i < 500; i++) r.log('error', 'write ENOSPC', { i }, 'write failed', `t${i % 3}`);
    expect(lines).toEqual([{ level: 'error', fields: { i: 0 }, msg: 'write failed' }]);
    vi.advanceTimersByTime(10_000);
    expect(lines[1]).toEqual({
      level: 'error',
      fields: { i: 499, repeated: 499, windowSeconds: 10, tenants: 3 },
      msg: 'write failed',
    });
    // A quiet window ends the kind: its next line is a first again.
    vi.advanceTimersByTime(20_000);
    expect(lines).toHaveLength(2);
    r.log('error', 'write ENOSPC', { i: 500 }, 'write failed');
    expect(lines[2]).toEqual({ level: 'error', fields: { i: 500 }, msg: 'write failed' });
  });

  it('a new kind is never hidden behind another one', () => {
    const { lines, logger } = recorder();
    const r = new RepeatedLines(logger, 10_000);
    r.log('error', 'write ENOSPC', {}, 'write failed');
    r.log('error', 'write ENOSPC', {}, 'write failed');
    r.log('error', 'write EIO', { code: 'EIO' }, 'write failed');
    expect(lines.map((l) => l.fields)).toEqual([{}, { code: 'EIO' }]);
  });

  it('close says what is held back (a stopping node) and ends every kind', () => {
    const { lines, logger } = recorder();
    const r = new RepeatedLines(logger, 10_000);
    r.log('warn', 'k', {}, 'm');
    r.log('warn', 'k', {}, 'm');
    r.close();
    expect(lines[1]?.fields).toMatchObject({ repeated: 1 });
    vi.advanceTimersByTime(60_000);
    expect(lines).toHaveLength(2);
  });
});

import { describe, expect, it } from 'vitest';
import type { CommandEnvelope } from '../../engine/types.js';
import type { CommandLog, LogBatch } from '../ports.js';
import { LeaseFencedCommandLog } from './lease-fenced-log.js';

/** An in-memory log whose appends resolve when the test says so. */
class SlowLog implements CommandLog {
  readonly pending: (() => void)[] = [];
  appended = 0;
  append(_p: string, _c: CommandEnvelope[], expected: number): Promise<number> {
    return new Promise((resolve) => {
      this.pending.push(() => {
        this.appended++;
        resolve(expected + 1);
      });
    });
  }
  async *read(): AsyncIterable<LogBatch> {}
  async lastSeq(): Promise<number> {
    return 0;
  }
  async trim(): Promise<void> {}
  async close(): Promise<void> {}
}

const tick: CommandEnvelope = { id: 'req-1', at: 1, cmd: { type: 'tick' } };

describe('command log fenced by the partition lease', () => {
  it('refuses appends for a tenant whose lease this node does not hold', async () => {
    const log = new LeaseFencedCommandLog(new SlowLog(), { owns: (p) => p === 'acme' });
    await expect(log.append('globex', [tick], 0)).rejects.toMatchObject({ code: 'SB_ERR_NOT_OWNER' });
  });

  it('allows appends during a hand-over while the lease is still held, and drains them', async () => {
    const inner = new SlowLog();
    let handingOver = false;
    const log = new LeaseFencedCommandLog(inner, { owns: () => !handingOver, holdsLease: () => true });
    const a = log.append('acme', [tick], 0);
    handingOver = true;
    const b = log.append('acme', [tick], 1);
    let drained = false;
    const d = log.drain('acme').then(() => {
      drained = true;
    });
    // A whole macrotask turn (every pending microtask and timer-free callback ran): still waiting.
    const turn = () => new Promise((r) => setImmediate(r));
    await turn();
    expect(drained).toBe(false);
    expect(inner.pending).toHaveLength(2);
    // One append acknowledged, the other still in flight: still waiting.
    inner.pending[0]!();
    await a;
    await turn();
    expect(drained).toBe(false);
    // The last one acknowledged: drained.
    inner.pending[1]!();
    await Promise.all([b, d]);
    expect(drained).toBe(true);
    expect(inner.appended).toBe(2);
  });
});

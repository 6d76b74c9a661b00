import { describe, expect, it } from 'vitest';
import { ProgressWriter, progressBuffer, takeLastPosition } from './worker-progress.js';

describe('worker progress cells', () => {
  it('name the call, item and command a thread stood on, per slot, and read as idle once answered', () => {
    const buffer = progressBuffer(2);
    const w = new ProgressWriter(buffer);
    w.begin(1, 17);
    w.item(0);
    w.command(4);
    w.item(2);
    w.replaying(5, 3);
    expect(takeLastPosition(buffer, 1)).toEqual({ call: 17, item: 2, batch: 5, command: 3 });
    // Taken: the region is cleared for the replacement thread.
    expect(takeLastPosition(buffer, 1)).toBeNull();
    expect(takeLastPosition(buffer, 0)).toBeNull();
    w.begin(0, 18);
    w.item(1);
    w.command(0);
    w.end();
    expect(takeLastPosition(buffer, 0)).toBeNull();
  });

  it('record nothing for requests without a number, or without cells (the inline pool)', () => {
    const buffer = progressBuffer(1);
    const w = new ProgressWriter(buffer);
    w.begin(undefined, undefined);
    w.item(3);
    w.command(1);
    expect(takeLastPosition(buffer, 0)).toBeNull();
    const none = new ProgressWriter(undefined);
    none.begin(0, 1);
    none.item(0);
    none.command(0);
    none.end();
    expect(takeLastPosition(buffer, 5)).toBeNull();
  });
});

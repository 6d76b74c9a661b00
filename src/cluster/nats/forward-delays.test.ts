import { describe, expect, it } from 'vitest';
import { ForwardDelays } from './forward-delays.js';

describe('ForwardDelays', () => {
  it('measures a call’s delay against the fastest call from the same origin, whatever the clocks’ offset', () => {
    const d = new ForwardDelays(10_000);
    // Origin's clock an hour behind: `now − sent` is an hour plus the transit.
    const offset = 3_600_000;
    expect(d.excess('b', 1000, 1000 + offset + 2)).toBe(0); // first call: the reference
    expect(d.excess('b', 2000, 2000 + offset + 1)).toBe(0); // faster: the new reference
    expect(d.excess('b', 3000, 3000 + offset + 3)).toBe(2);
    // Held back 600 ms (an owner stopped): 600 ms more than the fastest.
    expect(d.excess('b', 4000, 4000 + offset + 601)).toBe(600);
    // An origin whose clock runs ahead: its own reference.
    expect(d.excess('c', 10_000_000, 5000)).toBe(0);
    expect(d.excess('c', 10_000_500, 5500 + 700)).toBe(700);
  });

  it('keeps the minimum over one to two windows, then learns a larger offset', () => {
    const d = new ForwardDelays(1000);
    expect(d.excess('b', 0, 10)).toBe(0);
    // Next window: the previous minimum still counts.
    expect(d.excess('b', 1000, 1000 + 510)).toBe(500);
    // A window later the 10 ms minimum is gone: the offset grew to 500 (the origin was suspended).
    expect(d.excess('b', 2100, 2100 + 500)).toBe(0);
    expect(d.excess('b', 2200, 2200 + 505)).toBe(5);
  });

  it('judges nothing after two windows without a call (this node may have been stopped that long)', () => {
    const d = new ForwardDelays(1000);
    expect(d.excess('b', 0, 1)).toBe(0);
    expect(d.excess('b', 100, 5000)).toBe(0);
    expect(d.excess('b', 5000, 5100)).toBe(0); // 100 < 4900: the new minimum
  });
});

/**
 * Sliding-window counters in fixed buckets: O(1) per sample, O(expired buckets) to advance, constant
 * memory per queue. The window is `BUCKETS` buckets of `windowMs / BUCKETS`; a sample counts until its
 * bucket is `BUCKETS` buckets old, so the window is exact to one bucket (1 min for a 1 h window).
 */
export const BUCKETS = 60;

/** Field offsets inside a bucket. */
export const F = {
  answered: 0,
  answeredInThreshold: 1,
  waitSumMs: 2,
  abandoned: 3,
  abandonedAfterThreshold: 4,
  /**
   * Unused since the abandonment rate is abandoned ÷ (answered + abandoned): arrivals are no longer
   * sampled. The slot stays, as snapshots store the cells positionally (an older snapshot's arrival
   * samples just age out).
   */
  inbound: 5,
  handled: 6,
  handleSumMs: 7,
} as const;
const FIELDS = 8;

export class SlidingWindow {
  readonly bucketMs: number;
  /** Ring of BUCKETS × FIELDS counters; empty until the first sample (idle queues cost nothing). */
  cells: number[] = [];
  sums: number[] = new Array(FIELDS).fill(0);
  /** Absolute index (time / bucketMs) of the newest bucket. */
  head = 0;
  /** Non-zero buckets exist (lets the engine skip idle queues on tick). */
  nonEmpty = false;

  constructor(windowMs: number) {
    this.bucketMs = Math.max(1, Math.floor(windowMs / BUCKETS));
  }

  /** Moves the window to `now`, dropping buckets that fell out. Returns true if any sum changed. */
  advance(now: number): boolean {
    return this.advanceTo(now) !== null;
  }

  /**
   * `advance`, returning when the oldest sample it dropped was due to leave (= `nextExpiry()` before the
   * call), or null when it dropped none: the caller keeping the earliest expiry of several windows
   * (`Partition.slaNextAt`) must look again only when that was the earliest.
   */
  advanceTo(now: number): number | null {
    const idx = Math.floor(now / this.bucketMs);
    if (idx <= this.head) return null;
    let dropped: number | null = null;
    if (this.nonEmpty) {
      const steps = Math.min(BUCKETS, idx - this.head);
      for (let s = 1; s <= steps; s++) {
        const slot = ((this.head + s) % BUCKETS) * FIELDS;
        for (let f = 0; f < FIELDS; f++) {
          const v = this.cells[slot + f]!;
          if (v !== 0) {
            this.sums[f]! -= v;
            this.cells[slot + f] = 0;
            // Bucket head + s − BUCKETS, the oldest one still holding samples: it left at (head + s) × bucketMs.
            if (dropped === null) dropped = (this.head + s) * this.bucketMs;
          }
        }
      }
      if (this.sums.every((v) => v === 0)) this.nonEmpty = false;
    }
    this.head = idx;
    return dropped;
  }

  /**
   * Adds `v` to `field` in the bucket of `now`, moving the window there first: returns what that move
   * dropped (`advanceTo`), so the earliest expiry the partition keeps stays exact.
   */
  add(now: number, field: number, v: number): number | null {
    const dropped = this.advanceTo(now);
    if (this.cells.length === 0) this.cells = new Array(BUCKETS * FIELDS).fill(0);
    const slot = (this.head % BUCKETS) * FIELDS;
    this.cells[slot + field]! += v;
    this.sums[field]! += v;
    this.nonEmpty = true;
    return dropped;
  }

  /** When the oldest sample leaves the window (null when empty). */
  nextExpiry(): number | null {
    if (!this.nonEmpty) return null;
    for (let k = this.head - BUCKETS + 1; k <= this.head; k++) {
      const slot = (((k % BUCKETS) + BUCKETS) % BUCKETS) * FIELDS;
      for (let f = 0; f < FIELDS; f++) {
        if (this.cells[slot + f] !== 0) return (k + BUCKETS) * this.bucketMs;
      }
    }
    return null;
  }

  /** Sums as they would be at `at` (read-only; for queries ahead of the engine's time). */
  sumsAt(at: number): number[] {
    const idx = Math.floor(at / this.bucketMs);
    if (idx <= this.head || !this.nonEmpty) return this.sums;
    const out = this.sums.slice();
    const steps = Math.min(BUCKETS, idx - this.head);
    for (let s = 1; s <= steps; s++) {
      const slot = ((this.head + s) % BUCKETS) * FIELDS;
      for (let f = 0; f < FIELDS; f++) out[f]! -= this.cells[slot + f]!;
    }
    return out;
  }
}

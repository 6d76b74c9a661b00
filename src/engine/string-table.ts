/**
 * A string-keyed map kept in insertion order (like `Map`), for the partition's big tables
 * (conversations, customers: up to millions of entries).
 *
 * Why not `Map`: V8's ordered hash table chains entries from buckets and compares keys by reading each
 * candidate key string, so looking up an ABSENT key (every new conversation id, every first-time
 * customer) visits a bucket, ~1-2 chained entries and their key strings — several cache and TLB misses
 * each at 10⁶ entries. Here the index is an open-addressing table of (32-bit hash, entry) pairs in one
 * Int32Array: an absent key usually costs one cache line, and a present one that line plus its entry.
 *
 *   index: [h0 e0+1 | h1 e1+1 | 0 0 | …]   linear probing, backward-shift deletion (no tombstones)
 *   kv: [key0, value0, key1, value1, …] entries in insertion order (key and value share a cache line);
 *       a deleted entry leaves a null key until compaction
 *
 * Compaction (entries renumbered, index rebuilt) runs when deleted entries outnumber live ones: O(n),
 * amortised O(1) per delete, the same trade V8 makes when it rehashes.
 */
import { hashString } from './memo.js';

export class StringTable<V> {
  /** Entry e: key at 2e (null once deleted), value at 2e + 1. */
  private kv: (string | V | null | undefined)[] = [];
  /** Entries ever appended since the last compaction (live + deleted). */
  private n = 0;
  /**
   * Pairs [hash, entry + 1]; entry + 1 = 0 marks an empty slot. At most 60 % of the slots are used:
   * linear probing then averages under 4 slots (one cache line) for an absent key.
   */
  private index = new Int32Array(64);
  private mask = 31;
  private live = 0;
  /** No live entry precedes this one (the oldest is found from here). */
  private first = 0;

  /** `minDead`: deleted entries tolerated before compaction is considered (small in tests). */
  constructor(
    private readonly minDead = 1024,
    private readonly seed = 0,
  ) {}

  get size(): number {
    return this.live;
  }

  /** Slot of `k` in the index, or -1. */
  private slotOf(k: string, h: number): number {
    const index = this.index;
    const mask = this.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const e = index[2 * i + 1]!;
      if (e === 0) return -1;
      if (index[2 * i] === h && this.kv[2 * (e - 1)] === k) return i;
    }
  }

  get(k: string): V | undefined {
    const i = this.slotOf(k, hashString(k, this.seed));
    return i < 0 ? undefined : (this.kv[2 * this.index[2 * i + 1]! - 1] as V);
  }

  has(k: string): boolean {
    return this.slotOf(k, hashString(k, this.seed)) >= 0;
  }

  /** Sets the value; a new key goes last, an existing one keeps its place (as `Map.set`). */
  set(k: string, v: V): this {
    const h = hashString(k, this.seed);
    const i = this.slotOf(k, h);
    if (i >= 0) {
      this.kv[2 * this.index[2 * i + 1]! - 1] = v;
      return this;
    }
    if ((this.live + 1) * 5 > (this.mask + 1) * 3) this.reindex((this.mask + 1) * 2);
    this.kv.push(k, v);
    this.n++;
    this.live++;
    this.place(h, this.n);
    return this;
  }

  delete(k: string): boolean {
    const i = this.slotOf(k, hashString(k, this.seed));
    if (i < 0) return false;
    const e = this.index[2 * i + 1]! - 1;
    this.kv[2 * e] = null;
    this.kv[2 * e + 1] = undefined;
    this.live--;
    this.unplace(i);
    const dead = this.n - this.live;
    if (dead > this.minDead && dead > this.live) this.compact();
    return true;
  }

  /**
   * Entry number of `k`, or -1. An entry number stays valid for its key until the key is deleted or the
   * table compacts; `keyAt` tells whether a remembered number still holds the key.
   */
  entryOf(k: string): number {
    const i = this.slotOf(k, hashString(k, this.seed));
    return i < 0 ? -1 : this.index[2 * i + 1]! - 1;
  }

  /** Entry number of the last key appended by `set`. */
  get lastEntry(): number {
    return this.n - 1;
  }

  keyAt(e: number): string | null {
    return e >= 0 && e < this.n ? (this.kv[2 * e] as string | null) : null;
  }

  valueAt(e: number): V {
    return this.kv[2 * e + 1] as V;
  }

  setValueAt(e: number, v: V): void {
    this.kv[2 * e + 1] = v;
  }

  /** The oldest key (first inserted among the live ones), or undefined when empty. */
  oldest(): string | undefined {
    const kv = this.kv;
    let f = this.first;
    while (f < this.n && kv[2 * f] === null) f++;
    this.first = f;
    return f < this.n ? (kv[2 * f] as string) : undefined;
  }

  /** Live values in insertion order. The table must not change during the iteration. */
  *values(): IterableIterator<V> {
    const kv = this.kv;
    for (let e = this.first; e < this.n; e++) if (kv[2 * e] !== null) yield kv[2 * e + 1] as V;
  }

  /** Live [key, value] pairs in insertion order. The table must not change during the iteration. */
  *entries(): IterableIterator<[string, V]> {
    const kv = this.kv;
    for (let e = this.first; e < this.n; e++) {
      const k = kv[2 * e];
      if (k !== null) yield [k as string, kv[2 * e + 1] as V];
    }
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries();
  }

  private place(h: number, entryPlusOne: number): void {
    const index = this.index;
    const mask = this.mask;
    let i = h & mask;
    while (index[2 * i + 1] !== 0) i = (i + 1) & mask;
    index[2 * i] = h;
    index[2 * i + 1] = entryPlusOne;
  }

  /** Empties slot `i`, shifting later members of its probe run back so lookups never stop early. */
  private unplace(i: number): void {
    const index = this.index;
    const mask = this.mask;
    for (let j = (i + 1) & mask; index[2 * j + 1] !== 0; j = (j + 1) & mask) {
      const home = index[2 * j]! & mask;
      // j's entry may fill the hole at i unless its home lies cyclically in (i, j].
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        index[2 * i] = index[2 * j]!;
        index[2 * i + 1] = index[2 * j + 1]!;
        i = j;
      }
    }
    index[2 * i] = 0;
    index[2 * i + 1] = 0;
  }

  /**
   * Grows the index, re-placing the (hash, entry) pairs of the old one: no key is read or hashed again,
   * so growing a table of 10⁶ keys is one sequential pass instead of 10⁶ cache misses.
   */
  private reindex(slots: number, remap: Int32Array | null = null): void {
    const old = this.index;
    this.index = new Int32Array(slots * 2);
    this.mask = slots - 1;
    for (let i = 0; i < old.length; i += 2) {
      const e = old[i + 1]!;
      if (e !== 0) this.place(old[i]!, remap === null ? e : remap[e - 1]!);
    }
  }

  /** Drops deleted entries (renumbering the rest) and re-places the index pairs under the new numbers. */
  private compact(): void {
    const kv: (string | V | null | undefined)[] = [];
    const remap = new Int32Array(this.n);
    for (let e = this.first; e < this.n; e++) {
      if (this.kv[2 * e] === null) continue;
      kv.push(this.kv[2 * e], this.kv[2 * e + 1]);
      remap[e] = kv.length / 2;
    }
    this.kv = kv;
    this.n = kv.length / 2;
    this.first = 0;
    this.reindex(this.mask + 1, remap);
  }
}

/**
 * Counts the live keys below a key: a multiset of integers with O(log n) add, remove and rank. The keys are
 * one queue level's `Conv.qord`s, so a waiting customer's place in line is exact however many leave
 * behind or ahead of them (a counter of removals cannot tell the two apart).
 *
 * Keys are grouped in blocks of BLOCK consecutive values. A block with live keys holds them in a
 * sorted array (a FIFO line appends at one end and removes at the other, so the usual insert and delete
 * touch the array's ends), and a Fenwick tree over block numbers counts the keys of all blocks. The tree
 * spans a window of block numbers, moved or widened when a key falls outside it. Memory therefore follows
 * the live keys, not the spread of their values: a line where one customer waited a week while millions
 * passed costs one extra block and a tree over (span ÷ 1024) numbers.
 *
 * The window is a cache: which keys are live is the whole state, so two counters given the same keys in
 * any order answer alike (a restored engine's counter equals the original's).
 */
const BLOCK = 1024;
/** Spare block numbers left below the lowest live block when the window is rebuilt (front re-joins). */
const LOW_SLACK = 8;

export class RankCounter {
  /** Live keys. */
  size = 0;
  private readonly blocks = new Map<number, number[]>();
  /** Block number of tree slot 1. */
  private base = 0;
  /** Fenwick tree over block counts, 1-based; length = capacity + 1. */
  private tree = new Int32Array(1);

  add(key: number): void {
    const b = blockOf(key);
    let keys = this.blocks.get(b);
    if (!keys) {
      keys = [];
      this.blocks.set(b, keys);
    }
    if (keys.length === 0 || keys[keys.length - 1]! <= key) keys.push(key);
    else keys.splice(lowerBound(keys, key), 0, key);
    this.size++;
    if (b < this.base || b >= this.base + this.tree.length - 1) this.rebuild(b);
    else this.bump(b - this.base + 1, 1);
  }

  /** Removes one occurrence of `key` (which must be live). */
  remove(key: number): void {
    const b = blockOf(key);
    const keys = this.blocks.get(b);
    const i = keys ? lowerBound(keys, key) : -1;
    if (!keys || keys[i] !== key) throw new Error(`rank counter: key ${key} is not live`);
    if (i === 0) keys.shift();
    else keys.splice(i, 1);
    if (keys.length === 0) this.blocks.delete(b);
    this.size--;
    this.bump(b - this.base + 1, -1);
  }

  /** Live keys strictly below `key`. */
  below(key: number): number {
    if (this.size === 0) return 0;
    const b = blockOf(key);
    const keys = this.blocks.get(b);
    const inBlock = keys ? lowerBound(keys, key) : 0;
    const cap = this.tree.length - 1;
    let i = Math.min(b - this.base, cap);
    if (i <= 0) return inBlock;
    let n = inBlock;
    for (; i > 0; i -= i & -i) n += this.tree[i]!;
    return n;
  }

  /** The smallest live key; the counter must not be empty. */
  min(): number {
    let lo = Number.POSITIVE_INFINITY;
    // The lowest non-empty block, found through the tree: its first slot whose prefix count is > 0.
    const cap = this.tree.length - 1;
    let pos = 0;
    let rest = 0;
    for (let step = highestPowerOfTwo(cap); step > 0; step >>= 1) {
      const next = pos + step;
      if (next <= cap && rest + this.tree[next]! === 0) {
        pos = next;
        rest += this.tree[next]!;
      }
    }
    const keys = this.blocks.get(this.base + pos);
    if (keys && keys.length > 0) lo = keys[0]!;
    if (lo === Number.POSITIVE_INFINITY) throw new Error('rank counter: empty');
    return lo;
  }

  private bump(slot: number, d: number): void {
    const cap = this.tree.length - 1;
    for (let i = slot; i <= cap; i += i & -i) this.tree[i]! += d;
  }

  /** A window holding every live block and `b`, twice as wide as they span: O(capacity + blocks). */
  private rebuild(b: number): void {
    let lo = b;
    let hi = b;
    for (const k of this.blocks.keys()) {
      if (k < lo) lo = k;
      if (k > hi) hi = k;
    }
    const span = hi - lo + 1;
    const cap = nextPowerOfTwo(Math.max(64, 2 * span + LOW_SLACK));
    this.base = lo - LOW_SLACK;
    const tree = new Int32Array(cap + 1);
    for (const [k, keys] of this.blocks) tree[k - this.base + 1] = keys.length;
    // Linear-time Fenwick build: each slot passes its total to its parent.
    for (let i = 1; i <= cap; i++) {
      const parent = i + (i & -i);
      if (parent <= cap) tree[parent]! += tree[i]!;
    }
    this.tree = tree;
  }
}

/** Division, not a shift: a level's keys count every arrival of a partition's life and outgrow 32 bits. */
function blockOf(key: number): number {
  return Math.floor(key / BLOCK);
}

function lowerBound(a: readonly number[], key: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

function highestPowerOfTwo(n: number): number {
  let p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

/**
 * Indexed binary min-heap: every item knows its own slot (via `getPos`/`setPos`), so `remove` and
 * `update` of an arbitrary item are O(log n) with no side map.
 *
 * Invariant: `items[i]` is never ordered after `items[(i - 1) >> 1]` by `before`, and
 * `getPos(items[i]) === i`; an item outside the heap has position -1.
 *
 * `before` must be a strict total order (ties broken by a unique sequence number) so that the order in
 * which items were pushed never shows in what `peek`, `findFirst` or `findTop` return — that is what makes
 * heaps rebuilt from a snapshot decide exactly like the originals.
 */
export class IndexedHeap<T> {
  readonly items: T[] = [];

  constructor(
    private readonly before: (a: T, b: T) => boolean,
    private readonly getPos: (x: T) => number,
    private readonly setPos: (x: T, i: number) => void,
  ) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  has(x: T): boolean {
    const i = this.getPos(x);
    return i >= 0 && this.items[i] === x;
  }

  push(x: T): void {
    const items = this.items;
    items.push(x);
    this.setPos(x, items.length - 1);
    this.up(items.length - 1);
  }

  pop(): T | undefined {
    const items = this.items;
    if (items.length === 0) return undefined;
    const top = items[0]!;
    this.removeAt(0);
    return top;
  }

  remove(x: T): boolean {
    const i = this.getPos(x);
    if (i < 0 || this.items[i] !== x) return false;
    this.removeAt(i);
    return true;
  }

  /** Restores the order after `x`'s key changed (either direction). */
  update(x: T): void {
    const i = this.getPos(x);
    if (i < 0) return;
    if (!this.up(i)) this.down(i);
  }

  /** Re-establishes the heap after many keys changed at once (O(n)). */
  rebuild(): void {
    const items = this.items;
    for (let i = 0; i < items.length; i++) this.setPos(items[i]!, i);
    for (let i = (items.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  /**
   * The first item in heap order that satisfies `pred`, examining at most `limit` items (best-first walk
   * of the tree). O(1) when the top matches; O(limit · log limit) otherwise.
   */
  findFirst(pred: (x: T) => boolean, limit: number): T | undefined {
    const items = this.items;
    if (items.length === 0) return undefined;
    if (pred(items[0]!)) return items[0];
    const found = this.walk(pred, 1, limit);
    return found.length > 0 ? found[0] : undefined;
  }

  /** Up to `n` items in heap order satisfying `pred`, examining at most `limit` items. */
  findTop(pred: (x: T) => boolean, n: number, limit: number): T[] {
    if (this.items.length === 0 || n <= 0) return [];
    return this.walk(pred, n, limit);
  }

  private walk(pred: (x: T) => boolean, n: number, limit: number): T[] {
    const items = this.items;
    const out: T[] = [];
    // Frontier of slot indexes, itself a small heap ordered by the items they hold.
    const frontier: number[] = [0];
    const less = (a: number, b: number) => this.before(items[a]!, items[b]!);
    let examined = 0;
    while (frontier.length > 0 && examined < limit && out.length < n) {
      const i = frontier[0]!;
      const last = frontier.pop()!;
      if (frontier.length > 0) {
        frontier[0] = last;
        siftDownIdx(frontier, 0, less);
      }
      examined++;
      if (pred(items[i]!)) out.push(items[i]!);
      const l = 2 * i + 1;
      if (l < items.length) {
        frontier.push(l);
        siftUpIdx(frontier, frontier.length - 1, less);
      }
      if (l + 1 < items.length) {
        frontier.push(l + 1);
        siftUpIdx(frontier, frontier.length - 1, less);
      }
    }
    return out;
  }

  private removeAt(i: number): void {
    const items = this.items;
    const x = items[i]!;
    const last = items.pop()!;
    this.setPos(x, -1);
    if (i < items.length) {
      items[i] = last;
      this.setPos(last, i);
      if (!this.up(i)) this.down(i);
    }
  }

  private up(i: number): boolean {
    const items = this.items;
    const x = items[i]!;
    let moved = false;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p]!;
      if (!this.before(x, parent)) break;
      items[i] = parent;
      this.setPos(parent, i);
      i = p;
      moved = true;
    }
    if (moved) {
      items[i] = x;
      this.setPos(x, i);
    }
    return moved;
  }

  private down(i: number): void {
    const items = this.items;
    const n = items.length;
    const x = items[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && this.before(items[r]!, items[l]!)) c = r;
      if (!this.before(items[c]!, x)) break;
      items[i] = items[c]!;
      this.setPos(items[i]!, i);
      i = c;
    }
    items[i] = x;
    this.setPos(x, i);
  }
}

function siftUpIdx(h: number[], i: number, less: (a: number, b: number) => boolean): void {
  const x = h[i]!;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (!less(x, h[p]!)) break;
    h[i] = h[p]!;
    i = p;
  }
  h[i] = x;
}

function siftDownIdx(h: number[], i: number, less: (a: number, b: number) => boolean): void {
  const n = h.length;
  const x = h[i]!;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= n) break;
    const r = l + 1;
    let c = l;
    if (r < n && less(h[r]!, h[l]!)) c = r;
    if (!less(h[c]!, x)) break;
    h[i] = h[c]!;
    i = c;
  }
  h[i] = x;
}

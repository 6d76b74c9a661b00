/**
 * The waiting line of one priority level in one lane, ordered by (enqueuedAt, seq).
 *
 * Almost every conversation joins at the back (it just arrived, so it is the youngest and has the highest
 * seq) and leaves from the front, so the line is a FIFO array with O(1) push and O(1) removal at the head.
 * The few that re-join out of order (an offer was rejected and the conversation keeps its age, an overflow
 * step moved it to the next lane, a queue was rebuilt) go to a small side heap. The front of the line is
 * the smaller of the FIFO head and the heap top.
 *
 *   fifo:  [ ✗ ✗ c7 ✗ c9 c12 … ]     ✗ = left from the middle (cancelled, moved): skipped lazily
 *              ^head
 *   side:  heap { c3, c8 }           out-of-order re-joins
 *
 * Invariant: the live FIFO entries are in increasing (enqueuedAt, seq) order; `c.fpos` is the absolute
 * FIFO index of a conversation in the FIFO (else -1), `c.hpos` its slot in the side heap (else -1).
 */
import { IndexedHeap } from './heap.js';
import type { Conv } from './model.js';

/** Age order (enqueuedAt, then seq) as heap keys: the line's side heap, and the WaitSet's heaps. */
export const AGE_ORDER = { k1: (c: Conv) => c.enqueuedAt, k2: (c: Conv) => c.seq, tie: (c: Conv) => c.seq };

/** A FIFO shorter than this is never compacted in `remove` (not worth a pass). */
const COMPACT_MIN = 1024;

function before(a: Conv, b: Conv): boolean {
  return a.enqueuedAt < b.enqueuedAt || (a.enqueuedAt === b.enqueuedAt && a.seq < b.seq);
}

/** `before` as a comparator, for sorting conversations into line order (listings). */
export function lineOrder(a: Conv, b: Conv): number {
  return a.enqueuedAt - b.enqueuedAt || a.seq - b.seq;
}

/**
 * Items of the binary min-heap `items` (ordered by enqueuedAt first) in the subtree at `i` that joined
 * before `cutoff` and are still to be answered (see `countPast`): a subtree whose root joined at or after
 * it holds none, so the walk costs what it passes.
 */
export function countBefore(items: readonly Conv[], i: number, cutoff: number): number {
  if (i >= items.length) return 0;
  const c = items[i]!;
  if (c.enqueuedAt >= cutoff) return 0;
  return (c.answered ? 0 : 1) + countBefore(items, 2 * i + 1, cutoff) + countBefore(items, 2 * i + 2, cutoff);
}

export class WaitLine {
  private fifo: (Conv | null)[] = [];
  /** enqueuedAt / seq of the FIFO entries (plain number arrays: unboxed, contiguous). */
  private fifoAt: number[] = [];
  private fifoSeq: number[] = [];
  /**
   * Place numbers (`qord`) of the FIFO entries, so `firstNotAheadQord` reads no conversation record (at
   * 10⁵ waiting each read is a cache miss, and a position asks one per priority level).
   */
  private fifoQord: number[] = [];
  /** Conversations in the line with ad-hoc skills or excluded agents (lazy search needed when > 0). */
  constrained = 0;
  /**
   * Conversations in the line already `answered` (transferred back into their queue; rare). While there
   * are none, `countPast` counts FIFO entries without reading the conversations themselves.
   */
  private answered = 0;
  /** Key of the conversation `peek` returned: lets callers order heads without touching the objects. */
  frontAt = 0;
  frontSeq = 0;
  /** Absolute index of fifo[0]. */
  private base = 0;
  private head = 0;
  private live = 0;
  /**
   * Waiting past the service-level threshold (`countPast`): `past` = the live FIFO entries before
   * `cursor` (an absolute index) that are not `answered`. The FIFO is in enqueuedAt order and the cutoff (now − threshold) only
   * grows, so the cursor only moves forward and each entry is passed once; a counted entry that leaves
   * is subtracted in `remove`. Derived from the line and the clock, so not part of a snapshot.
   */
  private cursor = 0;
  private past = 0;
  /** Key of the last conversation appended to the FIFO (the FIFO's maximum). */
  private tailAt = Number.NEGATIVE_INFINITY;
  private tailSeq = 0;
  private readonly side = new IndexedHeap<Conv>(
    AGE_ORDER,
    (c) => c.hpos,
    (c, i) => {
      c.hpos = i;
    },
  );

  get size(): number {
    return this.live + this.side.size;
  }

  push(c: Conv): void {
    if (c.adHoc !== null || c.excluded !== null) this.constrained++;
    if (c.answered) this.answered++;
    if (c.enqueuedAt > this.tailAt || (c.enqueuedAt === this.tailAt && c.seq > this.tailSeq)) {
      c.fpos = this.base + this.fifo.length;
      this.fifo.push(c);
      this.fifoAt.push(c.enqueuedAt);
      this.fifoSeq.push(c.seq);
      this.fifoQord.push(c.qord);
      this.live++;
      this.tailAt = c.enqueuedAt;
      this.tailSeq = c.seq;
    } else {
      this.side.push(c);
    }
  }

  remove(c: Conv): void {
    if (c.adHoc !== null || c.excluded !== null) this.constrained--;
    if (c.answered) this.answered--;
    if (c.fpos >= 0) {
      this.fifo[c.fpos - this.base] = null;
      if (c.fpos < this.cursor && !c.answered) this.past--;
      c.fpos = -1;
      this.live--;
      if (this.live === 0) {
        // Empty: start a fresh array (and accept any key at the back again).
        this.base += this.fifo.length;
        this.cursor = this.base;
        this.past = 0;
        this.fifo = [];
        this.fifoAt = [];
        this.fifoSeq = [];
        this.fifoQord = [];
        this.head = 0;
        this.tailAt = Number.NEGATIVE_INFINITY;
        this.tailSeq = 0;
      } else if (this.fifo.length >= COMPACT_MIN && this.live * 4 <= this.fifo.length) {
        this.compact();
      }
    } else {
      this.side.remove(c);
    }
  }

  /**
   * Drops the holes of a FIFO that is mostly holes: conversations left from behind a front that stays
   * (one nobody can take yet while later ones are taken, or one ringing for long in a line that is never
   * peeked), which `fifoHead` cannot drop. O(FIFO length), run when ≥ ¾ of it is holes, each made by one
   * removal since the last compaction: amortised O(1) per removal. Keeps `base` (positions stay absolute
   * indexes) and the past-threshold cursor (the live entries before it stay before it).
   */
  private compact(): void {
    const f = this.fifo;
    const at = this.fifoAt;
    const sq = this.fifoSeq;
    const qo = this.fifoQord;
    const cur = this.cursor - this.base;
    let w = 0;
    let newCur = 0;
    for (let i = 0; i < f.length; i++) {
      const c = f[i];
      if (c === null || c === undefined) continue;
      if (i < cur) newCur = w + 1;
      c.fpos = this.base + w;
      f[w] = c;
      at[w] = at[i]!;
      sq[w] = sq[i]!;
      qo[w] = qo[i]!;
      w++;
    }
    f.length = w;
    at.length = w;
    sq.length = w;
    qo.length = w;
    this.head = 0;
    this.cursor = this.base + newCur;
  }

  private fifoHead(): Conv | null {
    const f = this.fifo;
    let h = this.head;
    while (h < f.length && f[h] === null) h++;
    if (h > 1024 && h * 2 > f.length) {
      this.fifo = f.slice(h);
      this.fifoAt = this.fifoAt.slice(h);
      this.fifoSeq = this.fifoSeq.slice(h);
      this.fifoQord = this.fifoQord.slice(h);
      this.base += h;
      h = 0;
    }
    this.head = h;
    return h < this.fifo.length ? this.fifo[h]! : null;
  }

  /** The conversation at the front of the line; its key is left in `frontAt` / `frontSeq`. */
  peek(): Conv | undefined {
    const a = this.fifoHead();
    const b = this.side.peek();
    if (b) {
      const bAt = this.side.topK1();
      const bSeq = this.side.topK2();
      if (
        !a ||
        bAt < this.fifoAt[this.head]! ||
        (bAt === this.fifoAt[this.head] && bSeq < this.fifoSeq[this.head]!)
      ) {
        this.frontAt = bAt;
        this.frontSeq = bSeq;
        return b;
      }
    }
    if (!a) return undefined;
    this.frontAt = this.fifoAt[this.head]!;
    this.frontSeq = this.fifoSeq[this.head]!;
    return a;
  }

  /**
   * How many conversations in the line joined it before `cutoff` (enqueuedAt < cutoff: waited longer than
   * the threshold, as the cutoff is now − threshold; one waiting exactly the threshold is within it), leaving
   * out those already `answered` in the queue (transferred back into it: their service level was
   * counted when they were answered; `answered` does not change while a conversation is in a line). With
   * `keep`, `cutoff` must not decrease from one such call to the next (it is the engine's now − the
   * queue's threshold; a threshold change rebuilds the lines): amortised O(1) for the FIFO, plus the side
   * heap (out-of-order re-joins: few). Without `keep` (a query, whose time may be ahead of the engine's
   * and must not change its state) the walk past the cursor is not kept.
   */
  countPast(cutoff: number, keep: boolean): number {
    const f = this.fifo;
    const at = this.fifoAt;
    let i = Math.max(this.cursor - this.base, this.head);
    let n = this.past;
    if (this.answered === 0) {
      // The usual line: the two arrays only (the FIFO slot says whether the entry is live).
      while (i < f.length && at[i]! < cutoff) {
        if (f[i] !== null) n++;
        i++;
      }
    } else {
      while (i < f.length && at[i]! < cutoff) {
        const c = f[i];
        if (c && !c.answered) n++;
        i++;
      }
    }
    if (keep) {
      this.cursor = this.base + i;
      this.past = n;
    }
    const side = this.side.items;
    if (side.length > 0) n += countBefore(side, 0, cutoff);
    return n;
  }

  /** First conversation in line order satisfying `pred`, looking at ≤ `limit` entries of each part. */
  findFirst(pred: (c: Conv) => boolean, limit: number): Conv | undefined {
    let a: Conv | undefined;
    if (this.fifoHead()) {
      const f = this.fifo;
      let seen = 0;
      for (let i = this.head; i < f.length && seen < limit; i++) {
        const c = f[i];
        if (!c) continue;
        seen++;
        if (pred(c)) {
          a = c;
          break;
        }
      }
    }
    const b = this.side.findFirst(pred, limit);
    if (!a) return b;
    if (!b) return a;
    return before(a, b) ? a : b;
  }

  /**
   * The first `limit` conversations of the line in line order: the FIFO from its head merged with the
   * side heap (sorted here: it holds the few out-of-order re-joins). O(limit + side), for listings.
   */
  firstInOrder(limit: number): Conv[] {
    return this.mergeFrom(this.head, this.side.items.slice().sort(lineOrder), limit);
  }

  /**
   * The first `limit` conversations of the line in line order after those `skip` accepts — `skip` takes an
   * entry's (enqueuedAt, seq) and must accept a prefix of the line order (e.g. "served before the
   * previous page's last conversation"): a binary search of the FIFO (its keys stay sorted, holes
   * included) and the side heap's entries past it. O(log FIFO + limit + side), for the pages after the
   * first.
   */
  inOrderAfter(limit: number, skip: (at: number, seq: number) => boolean): Conv[] {
    const side = this.side.items.filter((c) => !skip(c.enqueuedAt, c.seq)).sort(lineOrder);
    return this.mergeFrom(this.prefixEnd(skip), side, limit);
  }

  /** Up to `limit` conversations in line order: the FIFO from index `i` (holes skipped) merged with `side` (sorted). */
  private mergeFrom(i: number, side: readonly Conv[], limit: number): Conv[] {
    const f = this.fifo;
    const out: Conv[] = [];
    let j = 0;
    while (out.length < limit) {
      while (i < f.length && f[i] === null) i++;
      const a = i < f.length ? f[i]! : null;
      const b = j < side.length ? side[j]! : null;
      if (!a && !b) break;
      if (a && (!b || before(a, b))) {
        out.push(a);
        i++;
      } else {
        out.push(b!);
        j++;
      }
    }
    return out;
  }

  /**
   * The place number (`qord`) of the first conversation in line order that `ahead` does not accept
   * (`ahead` takes an entry's (enqueuedAt, seq) and accepts a prefix of the line order), or +∞ when it
   * accepts every one. A property of the conversations in the line, not of how they are laid out (FIFO
   * or side heap, holes or not: a restored line has none), so counts made from it replay alike.
   * O(log FIFO + holes skipped + side heap).
   */
  firstNotAheadQord(ahead: (at: number, seq: number) => boolean): number {
    const f = this.fifo;
    const side = this.side.items;
    if (side.length === 0) {
      if (this.live === 0) return Number.POSITIVE_INFINITY;
      // Fast paths from the key arrays: the newest is ahead (so all are), or the front is not.
      if (ahead(this.tailAt, this.tailSeq)) return Number.POSITIVE_INFINITY;
      this.fifoHead();
      const h = this.head;
      if (!ahead(this.fifoAt[h]!, this.fifoSeq[h]!)) return this.fifoQord[h]!;
    }
    let i = this.prefixEnd(ahead);
    while (i < f.length && f[i] === null) i++;
    let qord = Number.POSITIVE_INFINITY;
    let at = 0;
    let seq = 0;
    if (i < f.length) {
      qord = this.fifoQord[i]!;
      at = this.fifoAt[i]!;
      seq = this.fifoSeq[i]!;
    }
    for (const c of side) {
      const cAt = c.enqueuedAt;
      const first = qord === Number.POSITIVE_INFINITY || cAt < at || (cAt === at && c.seq < seq);
      if (first && !ahead(cAt, c.seq)) {
        qord = c.qord;
        at = cAt;
        seq = c.seq;
      }
    }
    return qord;
  }

  /** Index of the first FIFO entry from the head that `pred` (true on a prefix) does not accept. */
  private prefixEnd(pred: (at: number, seq: number) => boolean): number {
    let i = this.head;
    let hi = this.fifo.length;
    while (i < hi) {
      const mid = (i + hi) >>> 1;
      if (pred(this.fifoAt[mid]!, this.fifoSeq[mid]!)) i = mid + 1;
      else hi = mid;
    }
    return i;
  }

  /** Every conversation in the line (unordered). */
  all(): Conv[] {
    const out: Conv[] = [];
    for (let i = this.head; i < this.fifo.length; i++) {
      const c = this.fifo[i];
      if (c) out.push(c);
    }
    for (const c of this.side.items) out.push(c);
    return out;
  }
}

/**
 * The simulator's future: a binary min-heap of timed actions ordered by (time, insertion sequence), so
 * simultaneous actions run in the order they were scheduled and a run is reproducible.
 */

export type Action =
  | { kind: 'patience_ends'; conv: number }
  | { kind: 'handle_ends'; conv: number }
  | { kind: 'accept'; conv: number; agentId: string }
  | { kind: 'presence'; agentId: string; presence: 'online' | 'away' | 'offline' }
  | { kind: 'sample' };

interface Entry {
  at: number;
  seq: number;
  action: Action;
}

export class Timeline {
  private readonly heap: Entry[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  schedule(at: number, action: Action): void {
    const h = this.heap;
    h.push({ at, seq: this.seq++, action });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  /** Time of the next action, or +∞ when nothing is scheduled. */
  peekTime(): number {
    return this.heap.length > 0 ? this.heap[0]!.at : Number.POSITIVE_INFINITY;
  }

  pop(): { at: number; action: Action } | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/**
 * Best-first walk of a binary heap stored in an array, without popping anything: slots are visited in
 * heap order (smallest first) through a frontier that is itself a small heap of slot indexes. This is
 * the bounded lazy search both heaps offer (`findTop`/`topN` with a predicate and a limit).
 *
 * `less(i, j)` orders slots i and j of the heap; `take(slot)` looks at one slot and says whether it
 * counts. Stops after `limit` slots looked at or `count` taken.
 */
export function walkBestFirst(
  size: number,
  less: (i: number, j: number) => boolean,
  take: (slot: number) => boolean,
  count: number,
  limit: number,
): void {
  if (size === 0) return;
  const frontier: number[] = [0];
  let examined = 0;
  let taken = 0;
  while (frontier.length > 0 && examined < limit && taken < count) {
    const i = frontier[0]!;
    const last = frontier.pop()!;
    if (frontier.length > 0) {
      frontier[0] = last;
      siftDown(frontier, less);
    }
    examined++;
    if (take(i)) taken++;
    const l = 2 * i + 1;
    if (l < size) push(frontier, l, less);
    if (l + 1 < size) push(frontier, l + 1, less);
  }
}

function push(h: number[], x: number, less: (i: number, j: number) => boolean): void {
  let i = h.length;
  h.push(x);
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (!less(x, h[p]!)) break;
    h[i] = h[p]!;
    i = p;
  }
  h[i] = x;
}

function siftDown(h: number[], less: (i: number, j: number) => boolean): void {
  const n = h.length;
  const x = h[0]!;
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= n) break;
    let c = l;
    if (l + 1 < n && less(h[l + 1]!, h[l]!)) c = l + 1;
    if (!less(h[c]!, x)) break;
    h[i] = h[c]!;
    i = c;
  }
  h[i] = x;
}

/**
 * Where partitions go: rendezvous (highest-random-weight) hashing with bounded loads.
 *
 * Plain rendezvous hashing gives a partition to the live node with the highest score(node, partition).
 * When a node joins, only the partitions it now wins move to it (≈ 1/n of them); when one leaves, only its
 * own partitions move, each to its runner-up. No ring, no virtual nodes. (Thaler & Ravishankar, "Using
 * name-based mappings to increase hit rates", 1998.) But it has no bound on load: it is even over
 * thousands of partitions, and lopsided over a few dozen (20 tenants on 3 nodes: a node gets 10 or more
 * in 27 % of random tenant sets, 12 or more in 3.5 %), and a tenant is the unit of load.
 *
 * So the spread is bounded (consistent hashing with bounded loads: Mirrokni, Thorup & Zadimoghaddam,
 * SODA 2018, applied to rendezvous preference lists): each node takes at most
 * cap = ⌈c × partitions / nodes⌉ (c = {@link SPREAD_LOAD_FACTOR}); partitions are taken in a fixed order
 * (by a hash of their id) and each goes to the first node in its rendezvous preference order that still
 * has room. The assignment is a pure function of (the set of partitions, the set of nodes): every node
 * that sees the same sets computes the same owners, whatever order it learnt them in.
 */
import { createHash } from 'node:crypto';

/** 48-bit score from MD5 (not for security: only for an even, stable spread). */
export function score(nodeId: string, partition: string): number {
  const h = createHash('md5').update(nodeId).update('\0').update(partition).digest();
  return h.readUIntBE(0, 6);
}

/** The winning node for the partition, or null when there is none. Ties break by node id. */
export function rendezvousOwner(partition: string, nodes: Iterable<string>): string | null {
  let best: string | null = null;
  let bestScore = -1;
  for (const n of nodes) {
    const s = score(n, partition);
    if (s > bestScore || (s === bestScore && best !== null && n < best)) {
      best = n;
      bestScore = s;
    }
  }
  return best;
}

/**
 * c, as a fraction (exact integer arithmetic, the same on every node): a node takes at most
 * ⌈5/4 × partitions / nodes⌉. Measured with `node dist/loadtest/spread-sim.js` (random runs of tenant
 * creations, node joins and leaves; 3 and 10 nodes): 20 tenants on 3 nodes are capped at 9 (plain
 * rendezvous: up to 14), for ~1.25× the moves of plain rendezvous (joins and leaves ~1.1×, a rolling
 * upgrade 1.05–1.12×; a creation moves 0.3–0.45 existing tenants, plain none). c = 1.1 caps them at 8
 * for ~1.47× the moves (0.5–0.8 per creation), c = 1 at 7 for ~1.8× (~1–1.5 per creation). 1.25 takes
 * the tail off (no node with half the tenants) for the fewest extra hand-overs, each a short
 * UNAVAILABLE window for its tenant.
 */
export const SPREAD_LOAD_FACTOR = { num: 5, den: 4 } as const;

export interface LoadFactor {
  readonly num: number;
  readonly den: number;
}

/** The most partitions a node takes: ⌈c × partitions / nodes⌉ (0 without nodes). */
export function spreadCap(partitions: number, nodes: number, c: LoadFactor = SPREAD_LOAD_FACTOR): number {
  if (nodes <= 0) return 0;
  return Math.ceil((c.num * partitions) / (c.den * nodes));
}

/** Where a partition comes in the order partitions are placed: a hash of its id alone (48 bits). */
function orderKey(partition: string): number {
  return createHash('md5').update('\0order\0').update(partition).digest().readUIntBE(0, 6);
}

/**
 * Computes bounded-load assignments, caching what does not change between them: each partition's place
 * in the order, its score on each node (a node that joins costs one hash per partition, not the whole
 * table), and its first choice and (when that is full) its preference order over the current node set. One instance per node; `assign` is pure
 * (same sets in, same owners out).
 */
export class BoundedSpread {
  private nodesKey = '';
  private readonly prefs = new Map<string, string[]>();
  private readonly firsts = new Map<string, string>();
  private readonly order = new Map<string, number>();
  /** score(node, partition), by node then partition; nodes that left are dropped at the next change. */
  private readonly scores = new Map<string, Map<string, number>>();

  constructor(private readonly factor: LoadFactor = SPREAD_LOAD_FACTOR) {}

  /** Each partition's owner (none without nodes). Duplicates in either input are ignored. */
  assign(partitions: Iterable<string>, nodes: Iterable<string>): Map<string, string> {
    const ns = this.nodeSet(nodes);
    if (ns.length === 0) return new Map();
    const keyed = this.ordered(partitions);
    return this.place(keyed, ns, spreadCap(keyed.length, ns.length, this.factor));
  }

  /**
   * What `assign([...partitions, x], nodes).get(x)` answers, for any `x` not among `partitions`, without
   * placing every partition again for each `x` (a call naming a tenant no node knows yet: a stray id, or
   * a new tenant's first call). Placing the known partitions once, with the cap of one more, gives it:
   *
   * - the spread places partitions one by one in a fixed order, each by the loads of those placed before
   *   it, so the partitions before `x` in that order land exactly where they land without `x` (under the
   *   same cap); those after `x` do not matter to `x` (they may move, but only `x`'s owner is asked);
   * - with `x` there are P + 1 partitions: the cap is ⌈c × (P + 1) / nodes⌉, which is why the known ones
   *   are placed with that cap, not with the cap `assign(partitions)` uses (it may be one less);
   * - so `x` goes to the first node in its preference order whose load from the known partitions before
   *   `x` is below that cap: `x`'s place in the order by binary search, each node's load before it by
   *   binary search over the places of its partitions, `x`'s scores computed (not cached: a flood of
   *   stray ids must not grow the caches).
   *
   * O(P) once per view, then O(nodes × log P) per `x` instead of O(P) (`test/cluster/ownership.test.ts`
   * checks it against `assign` on random views; `loadtest/bench-desired-owner.ts` measures it).
   */
  oneMore(partitions: Iterable<string>, nodes: Iterable<string>): OneMorePlacement {
    const ns = this.nodeSet(nodes);
    const keyed = this.ordered(partitions);
    const cap = spreadCap(keyed.length + 1, ns.length, this.factor);
    const owners = ns.length === 0 ? new Map<string, string>() : this.place(keyed, ns, cap);
    const placed = new Map<string, number[]>(ns.map((n) => [n, []]));
    keyed.forEach(({ p }, i) => {
      const o = owners.get(p);
      if (o !== undefined) placed.get(o)?.push(i);
    });
    return new OneMorePlacement(keyed, ns, cap, placed);
  }

  /** The distinct nodes, sorted; the node-dependent caches are reset when the set changed. */
  private nodeSet(nodes: Iterable<string>): string[] {
    const ns = [...new Set(nodes)].sort();
    if (ns.length === 0) return ns;
    const key = ns.join('\0');
    if (key !== this.nodesKey) {
      this.nodesKey = key;
      this.prefs.clear();
      this.firsts.clear();
      for (const n of this.scores.keys()) if (!ns.includes(n)) this.scores.delete(n);
    }
    return ns;
  }

  /** The distinct partitions in the order they are placed: by `orderKey`, ties by id. */
  private ordered(partitions: Iterable<string>): Keyed[] {
    const ps = [...new Set(partitions)];
    // Partitions that left the view keep their cached entries until the caches outgrow it.
    if (this.order.size > 4 * ps.length + 1024) {
      this.order.clear();
      this.prefs.clear();
      this.firsts.clear();
      this.scores.clear();
    }
    const keyed = ps.map((p) => {
      let k = this.order.get(p);
      if (k === undefined) {
        k = orderKey(p);
        this.order.set(p, k);
      }
      return { p, k };
    });
    keyed.sort(byOrder);
    return keyed;
  }

  /** Places the partitions in order, each on the first node of its preference with fewer than `cap`. */
  private place(keyed: readonly Keyed[], ns: string[], cap: number): Map<string, string> {
    const out = new Map<string, string>();
    const load = new Map<string, number>();
    for (const { p } of keyed) {
      // Most partitions get their first choice: the full preference order is sorted only when it is full.
      const first = this.first(p, ns);
      const l = load.get(first) ?? 0;
      if (l < cap) {
        load.set(first, l + 1);
        out.set(p, first);
        continue;
      }
      for (const n of this.preference(p, ns)) {
        const l = load.get(n) ?? 0;
        if (l < cap) {
          load.set(n, l + 1);
          out.set(p, n);
          break;
        }
      }
    }
    return out;
  }

  /** The partition's first choice among the nodes (`rendezvousOwner`). */
  private first(partition: string, ns: string[]): string {
    let best = this.firsts.get(partition);
    if (best === undefined) {
      let bestScore = -1;
      for (const n of ns) {
        const s = this.score(n, partition);
        if (s > bestScore || (s === bestScore && best !== undefined && n < best)) {
          best = n;
          bestScore = s;
        }
      }
      this.firsts.set(partition, best as string);
    }
    return best as string;
  }

  /** The nodes by descending score for the partition, ties by node id (its first is `rendezvousOwner`). */
  private preference(partition: string, ns: string[]): string[] {
    let pref = this.prefs.get(partition);
    if (!pref) {
      const scored = ns.map((n) => ({ n, s: this.score(n, partition) }));
      scored.sort((a, b) => b.s - a.s || (a.n < b.n ? -1 : a.n > b.n ? 1 : 0));
      pref = scored.map((x) => x.n);
      this.prefs.set(partition, pref);
    }
    return pref;
  }

  private score(node: string, partition: string): number {
    let byPartition = this.scores.get(node);
    if (!byPartition) {
      byPartition = new Map();
      this.scores.set(node, byPartition);
    }
    let s = byPartition.get(partition);
    if (s === undefined) {
      s = score(node, partition);
      byPartition.set(partition, s);
    }
    return s;
  }
}

interface Keyed {
  p: string;
  k: number;
}

/** The order partitions are placed in: `orderKey`, ties by id. */
function byOrder(a: Keyed, b: Keyed): number {
  return a.k - b.k || (a.p < b.p ? -1 : a.p > b.p ? 1 : 0);
}

/** Entries of the ascending `xs` below `v`. */
function countBelow(xs: readonly number[], v: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((xs[mid] as number) < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The known partitions of one view placed with the cap of one more (`BoundedSpread.oneMore`): answers
 * where the bounded spread of the view plus one new partition puts that new one.
 */
export class OneMorePlacement {
  private readonly known: Set<string>;

  constructor(
    private readonly keyed: readonly Keyed[],
    private readonly nodes: readonly string[],
    private readonly cap: number,
    /** Per node: the places (in `keyed`) of the partitions it got, ascending. */
    private readonly placed: ReadonlyMap<string, readonly number[]>,
  ) {
    this.known = new Set(keyed.map((x) => x.p));
  }

  /**
   * `assign([...partitions, x], nodes).get(x) ?? null` for a partition `x` not among the view's
   * partitions (one among them: an error, its owner is `assign`'s).
   */
  ownerOf(x: string): string | null {
    if (this.known.has(x)) throw new Error(`partition ${x} is placed already: ask assign()`);
    if (this.nodes.length === 0) return null;
    // x's place in the order: the known partitions before it.
    const me: Keyed = { p: x, k: orderKey(x) };
    let lo = 0;
    let hi = this.keyed.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (byOrder(this.keyed[mid] as Keyed, me) < 0) lo = mid + 1;
      else hi = mid;
    }
    const before = lo;
    // x's preference: descending score, ties by node id (the spread's own order).
    const scored = this.nodes.map((n) => ({ n, s: score(n, x) }));
    scored.sort((a, b) => b.s - a.s || (a.n < b.n ? -1 : a.n > b.n ? 1 : 0));
    for (const { n } of scored) {
      if (countBelow(this.placed.get(n) ?? [], before) < this.cap) return n;
    }
    return null;
  }
}

/** The bounded-load assignment of `partitions` over `nodes` (see the file's header). */
export function boundedAssignment(
  partitions: Iterable<string>,
  nodes: Iterable<string>,
  factor: LoadFactor = SPREAD_LOAD_FACTOR,
): Map<string, string> {
  return new BoundedSpread(factor).assign(partitions, nodes);
}

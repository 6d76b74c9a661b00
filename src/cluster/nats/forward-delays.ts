/**
 * How late a forwarded call reaches its owner, without trusting that the nodes' clocks agree.
 *
 * A forwarded call carries the time its origin sent it, on the origin's clock. `owner now − sent` is the
 * call's transit time plus the offset between the two clocks, which may be anything (a node whose clock
 * is off by a minute). So the owner keeps, per origin, the smallest `now − sent` seen lately: the offset
 * plus the fastest transit. A call's *excess* over that minimum is at most its own transit time (the
 * fastest transit is ≥ 0), so an excess past the call's budget proves the budget was spent before the
 * owner read it — an owner that was stopped or stalled, a connection that held it back — whatever the
 * clocks say.
 *
 * Both sides use a monotonic clock (`performance.timeOrigin + performance.now()`): the offset between two
 * processes is then constant, however either wall clock is stepped. It moves only when one process's
 * monotonic clock stops while the other's runs (a suspended VM); the minimum is kept over a window of
 * 10–20 s, so a larger offset is learnt within 20 s, and a smaller one at once.
 */

/** What one origin's calls showed: the smallest `now − sent` in the current and the previous window. */
interface Origin {
  current: number;
  previous: number;
  /** When the current window began (owner's clock). */
  since: number;
}

export class ForwardDelays {
  private readonly origins = new Map<string, Origin>();

  constructor(
    /** Window length, ms: the minimum is taken over the last one or two. */
    private readonly windowMs = 10_000,
  ) {}

  /**
   * Records a call from `origin` sent at `sent` (the origin's monotonic clock) and read at `now` (this
   * node's), and returns by how much it took longer than the fastest call from there lately, ms (≥ 0).
   */
  excess(origin: string, sent: number, now: number): number {
    const d = now - sent;
    const o = this.origins.get(origin);
    if (!o || now - o.since >= 2 * this.windowMs) {
      // First call from there, or nothing for two windows (this node may have been stopped that long):
      // no reference, so no judgement.
      if (!o && this.origins.size >= 256) this.prune(now);
      this.origins.set(origin, { current: d, previous: Number.POSITIVE_INFINITY, since: now });
      return 0;
    }
    if (now - o.since >= this.windowMs) {
      o.previous = o.current;
      o.current = d;
      o.since = now;
    } else if (d < o.current) {
      o.current = d;
    }
    return Math.max(0, d - Math.min(o.current, o.previous));
  }

  /** Forgets origins not heard from for two windows (restarted nodes: each process is its own origin). */
  private prune(now: number): void {
    for (const [k, o] of this.origins) if (now - o.since >= 2 * this.windowMs) this.origins.delete(k);
  }
}

/**
 * How far the main thread's event loop is behind, measured by a timer's drift.
 *
 * The in-flight cap bounds memory, not delay: a node that can answer 2 000 commands/s holds 20 000 in
 * flight for ten seconds. Long before that its event loop runs late, and the lease renewal timer with it
 * (a node stops serving 0.4 × TTL after its last renewal), so an overloaded owner would lose its partitions
 * and make things worse. Shedding new commands while the loop is late keeps the timers on time.
 * After a long block the timers phase runs before the I/O callbacks of the requests that queued up
 * meanwhile, so those requests already see the lag.
 */
export class LoopLag {
  private readonly timer: NodeJS.Timeout;
  private expected: number;
  /** Drift of the latest tick, ms (0 when on time). */
  lagMs = 0;

  constructor(private readonly intervalMs = 20) {
    this.expected = performance.now() + intervalMs;
    this.timer = setInterval(() => {
      const now = performance.now();
      this.lagMs = Math.max(0, now - this.expected);
      this.expected = now + this.intervalMs;
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/**
 * Polling for a condition instead of sleeping a fixed time: a fixed sleep is either too short on a
 * loaded machine (flaky) or wastes time on an idle one. `waitFor` resolves as soon as the condition
 * holds and fails with a message naming what it waited for.
 */

export interface WaitForOptions {
  /** What is awaited, for the failure message ("the subscriber to go away"). */
  what: string;
  /** Give up after this long (default 10 s: generous for a shared, noisy machine). */
  timeoutMs?: number;
  /** Pause between checks (default 10 ms). */
  intervalMs?: number;
}

/**
 * Resolves with the condition's first truthy value. A condition that throws counts as "not yet"; its
 * last error is quoted if the wait times out.
 */
export async function waitFor<T>(
  cond: () => T | Promise<T>,
  { what, timeoutMs = 10_000, intervalMs = 10 }: WaitForOptions,
): Promise<NonNullable<T>> {
  const started = Date.now();
  let lastError: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() - started >= timeoutMs) {
      const why =
        lastError === undefined ? '' : ` (last error: ${(lastError as Error).message ?? lastError})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A plain pause, for the few places that check something does NOT happen within a bounded time. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

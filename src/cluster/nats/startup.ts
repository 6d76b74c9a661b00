/**
 * JetStream is not always ready when a node starts: right after a NATS cluster comes up (or a server
 * restarts) the meta leader is still being elected, a new R3 stream or bucket has no leader yet, and calls
 * answer "no responders", time out, or return 503 / "JetStream system temporarily unavailable". Nodes
 * started together with their NATS cluster (a fresh deployment, `npm run loadtest:grpc -- --cluster
 * --nats-servers 3`) hit exactly that. A node therefore retries each start-up step while the error is one
 * of those, for up to `--nats-startup-ms`, instead of exiting on the first one; anything else (bad
 * credentials, a stream with incompatible settings) fails at once.
 */

import { JetStreamApiError } from '@nats-io/jetstream';

/** `--nats-startup-ms` default: long enough for a fresh 3-server cluster to elect its leaders. */
export const DEFAULT_STARTUP_MS = 30_000;

/** "No responders": nobody (yet) serves the subject — a stream without a leader, a server restarting. */
export function isNoResponders(e: unknown): boolean {
  const err = e as { name?: string; message?: string; cause?: { name?: string } };
  return (
    err?.name === 'NoRespondersError' ||
    err?.cause?.name === 'NoRespondersError' ||
    /no responders/i.test(String(err?.message ?? ''))
  );
}

/** JetStream API error codes (`err_code`) that mean "not ready yet" rather than "no". */
const NOT_READY_CODES = new Set([
  10008, // JetStream system temporarily unavailable
  10005, // no suitable peers for placement (the cluster's servers have not all joined yet)
]);

/** JetStream's "stream not found" (err_code 10059). */
export function isStreamNotFound(e: unknown): boolean {
  return e instanceof JetStreamApiError && e.code === 10059;
}

/**
 * "Stream not found" for a stream that exists: one this node has just created, or found, or that another
 * node created a moment before. In a cluster the answer can come from a server of the stream's new group
 * that has not set up its copy of the stream yet (nats-server's stream info handler says so itself: "could
 * happen if same stream trying to be created"), and a loaded server takes longer to set it up. It is a
 * not-ready answer, not a "no": only the caller knows the stream exists, so it throws this in its place.
 */
export class StreamNotVisibleError extends Error {
  constructor(stream: string, cause: unknown) {
    super(`stream ${stream} not visible yet (${String((cause as Error)?.message ?? cause)})`, { cause });
    this.name = 'StreamNotVisibleError';
  }
}

/** Runs `call` on stream `stream`, known to exist, with its "stream not found" a {@link StreamNotVisibleError}. */
export async function onExistingStream<T>(stream: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    throw isStreamNotFound(e) ? new StreamNotVisibleError(stream, e) : e;
  }
}

/** Whether a failed JetStream/KV call may succeed when repeated shortly (see the module comment). */
export function isNotReady(e: unknown): boolean {
  if (isNoResponders(e)) return true;
  if ((e as { name?: string })?.name === 'StreamNotVisibleError') return true;
  // JetStreamApiError: `code` is the API's err_code, `status` its HTTP-like status.
  const err = e as { name?: string; message?: string; code?: unknown; status?: unknown; cause?: unknown };
  if (err?.name === 'TimeoutError' || /^timeout$/i.test(String(err?.message ?? ''))) return true;
  if (typeof err?.code === 'number' && NOT_READY_CODES.has(err.code)) return true;
  if (err?.status === 503) return true;
  if (/temporarily unavailable|no suitable peers/i.test(String(err?.message ?? ''))) return true;
  return err?.cause !== undefined && err.cause !== e && isNotReady(err.cause);
}

export interface UntilReadyOptions {
  /** Give up (rethrow the last error) when a retry would start after this time (`now()`, ms). */
  until: number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
  /** Injected in tests. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

/**
 * Runs `step` until it succeeds, retrying (100 ms, doubling to 1 s) while it fails with a not-ready error
 * and the deadline has not passed. Each retry is logged with what was being done and why.
 */
export async function untilReady<T>(
  what: string,
  step: () => Promise<T>,
  opts: UntilReadyOptions,
): Promise<T> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let wait = 100;
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (e) {
      if (!isNotReady(e) || now() + wait > opts.until) throw e;
      opts.log?.('JetStream not ready; retrying', { step: what, attempt, retryInMs: wait, err: String(e) });
      await sleep(wait);
      wait = Math.min(1000, wait * 2);
    }
  }
}

/**
 * "The last message stored on a subject, if any" — how the command log finds a partition's head and its
 * write fence, and how the event publisher finds where a tenant's stored events end. STREAM.MSG.GET goes
 * to the stream leader, so the answer is never a stale replica's view.
 */
import { JetStreamApiError, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream';

/** The server's "no message found" (10037, HTTP-like status 404), as an API error or as a plain message. */
export function isNotFound(e: unknown): boolean {
  if (e instanceof JetStreamApiError) return e.code === 10037 || e.status === 404;
  return /no message found|not found/i.test(String((e as Error)?.message ?? ''));
}

/** The last message on `subject` in `stream`, or null when the subject has none. */
export async function lastMessageOn(
  jsm: JetStreamManager,
  stream: string,
  subject: string,
): Promise<StoredMsg | null> {
  try {
    return (await jsm.streams.getMessage(stream, { last_by_subj: subject })) ?? null;
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
}

/** The first message on `subject` in `stream` at stream sequence `seq` or later, or null. */
export async function nextMessageOn(
  jsm: JetStreamManager,
  stream: string,
  subject: string,
  seq: number,
): Promise<StoredMsg | null> {
  try {
    // STREAM.MSG.GET takes `next_by_subj` with `seq` (the client's type names only seq or last_by_subj).
    const query = { seq, next_by_subj: subject } as unknown as { seq: number };
    return (await jsm.streams.getMessage(stream, query)) ?? null;
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
}

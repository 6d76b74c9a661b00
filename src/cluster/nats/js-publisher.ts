/**
 * JetStream publishes with acks correlated on ONE wildcard inbox subscription, instead of the client's
 * `js.publish` (a request per message: a promise, a timer and two pre-built `Error`s with stack traces
 * each). Profiled on the owning node of `loadtest:grpc --cluster` at 2 000 conversations/s, those error
 * constructors alone were ~15 % of the main thread's busy time, plus the garbage they leave.
 *
 * A publish is `PUB <subject> <inbox>.<n>` with headers; the stream answers on `<inbox>.<n>` with a
 * `PubAck` JSON (`{"stream","seq","duplicate"?}`), a JetStream API error (`{"error":{"err_code",...}}`) or,
 * when no stream listens, an empty 503 status message. One sweep timer per publisher fails (or, for
 * `resend` publishes, re-sends) what was not answered within the timeout; re-sending is safe because
 * every publish carries a `Nats-Msg-Id` the stream dedupes on.
 */
import { createInbox, headers, type Msg, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';

export interface PubAck {
  stream: string;
  seq: number;
  duplicate?: boolean;
}

/** A JetStream API error in an ack (`err_code` is JetStream's own code, e.g. 10071 wrong last sequence). */
export class JsPublishError extends Error {
  constructor(
    message: string,
    readonly errCode: number,
    readonly status: number,
  ) {
    super(message);
    this.name = 'JsPublishError';
  }
}

export interface PublishRequest {
  subject: string;
  data: Uint8Array;
  msgId: string;
  /** `Nats-Expected-Last-Subject-Sequence` (fencing of the command log). */
  expectedLastSubjectSeq?: number;
  /** `Nats-Expected-Last-Subject-Sequence-Subject`: the subject that expectation is about, if not this one. */
  expectedSubject?: string;
  /** More headers, as [name, value] (the command log's `Sb-Prev`). */
  headers?: [string, string][];
}

interface InFlight {
  req: PublishRequest;
  hdrs: MsgHdrs;
  sentAt: number;
  /** Settles the publish; `err` null = acked. */
  done: (err: Error | null, ack: PubAck | null) => void;
  /** Re-send on timeout / no responders instead of failing (events). */
  resend: boolean;
  attempts: number;
}

const dec = new TextDecoder('utf-8', { ignoreBOM: true });

export class AckedPublisher {
  private readonly inbox: string;
  private readonly prefixLen: number;
  private readonly inflight = new Map<number, InFlight>();
  private next = 0;
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs = 2000,
  ) {
    this.inbox = createInbox();
    this.prefixLen = this.inbox.length + 1;
    nc.subscribe(`${this.inbox}.*`, { callback: (err, msg) => (err ? undefined : this.onAck(msg)) });
    this.sweeper = setInterval(() => this.sweep(), Math.max(50, Math.min(250, timeoutMs / 4)));
    this.sweeper.unref();
  }

  get pending(): number {
    return this.inflight.size;
  }

  /** One publish, resolved with the stream's ack; rejects on an API error, no responders or timeout. */
  publish(req: PublishRequest): Promise<PubAck> {
    return new Promise((resolve, reject) => {
      this.send(req, false, (err, ack) => (err ? reject(err) : resolve(ack as PubAck)));
    });
  }

  /**
   * Fire-and-track: re-sent (same id, so deduped) until acked or `maxAttempts` tries; `done` is told
   * the outcome. No promise per message.
   */
  publishResending(req: PublishRequest, done: (err: Error | null) => void): void {
    this.send(req, true, done);
  }

  private send(req: PublishRequest, resend: boolean, done: InFlight['done']): void {
    if (this.closed) {
      done(new Error('publisher closed'), null);
      return;
    }
    const hdrs = headers();
    hdrs.set('Nats-Msg-Id', req.msgId);
    if (req.expectedLastSubjectSeq !== undefined) {
      hdrs.set('Nats-Expected-Last-Subject-Sequence', String(req.expectedLastSubjectSeq));
    }
    if (req.expectedSubject !== undefined) {
      hdrs.set('Nats-Expected-Last-Subject-Sequence-Subject', req.expectedSubject);
    }
    if (req.headers) for (const [name, value] of req.headers) hdrs.set(name, value);
    const id = ++this.next;
    const f: InFlight = { req, hdrs, sentAt: performance.now(), done, resend, attempts: 1 };
    this.inflight.set(id, f);
    this.write(id, f);
  }

  private write(id: number, f: InFlight): void {
    try {
      this.nc.publish(f.req.subject, f.req.data, { reply: `${this.inbox}.${id}`, headers: f.hdrs });
    } catch (e) {
      // Closed connection or oversized payload: nothing was sent.
      this.inflight.delete(id);
      f.done(e as Error, null);
    }
  }

  private onAck(msg: Msg): void {
    const id = Number(msg.subject.slice(this.prefixLen));
    const f = this.inflight.get(id);
    if (!f) return; // answered after a timeout re-send, or a duplicate answer
    if (msg.data.length === 0) {
      // 503 no responders: the stream is not there (server restarting, leader moving).
      if (f.resend) {
        f.sentAt = performance.now() - this.timeoutMs / 2; // retry on a later sweep, not in a hot loop
        return;
      }
      this.inflight.delete(id);
      f.done(new JsPublishError('no responders (stream unavailable)', 0, msg.headers?.code ?? 503), null);
      return;
    }
    let body: { stream?: string; seq?: number; duplicate?: boolean; error?: Record<string, unknown> };
    try {
      body = JSON.parse(dec.decode(msg.data));
    } catch {
      return;
    }
    if (body.error) {
      const err = new JsPublishError(
        String(body.error.description ?? 'JetStream error'),
        Number(body.error.err_code ?? 0),
        Number(body.error.code ?? 0),
      );
      if (f.resend && err.status >= 500) {
        f.sentAt = performance.now() - this.timeoutMs / 2;
        return;
      }
      this.inflight.delete(id);
      f.done(err, null);
      return;
    }
    this.inflight.delete(id);
    f.done(null, {
      stream: body.stream ?? '',
      seq: body.seq ?? 0,
      ...(body.duplicate ? { duplicate: true } : {}),
    });
  }

  private sweep(): void {
    if (this.inflight.size === 0) return;
    const now = performance.now();
    for (const [id, f] of this.inflight) {
      if (now - f.sentAt < this.timeoutMs) continue;
      if (f.resend && !this.closed) {
        f.attempts++;
        f.sentAt = now;
        this.write(id, f);
      } else {
        this.inflight.delete(id);
        f.done(new JsPublishError(`no ack within ${this.timeoutMs} ms`, 0, 408), null);
      }
    }
  }

  /** Stops re-sending; publishes still unanswered fail. */
  close(): void {
    this.closed = true;
    clearInterval(this.sweeper);
    for (const [id, f] of this.inflight) {
      this.inflight.delete(id);
      f.done(new Error('publisher closed'), null);
    }
  }
}

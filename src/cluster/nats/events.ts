/**
 * Engine events on JetStream stream `SB_EVENTS`, subject `sb.evt.<tenant>` (tenant escaped as in
 * `subjects.ts`), payload the JSON {@link EventBatch}: the events of one or more consecutive command-log
 * batches of the tenant, in log order, each with its batch's seq and its command's time. Gateways consume
 * durably with their own consumer on `sb.evt.<tenant>` (or `sb.evt.>`) and filter by queue/agent/type in
 * the payload. Live `WatchEvents` listeners on any node subscribe to the same subject on core NATS: they
 * get each message as the server receives it (before it is stored), so gathering delays them by at most
 * `coalesceMs` plus one publish in flight.
 *
 * Why gathered, and not a message per event: with `sync_interval: always` the server fsyncs every
 * message. Per event (~2 per conversation, beside the command log's one per group commit) the events were
 * most of the server's write path; a tenant's events now leave as one message per `coalesceMs` at most
 * (default 10 ms) and one in flight, whatever the rate.
 *
 * The stream holds each tenant's events as a gap-free prefix of its log, stored once:
 * - events are handed over only once their batch is durable in the command log (the host releases them
 *   then, a batch always whole in cluster mode), in log order;
 * - every message expects the tenant's previous event message as the last on the subject
 *   (`Nats-Expected-Last-Subject-Sequence`): two nodes publishing the same tenant (an old owner's last
 *   batches, the new owner's re-derived tail) cannot interleave or store a batch twice; the one refused
 *   looks up the last message stored (`seq` = the last log batch it covers) and sends only what follows;
 * - a snapshot is saved only after every event handed over before it is stored (`flush(tenant)`), so the
 *   stored prefix always reaches the latest snapshot;
 * - the partition's next owner replays the log past that snapshot and hands the re-derived events over
 *   again: the publisher looks up where the stored prefix ends and publishes only the batches after it
 *   (so a takeover costs the missing tail, not the whole one).
 * `Nats-Msg-Id` = `<tenant>:<last log seq in the message>` lets the server drop a blind re-send.
 */
import {
  JetStreamApiError,
  type JetStreamManager,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { EngineEvent } from '../../engine/types.js';
import { matches } from '../../host/event-bus.js';
import {
  type BackfillTo,
  checkIncarnation,
  type EventPosition,
  isAfter,
  positionGone,
} from '../../host/event-history.js';
import type { EventFilter, PublishedEvent } from '../../host/router.js';
import type { EventStore } from '../ports.js';
import { AckedPublisher, JsPublishError } from './js-publisher.js';
import { lastMessageOn, nextMessageOn } from './last-message.js';
import { ensureStream } from './streams.js';
import { EVENTS_STREAM, eventSubject, idToken } from './subjects.js';

export interface EventStreamOptions {
  stream?: string;
  /** Subject prefix (default `sb.evt`); tests use their own. */
  subjectPrefix?: string;
  storage?: 'file' | 'memory';
  replicas?: number;
  /** How long gateways can fall behind before events age out (default 7 days). */
  maxAgeMs?: number;
  /** Bytes kept at most (default 8 GiB). */
  maxBytes?: number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { ignoreBOM: true });

export async function ensureEventStream(jsm: JetStreamManager, opts: EventStreamOptions = {}): Promise<void> {
  const name = opts.stream ?? EVENTS_STREAM;
  const cfg = {
    name,
    subjects: [`${opts.subjectPrefix ?? 'sb.evt'}.>`],
    retention: RetentionPolicy.Limits,
    storage: opts.storage === 'memory' ? StorageType.Memory : StorageType.File,
    num_replicas: opts.replicas ?? 1,
    max_age: (opts.maxAgeMs ?? 7 * 24 * 3600_000) * 1_000_000,
    max_bytes: opts.maxBytes ?? 8 * 1024 ** 3,
    duplicate_window: 120_000 * 1_000_000,
  };
  await ensureStream(jsm, cfg, opts.log);
}

/** Payload of one `SB_EVENTS` message: events of consecutive log batches of a tenant. */
export interface EventBatch {
  tenant: string;
  /** Log seq of the last batch the message covers. */
  seq: number;
  /** In log order; `seq` = the log batch of the event (absent in messages of one batch: then `seq` above). */
  events: { seq?: number; at: number; event: EngineEvent }[];
  /**
   * The tenant's incarnation (`checkIncarnation` in host/event-history.ts); absent = unknown (written
   * before incarnations, or a tenant whose incarnation is not known). The stream holds only the current
   * incarnation's messages (DeleteTenant purges the subject), so the last one names the tenant's.
   */
  inc?: number;
}

/**
 * An `SB_EVENTS` message's body, or null when it is not an event batch (fields this build does not know
 * are kept and ignored: a newer owner's messages must reach this build's watchers in a rolling upgrade).
 * The one decoder of the event stream (live subscriptions, look-ups, `test/compat`).
 */
export function decodeEventBatch(data: Uint8Array): EventBatch | null {
  let b: EventBatch;
  try {
    b = JSON.parse(dec.decode(data)) as EventBatch;
  } catch {
    return null;
  }
  if (typeof b !== 'object' || b === null || !Array.isArray(b.events)) return null;
  return b;
}

/** Subject of a tenant's durable event messages: `<prefix>.<tenant>`. */
export function eventBatchSubject(tenant: string, prefix = 'sb.evt'): string {
  return prefix === 'sb.evt' ? eventSubject(tenant) : `${prefix}.${idToken(tenant)}`;
}

/**
 * DeleteTenant: purges every stored event message of the tenant (its one subject `<prefix>.<tenant>`;
 * the event stream is one stream whatever `--nats-command-streams` says). Idempotent; a cluster whose
 * event stream does not exist (`--event-stream off` from the start) has nothing to purge.
 */
export async function purgeTenantEvents(
  jsm: JetStreamManager,
  tenant: string,
  opts: Pick<EventStreamOptions, 'stream' | 'subjectPrefix'> = {},
): Promise<void> {
  try {
    await jsm.streams.purge(opts.stream ?? EVENTS_STREAM, {
      filter: eventBatchSubject(tenant, opts.subjectPrefix ?? 'sb.evt'),
    });
  } catch (e) {
    // 10059: stream not found.
    if (e instanceof JetStreamApiError && e.code === 10059) return;
    throw e;
  }
}

/**
 * The events of a stored or live message, one `PublishedEvent` each, with their index in their batch (a
 * batch is never split over two messages, so counting within the message gives the same index on every
 * node and in every copy).
 */
export function unpackEventBatch(b: EventBatch): PublishedEvent[] {
  let prev = -1;
  let index = 0;
  return b.events.map(({ seq, at, event }) => {
    const s = seq ?? b.seq;
    index = s === prev ? index + 1 : 0;
    prev = s;
    const e: PublishedEvent = { tenant: b.tenant, seq: s, index, at, event };
    if (b.inc) e.incarnation = b.inc;
    return e;
  });
}

function isWrongLastSequence(e: unknown): boolean {
  return e instanceof JsPublishError && (e.errCode === 10071 || e.errCode === 10164);
}

export interface EventPublisherOptions extends EventStreamOptions {
  /** Shortest time between two messages of one tenant, ms (default 10): events gather meanwhile. */
  coalesceMs?: number;
  /** Most events in one message (default 500; a takeover's re-derived tail leaves in several). */
  maxEventsPerMessage?: number;
  /** Ack timeout of one message, ms (default 2000). */
  timeoutMs?: number;
}

/**
 * Publishes durable-batch events to `SB_EVENTS` without blocking the caller: per tenant, one message in
 * flight, gathering whatever is handed over meanwhile (and for `coalesceMs` after the previous one), chained
 * on the subject's last sequence (see the file comment). `flush(tenant)` waits until every batch of the
 * tenant handed over so far is stored: a snapshot is saved only after that (see `EventFlushingSnapshotStore`).
 */
export class JetStreamEventPublisher implements EventStore {
  private readonly prefix: string;
  private readonly stream: string;
  private readonly pub: AckedPublisher;
  private readonly coalesceMs: number;
  private readonly maxEvents: number;
  private readonly tenants = new Map<string, TenantTrack>();
  private closed = false;
  /** Messages stored. */
  published = 0;
  /** Publishes refused or unanswered (each is retried after a look-up of what is stored). */
  failed = 0;
  /** Messages refused because another node had stored events of the tenant first (then resumed after them). */
  conflicts = 0;
  /** Batches handed over that were already stored (a takeover's re-derived tail) and not sent again. */
  skipped = 0;

  private constructor(
    nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly opts: EventPublisherOptions,
  ) {
    this.prefix = opts.subjectPrefix ?? 'sb.evt';
    this.stream = opts.stream ?? EVENTS_STREAM;
    this.pub = new AckedPublisher(nc, opts.timeoutMs ?? 2000);
    this.coalesceMs = opts.coalesceMs ?? 10;
    this.maxEvents = Math.max(1, opts.maxEventsPerMessage ?? 500);
  }

  static async open(nc: NatsConnection, opts: EventPublisherOptions = {}): Promise<JetStreamEventPublisher> {
    const jsm = await jetstreamManager(nc);
    await ensureEventStream(jsm, opts);
    return new JetStreamEventPublisher(nc, jsm, opts);
  }

  /**
   * Hands over the events of durable log batch `seq` of `tenant` — all of them, in order, batches in log
   * order; they leave in the tenant's next message. A batch at or below one handed over before is a
   * re-derivation of it (a reload) and is dropped.
   */
  publishBatch(
    tenant: string,
    seq: number,
    events: { at: number; event: EngineEvent }[],
    incarnation = 0,
  ): void {
    if (events.length === 0 || this.closed) return;
    const t = this.track(tenant);
    if (incarnation !== 0) t.incarnation = incarnation;
    if (seq <= t.accepted) {
      this.skipped++;
      return;
    }
    t.accepted = seq;
    for (const e of events) t.queue.push({ seq, at: e.at, event: e.event });
    this.pump(tenant, t);
  }

  /** Batches handed over and not yet stored (all tenants, or one). */
  pending(tenant?: string): number {
    const count = (t: TenantTrack) => t.queue.length + t.sending;
    if (tenant !== undefined) {
      const t = this.tenants.get(tenant);
      return t ? count(t) : 0;
    }
    let n = 0;
    for (const t of this.tenants.values()) n += count(t);
    return n;
  }

  /**
   * Resolves once every event of `tenant` (or of every tenant) handed over before this call is stored
   * (later ones are not waited for, so a steady stream of new events cannot hold it back).
   */
  async flush(tenant?: string): Promise<void> {
    if (tenant === undefined) {
      await Promise.all([...this.tenants.keys()].map((t) => this.flush(t)));
      return;
    }
    const t = this.tenants.get(tenant);
    if (!t || t.stored >= t.accepted) return;
    const upto = t.accepted;
    await new Promise<void>((resolve) => t.waiters.push({ upto, resolve }));
  }

  /**
   * Gives up the tenant's unstored events and waits for its message in flight to settle, so that nothing
   * of it is sent from here on (DeleteTenant, before the purge: a message sent after the purge would
   * find the subject empty and, after a look-up, be stored again). Waiting flushes are released.
   */
  async forget(tenant: string): Promise<void> {
    const t = this.tenants.get(tenant);
    if (!t) return;
    this.tenants.delete(tenant);
    t.gone = true;
    if (t.timer) clearTimeout(t.timer);
    t.timer = null;
    t.queue.length = 0;
    for (const w of t.waiters.splice(0)) w.resolve();
    await t.running;
  }

  /**
   * DeleteTenant, after the tombstone (`EventStore.remove`): forgets the tenant here, then purges its
   * stored events from the stream. Idempotent.
   */
  async remove(tenant: string): Promise<void> {
    await this.forget(tenant);
    await purgeTenantEvents(this.jsm, tenant, { stream: this.stream, subjectPrefix: this.prefix });
  }

  /**
   * A resumed watch's backfill from the stream (any node): the tenant's stored events matching the filter
   * after `after`, in position order, then resolves. The live subscription is made before (by the caller),
   * so after a flush every message the server receives from then on reaches it; the backfill reads up to
   * the last message stored when it started and once more to the last stored then (see the file comment:
   * the stream holds a gap-free prefix of the tenant's log). Refuses (SB_ERR_RESUME_POSITION_GONE) a
   * position past the tenant's last stored batch (after waiting briefly: a live listener sees a message
   * before it is stored) and one before the first stored event once the stream has dropped messages
   * (`max_age`, `max_bytes`): whether events after it were dropped cannot be told then.
   */
  async backfill(
    filter: EventFilter,
    after: EventPosition,
    to: BackfillTo,
    nc?: NatsConnection,
  ): Promise<void> {
    const subject = eventBatchSubject(filter.tenant, this.prefix);
    await nc?.flush();
    let last = await lastMessageOn(this.jsm, this.stream, subject);
    // The last message names the tenant's current incarnation (older ones were purged with it). A
    // position without one is judged below, against the first stored event.
    const current = last ? (last.json<EventBatch>().inc ?? 0) : 0;
    const unnamed = !after.incarnation && after.seq > 0 && current !== 0;
    if (last && !unnamed) checkIncarnation(after, current);
    for (let waited = 0; ; waited += 100) {
      const lastSeq = last ? last.json<EventBatch>().seq : 0;
      if (after.seq <= lastSeq) break;
      if (waited >= 2000)
        throw positionGone(
          after,
          last
            ? `the tenant's stored events end at seq ${lastSeq} (a position from another incarnation of the tenant?)`
            : 'the event stream holds no events of the tenant',
        );
      await this.pause(100);
      last = await lastMessageOn(this.jsm, this.stream, subject);
    }
    if (!last) {
      // Nothing stored and resuming from the start (seq 0): nothing to backfill.
      to.checked();
      return;
    }
    const next = (seq: number) => nextMessageOn(this.jsm, this.stream, subject, seq);
    const first = await next(1);
    if (!first) {
      to.checked();
      return;
    }
    const firstEvent = unpackEventBatch(first.json<EventBatch>())[0];
    // A position in the form before incarnations: unambiguous only at or after the current life's first
    // stored event (an earlier life's seqs are all below it); before it, it could be of a deleted life.
    if (unnamed) checkIncarnation(after, current, firstEvent?.seq ?? Number.POSITIVE_INFINITY);
    if (firstEvent && isAfter(firstEvent, after)) {
      const info = await this.jsm.streams.info(this.stream);
      if (info.state.first_seq > 1)
        throw positionGone(
          after,
          `the event stream's oldest stored event of the tenant is ${firstEvent.seq}:${firstEvent.index}, and older events were dropped (max_age / max_bytes of ${this.stream})`,
        );
    }
    to.checked();
    // The first message that can hold an event after `after`: the first whose last batch is >= after.seq.
    let lo = first.seq;
    let hi = last.seq;
    while (lo < hi) {
      const mid = lo + Math.floor((hi - lo) / 2);
      const m = await next(mid);
      if (!m || m.seq > hi) break;
      if (m.json<EventBatch>().seq >= after.seq) hi = mid;
      else lo = m.seq + 1;
    }
    let end = last.seq;
    let extended = false;
    for (let at = lo; ; ) {
      if (to.stopped()) return;
      const m = at <= end ? await next(at) : null;
      if (!m || m.seq > end) {
        if (extended) return;
        // Once more to the last stored now (a message received before the live subscription and stored since).
        extended = true;
        const now = await lastMessageOn(this.jsm, this.stream, subject);
        if (!now || now.seq <= end) return;
        end = now.seq;
        continue;
      }
      at = m.seq + 1;
      for (const e of unpackEventBatch(m.json<EventBatch>())) {
        if (!isAfter(e, after) || !matches(filter, e.event)) continue;
        if (to.stopped()) return;
        const wait = to.sink(e);
        if (wait) await wait;
      }
    }
  }

  /** Gives up on unstored events (the partition's next owner re-derives them from the log). */
  close(): void {
    this.closed = true;
    this.pub.close();
    for (const t of this.tenants.values()) if (t.timer) clearTimeout(t.timer);
  }

  private track(tenant: string): TenantTrack {
    let t = this.tenants.get(tenant);
    if (!t) {
      t = {
        tenant,
        accepted: 0,
        stored: 0,
        lastMsgSeq: null,
        queue: [],
        sending: 0,
        busy: false,
        lastSentAt: Number.NEGATIVE_INFINITY,
        timer: null,
        waiters: [],
        running: null,
        gone: false,
        incarnation: 0,
      };
      this.tenants.set(tenant, t);
    }
    return t;
  }

  /** Sends the tenant's queue: at most one message in flight, at most one per `coalesceMs`. */
  private pump(tenant: string, t: TenantTrack): void {
    if (t.busy || t.timer || t.queue.length === 0 || this.closed || t.gone) return;
    const wait = t.lastSentAt + this.coalesceMs - performance.now();
    if (wait > 0) {
      t.timer = setTimeout(() => {
        t.timer = null;
        this.pump(tenant, t);
      }, wait);
      return;
    }
    t.busy = true;
    t.running = this.sendNext(tenant, t).finally(() => {
      t.busy = false;
      t.running = null;
      this.pump(tenant, t);
    });
  }

  private async sendNext(tenant: string, t: TenantTrack): Promise<void> {
    if (t.lastMsgSeq === null) {
      try {
        await this.lookUp(tenant, t);
      } catch (e) {
        this.failed++;
        this.opts.log?.('event stream look-up failed', { tenant, err: String(e) });
        await this.pause(250);
        return;
      }
      this.drop(t);
      if (t.queue.length === 0) return;
    }
    // Never split a batch over two messages: the stored `seq` says the whole batch is there.
    let n = Math.min(t.queue.length, this.maxEvents);
    const lastSeq = (t.queue[n - 1] as Queued).seq;
    while (n < t.queue.length && (t.queue[n] as Queued).seq === lastSeq) n++;
    const events = t.queue.slice(0, n);
    const body: EventBatch = { tenant, seq: lastSeq, events };
    if (t.incarnation !== 0) body.inc = t.incarnation;
    t.sending = n;
    t.lastSentAt = performance.now();
    try {
      const ack = await this.pub.publish({
        subject: eventBatchSubject(tenant, this.prefix),
        data: enc.encode(JSON.stringify(body)),
        msgId: eventMsgId(tenant, lastSeq),
        expectedLastSubjectSeq: t.lastMsgSeq as number,
      });
      this.published++;
      t.lastMsgSeq = ack.seq;
      t.queue.splice(0, n);
      this.stored(t, lastSeq);
    } catch (e) {
      // Refused (another node stored events first) or unanswered (maybe stored): look up what is there.
      t.lastMsgSeq = null;
      if (isWrongLastSequence(e)) this.conflicts++;
      else {
        this.failed++;
        this.opts.log?.('event publish failed', { tenant, seq: lastSeq, err: String(e) });
        await this.pause(100);
      }
    } finally {
      t.sending = 0;
    }
  }

  /** Where the tenant's stored events end: its last message on the subject and the log seq it covers. */
  private async lookUp(tenant: string, t: TenantTrack): Promise<void> {
    const m = await lastMessageOn(this.jsm, this.stream, eventBatchSubject(tenant, this.prefix));
    if (!m) {
      t.lastMsgSeq = 0;
      return;
    }
    const b = m.json<EventBatch>();
    t.lastMsgSeq = m.seq;
    this.stored(t, b.seq);
  }

  /** Everything of the tenant up to log seq `seq` is in the stream. */
  private stored(t: TenantTrack, seq: number): void {
    if (seq > t.stored) t.stored = seq;
    if (t.waiters.length === 0) return;
    const ready = t.waiters.filter((w) => w.upto <= t.stored);
    if (ready.length === 0) return;
    t.waiters = t.waiters.filter((w) => w.upto > t.stored);
    for (const w of ready) w.resolve();
  }

  /** Drops queued events of batches the stream already holds. */
  private drop(t: TenantTrack): void {
    let n = 0;
    while (n < t.queue.length && (t.queue[n] as Queued).seq <= t.stored) n++;
    if (n > 0) {
      const batches = new Set(t.queue.slice(0, n).map((q) => q.seq)).size;
      this.skipped += batches;
      t.queue.splice(0, n);
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms).unref());
  }
}

type Queued = { seq: number; at: number; event: EngineEvent };

interface TenantTrack {
  tenant: string;
  /** Log seq of the last batch handed over. */
  accepted: number;
  /** Log seq up to which the stream is known to hold the tenant's events. */
  stored: number;
  /** Stream seq of the tenant's last event message, 0 = none; null = unknown (look it up first). */
  lastMsgSeq: number | null;
  queue: Queued[];
  /** Events of the message in flight (still at the head of `queue`). */
  sending: number;
  busy: boolean;
  lastSentAt: number;
  timer: NodeJS.Timeout | null;
  waiters: { upto: number; resolve: () => void }[];
  /** The send under way (look-up, publish, pause after a failure), if any. */
  running: Promise<void> | null;
  /** Forgotten (`forget`, the tenant was deleted): nothing more is sent. */
  gone: boolean;
  /** The tenant's incarnation as the host last handed it over (0 = unknown): each message carries it. */
  incarnation: number;
}

/** `Nats-Msg-Id` of an event message whose last log batch is `seq`: the same on every node. */
export function eventMsgId(tenant: string, seq: number): string {
  return `${idToken(tenant)}:${seq}`;
}

/**
 * Gathers a partition's released events (the host hands them over one command at a time) into one
 * {@link EventBatch} per log batch. The host releases a batch whole within one synchronous run (live, or
 * re-derived by a load), so a batch is complete when the seq changes or when that run ends (a microtask).
 */
export class EventBatchGatherer {
  private seq = -1;
  private rederived = 0;
  private events: EventBatch['events'] = [];
  private scheduled = false;

  constructor(
    private readonly tenant: string,
    private readonly emit: (
      tenant: string,
      seq: number,
      events: EventBatch['events'],
      incarnation: number,
    ) => void,
  ) {}
  private incarnation = 0;

  add(e: PublishedEvent): void {
    const rederived = e.rederived ?? 0;
    if (e.seq !== this.seq || rederived !== this.rederived) {
      this.flush();
      this.seq = e.seq;
      this.rederived = rederived;
    }
    this.incarnation = e.incarnation ?? 0;
    this.events.push({ at: e.at, event: e.event });
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.flushNow);
    }
  }

  private readonly flushNow = (): void => {
    this.scheduled = false;
    this.flush();
  };

  flush(): void {
    if (this.events.length === 0) return;
    const events = this.events;
    this.events = [];
    this.emit(this.tenant, this.seq, events, this.incarnation);
  }
}

/**
 * Live events of a tenant from whichever node owns it: a core NATS subscription on the stream's subject
 * (every message published there, stored or refused as a duplicate: a listener may see a batch twice).
 */
export function subscribeClusterEvents(
  nc: NatsConnection,
  filter: EventFilter,
  onEvent: (e: PublishedEvent) => void,
  subjectPrefix = 'sb.evt',
): () => void {
  const sub: Subscription = nc.subscribe(eventBatchSubject(filter.tenant, subjectPrefix), {
    callback: (err, msg) => {
      if (err) return;
      const b = decodeEventBatch(msg.data);
      if (!b) return;
      for (const e of unpackEventBatch(b)) if (matches(filter, e.event)) onEvent(e);
    },
  });
  return () => sub.unsubscribe();
}

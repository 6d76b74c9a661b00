/**
 * Engine events on JetStream stream `SB_EVENTS`: ONE message per command-log batch that produced events,
 * subject `sb.evt.<tenant>` (tenant escaped as in `subjects.ts`), payload the JSON {@link EventBatch} (the
 * batch's events in order, each with its command's time). Gateways consume durably with their own
 * consumer on `sb.evt.<tenant>` (or `sb.evt.>`) and filter by queue/agent/type in the payload.
 *
 * Why a message per batch and not per event: with `sync_interval: always` the server fsyncs every message,
 * and per event (~2 per conversation, beside the command log's one per batch) the events stream was most
 * of the server's write path; a batch message costs one fsync for all of its events.
 *
 * Events are published after the batch that produced them is durable in the command log (the host
 * releases them only then, and a batch always whole in cluster mode), with `Nats-Msg-Id` =
 * `<tenant>:<log seq>`, derived from the log alone, so whichever node publishes a batch's events, they are
 * stored once (within the stream's duplicate window, 2 min by default).
 *
 * Nothing is lost between the log ack and the publish when a node dies there:
 * - a snapshot is saved only after every event message of the batches it covers is stored (`flush(tenant)`);
 * - the partition's next owner replays the log past that snapshot and re-publishes the events of every
 *   replayed batch with the same ids (the host re-derives them), so the stream drops those already there.
 * Live `WatchEvents` subscribers (core NATS) may therefore see such re-published events twice; the
 * stream holds each once.
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
import type { EventFilter, PublishedEvent } from '../../host/router.js';
import { AckedPublisher } from './js-publisher.js';
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
const dec = new TextDecoder();

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
  try {
    await jsm.streams.info(name);
  } catch (e) {
    if (!(e instanceof JetStreamApiError) || e.code !== 10059) throw e;
    await jsm.streams.add(cfg);
  }
}

/** Payload of one `SB_EVENTS` message: the events of one command-log batch of a tenant, in order. */
export interface EventBatch {
  tenant: string;
  /** Log seq of the batch (the stream sequence of its `SB_COMMANDS` message). */
  seq: number;
  events: { at: number; event: EngineEvent }[];
}

/** Subject of a tenant's event batches: `<prefix>.<tenant>`. */
export function eventBatchSubject(tenant: string, prefix = 'sb.evt'): string {
  return prefix === 'sb.evt' ? eventSubject(tenant) : `${prefix}.${idToken(tenant)}`;
}

/** The events of a stored or live batch message, one `PublishedEvent` each. */
export function unpackEventBatch(b: EventBatch): PublishedEvent[] {
  return b.events.map(({ at, event }) => ({ tenant: b.tenant, seq: b.seq, at, event }));
}

/**
 * Publishes durable-batch events to `SB_EVENTS` without blocking the caller: one message per log batch,
 * acks correlated on one inbox, re-sent with the same `Nats-Msg-Id` until stored (riding out a NATS
 * restart). `flush(tenant)` waits until every batch of the tenant handed over so far is stored: a snapshot
 * is saved only after that (see `EventFlushingSnapshotStore`), so a takeover that re-publishes the log
 * tail past the snapshot re-creates every event that may be missing.
 */
export class JetStreamEventPublisher {
  private readonly prefix: string;
  private readonly pub: AckedPublisher;
  /** Per tenant: messages handed over are numbered; `low` is the first not yet stored (a watermark). */
  private readonly tenants = new Map<string, TenantTrack>();
  /** Messages stored (a re-published duplicate counts: the server acknowledged it). */
  published = 0;
  failed = 0;

  private constructor(
    nc: NatsConnection,
    private readonly opts: EventStreamOptions,
  ) {
    this.prefix = opts.subjectPrefix ?? 'sb.evt';
    this.pub = new AckedPublisher(nc, 2000);
  }

  static async open(nc: NatsConnection, opts: EventStreamOptions = {}): Promise<JetStreamEventPublisher> {
    await ensureEventStream(await jetstreamManager(nc), opts);
    return new JetStreamEventPublisher(nc, opts);
  }

  /**
   * Publishes the events of log batch `seq` of `tenant` — all of them, in order: the id makes any
   * re-publish of the batch a no-op, so a batch must never be split over two calls.
   */
  publishBatch(tenant: string, seq: number, events: EventBatch['events']): void {
    if (events.length === 0) return;
    let t = this.tenants.get(tenant);
    if (!t) {
      t = { issued: 0, low: 1, done: new Set(), waiters: [] };
      this.tenants.set(tenant, t);
    }
    const track = t;
    const n = ++track.issued;
    const body: EventBatch = { tenant, seq, events };
    this.pub.publishResending(
      {
        subject: eventBatchSubject(tenant, this.prefix),
        data: enc.encode(JSON.stringify(body)),
        msgId: eventMsgId(tenant, seq),
      },
      (err) => {
        if (err) {
          this.failed++;
          this.opts.log?.('event publish failed', { tenant, seq, err: String(err) });
        } else this.published++;
        if (n !== track.low) {
          track.done.add(n);
          return;
        }
        track.low++;
        while (track.done.delete(track.low)) track.low++;
        if (track.waiters.length === 0) return;
        const ready = track.waiters.filter((w) => w.upto < track.low);
        if (ready.length === 0) return;
        track.waiters = track.waiters.filter((w) => w.upto >= track.low);
        for (const w of ready) w.resolve();
      },
    );
  }

  /** Messages handed over and not yet stored (all tenants, or one). */
  pending(tenant?: string): number {
    if (tenant !== undefined) {
      const t = this.tenants.get(tenant);
      return t ? t.issued - t.low + 1 - t.done.size : 0;
    }
    return this.pub.pending;
  }

  /**
   * Resolves once every message of `tenant` (or of every tenant) handed over before this call is stored
   * (later ones are not waited for, so a steady stream of new events cannot hold it back).
   */
  async flush(tenant?: string): Promise<void> {
    if (tenant === undefined) {
      await Promise.all([...this.tenants.keys()].map((t) => this.flush(t)));
      return;
    }
    const t = this.tenants.get(tenant);
    if (!t || t.low > t.issued) return;
    const upto = t.issued;
    await new Promise<void>((resolve) => t.waiters.push({ upto, resolve }));
  }

  /** Gives up on unstored events (they are re-derived from the log by the partition's next owner). */
  close(): void {
    this.pub.close();
  }
}

interface TenantTrack {
  issued: number;
  low: number;
  /** Stored out of order, above `low`. */
  done: Set<number>;
  waiters: { upto: number; resolve: () => void }[];
}

/** `Nats-Msg-Id` of the events of log batch `seq` of a tenant: the same on every node that derives it. */
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
    private readonly emit: (tenant: string, seq: number, events: EventBatch['events']) => void,
  ) {}

  add(e: PublishedEvent): void {
    const rederived = e.rederived ?? 0;
    if (e.seq !== this.seq || rederived !== this.rederived) {
      this.flush();
      this.seq = e.seq;
      this.rederived = rederived;
    }
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
    this.emit(this.tenant, this.seq, events);
  }
}

/** Live events of a tenant from whichever node owns it (core NATS subscription on its batch subject). */
export function subscribeClusterEvents(
  nc: NatsConnection,
  filter: EventFilter,
  onEvent: (e: PublishedEvent) => void,
  subjectPrefix = 'sb.evt',
): () => void {
  const sub: Subscription = nc.subscribe(eventBatchSubject(filter.tenant, subjectPrefix), {
    callback: (err, msg) => {
      if (err) return;
      let b: EventBatch;
      try {
        b = JSON.parse(dec.decode(msg.data)) as EventBatch;
      } catch {
        return;
      }
      if (!Array.isArray(b?.events)) return;
      for (const { at, event } of b.events) {
        if (matches(filter, event)) onEvent({ tenant: b.tenant, seq: b.seq, at, event });
      }
    },
  });
  return () => sub.unsubscribe();
}

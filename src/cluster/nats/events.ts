/**
 * Engine events on JetStream stream `SB_EVENTS`, subject `sb.evt.<tenant>.<queue|_>.<agent|_>.<type>`
 * (tokens escaped as in `subjects.ts`), payload the JSON `PublishedEvent`. Gateways consume durably with
 * their own consumer, filtering by subject, e.g. `sb.evt.acme.*.agent-7.>` for one agent's desk or
 * `sb.evt.acme.chat-billing.>` for one queue.
 *
 * Events are published after the batch that produced them is durable in the command log (the host
 * releases them only then), with `Nats-Msg-Id` = `<tenant>:<log seq>:<index in the batch>`, derived from
 * the log alone, so whichever node publishes an event, it is stored once (within the stream's duplicate
 * window, 2 min by default).
 *
 * Nothing is lost between the log ack and the publish when a node dies there:
 * - a snapshot is saved only after every event of the batches it covers is stored (`flush(tenant)`);
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

function subjectOf(prefix: string, tenant: string, ev: EngineEvent): string {
  const e = ev as { queueId?: string; agentId?: string };
  const s = eventSubject(tenant, e.queueId, e.agentId, ev.type);
  return prefix === 'sb.evt' ? s : `${prefix}${s.slice('sb.evt'.length)}`;
}

/**
 * Publishes durable-batch events to `SB_EVENTS` without blocking the caller: one message per event (the
 * subject carries tenant/queue/agent for consumers' filters), acks correlated on one inbox, re-sent with
 * the same `Nats-Msg-Id` until stored (riding out a NATS restart). `flush(tenant)` waits until every
 * event of the tenant handed over so far is stored: a snapshot is saved only after that (see
 * `EventFlushingSnapshotStore`), so a takeover that re-publishes the log tail past the snapshot
 * re-creates every event that may be missing.
 */
export class JetStreamEventPublisher {
  private readonly prefix: string;
  private readonly pub: AckedPublisher;
  /** Per tenant: events handed over are numbered; `low` is the first not yet stored (a watermark). */
  private readonly tenants = new Map<string, TenantTrack>();
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

  /** Publishes `e` as event `index` of its log batch; the id makes any re-publish of it a no-op. */
  publish(e: PublishedEvent, index: number): void {
    const tenant = e.tenant;
    let t = this.tenants.get(tenant);
    if (!t) {
      t = { issued: 0, low: 1, done: new Set(), waiters: [] };
      this.tenants.set(tenant, t);
    }
    const track = t;
    const n = ++track.issued;
    this.pub.publishResending(
      {
        subject: subjectOf(this.prefix, tenant, e.event),
        data: enc.encode(JSON.stringify(e)),
        msgId: eventMsgId(tenant, e.seq, index),
      },
      (err) => {
        if (err) {
          this.failed++;
          this.opts.log?.('event publish failed', { tenant, seq: e.seq, err: String(err) });
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

  /** Events handed over and not yet stored (all tenants, or one). */
  pending(tenant?: string): number {
    if (tenant !== undefined) {
      const t = this.tenants.get(tenant);
      return t ? t.issued - t.low + 1 - t.done.size : 0;
    }
    return this.pub.pending;
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

/** `Nats-Msg-Id` of event `index` of log batch `seq` of a tenant: the same on every node that derives it. */
export function eventMsgId(tenant: string, seq: number, index: number): string {
  return `${idToken(tenant)}:${seq}:${index}`;
}

/** Live events of a tenant from whichever node owns it (core NATS subscription on the event subjects). */
export function subscribeClusterEvents(
  nc: NatsConnection,
  filter: EventFilter,
  onEvent: (e: PublishedEvent) => void,
  subjectPrefix = 'sb.evt',
): () => void {
  const sub: Subscription = nc.subscribe(`${subjectPrefix}.${idToken(filter.tenant)}.>`, {
    callback: (err, msg) => {
      if (err) return;
      let e: PublishedEvent;
      try {
        e = JSON.parse(dec.decode(msg.data)) as PublishedEvent;
      } catch {
        return;
      }
      if (matches(filter, e.event)) onEvent(e);
    },
  });
  return () => sub.unsubscribe();
}

/**
 * Engine events on JetStream stream `SB_EVENTS`, subject `sb.evt.<tenant>.<queue|_>.<agent|_>.<type>`
 * (tokens escaped as in `subjects.ts`), payload the JSON `PublishedEvent`. Gateways consume durably with
 * their own consumer, filtering by subject, e.g. `sb.evt.acme.*.agent-7.>` for one agent's desk or
 * `sb.evt.acme.chat-billing.>` for one queue.
 *
 * Events are published after the batch that produced them is durable in the command log (the host
 * releases them only then), with `Nats-Msg-Id` = `<tenant>:<seq>:<index>` so a re-publish is stored once.
 * The command log stays the source of truth: an event lost because a node died between the log ack and
 * this publish is still implied by the log (the chaos check reads both).
 */
import {
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { EngineEvent } from '../../engine/types.js';
import { matches } from '../../host/event-bus.js';
import type { EventFilter, PublishedEvent } from '../../host/router.js';
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

/** Publishes durable-batch events to `SB_EVENTS`; `pending()` lets shutdown wait for acks. */
export class JetStreamEventPublisher {
  private readonly prefix: string;
  private readonly inflight = new Set<Promise<unknown>>();
  published = 0;
  failed = 0;

  private constructor(
    private readonly js: JetStreamClient,
    private readonly opts: EventStreamOptions,
  ) {
    this.prefix = opts.subjectPrefix ?? 'sb.evt';
  }

  static async open(nc: NatsConnection, opts: EventStreamOptions = {}): Promise<JetStreamEventPublisher> {
    await ensureEventStream(await jetstreamManager(nc), opts);
    return new JetStreamEventPublisher(jetstream(nc), opts);
  }

  /** Publishes without blocking the caller; retries a failed publish for ~3 s, riding out a NATS restart (deduped by id). */
  publish(e: PublishedEvent, index: number): void {
    const subject = subjectOf(this.prefix, e.tenant, e.event);
    const data = enc.encode(JSON.stringify(e));
    const msgID = `${idToken(e.tenant)}:${e.seq}:${index}`;
    const attempt = async () => {
      for (let i = 0; ; i++) {
        try {
          await this.js.publish(subject, data, { msgID });
          this.published++;
          return;
        } catch (err) {
          if (i >= 6) {
            this.failed++;
            this.opts.log?.('event publish failed', { subject, err: String(err) });
            return;
          }
          await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** i)));
        }
      }
    };
    const p = attempt();
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  /** Resolves when every publish so far has been acked or given up. */
  async flush(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }
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

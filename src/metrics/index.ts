/**
 * The node's Prometheus metrics (prom-client, main thread). Workers never touch the registry: their
 * observations (assignment latency, apply time) ride back with each batch reply and are recorded here.
 * Metric names are fixed in the team brief; `getOrCreate` lets the API layer and the host share a
 * registry without registering a name twice.
 */
import { X509Certificate } from 'node:crypto';
import { Counter, exponentialBuckets, Gauge, Histogram, type Registry } from 'prom-client';
import type { QueueStats } from '../engine/types.js';

/** 50 µs … ~0.8 s: the assignment decision lives in the tens of µs, a durable reply in ms. */
export const LATENCY_BUCKETS = exponentialBuckets(0.00005, 2, 15);

type Metric = Counter<string> | Gauge<string> | Histogram<string>;

function getOrCreate<M extends Metric>(registry: Registry, name: string, make: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? make();
}

/** Per-queue gauges are read from the engines at scrape time (one query per partition, cached briefly). */
export type QueueStatsSource = () => Promise<{ tenant: string; stats: QueueStats[] }[]>;

/**
 * An unlabelled histogram bound once (`histogram.labels()`): its `observe` skips the closure and label
 * object prom-client's `histogram.observe(v)` builds on every call (a few per command on the event loop).
 */
export type Observer = { observe(value: number): void };

export interface NodeMetrics {
  assignmentLatency: Observer;
  logAppend: Observer;
  engineApply: Observer;
  inbound: PairCounter;
  assigned: PairCounter;
  abandoned: PairCounter;
  transferred: PairCounter;
  agentAssigned: PairCounter;
  agentTransferred: PairCounter;
  offersMissed: PairCounter;
  queueOffersMissed: PairCounter;
  /** Rare (state changes only), so a plain counter: tenant, alert, and the queue of queue alerts. */
  alerts: Counter<'tenant' | 'alert' | 'queue'>;
  workerRestarts: Counter<string>;
  /**
   * Commands quarantined after they crashed the engine (`engine_halt`) or ended their worker thread
   * (`worker_exit`), and partitions held after their work ended too many threads (`partition_held`).
   */
  poison: Counter<'reason'>;
  /** Commands refused because their tenant was at `--max-inflight-per-tenant`. */
  tenantOverloaded: Counter<'tenant'>;
  /** Snapshot attempts that failed (serialising, saving or trimming). */
  snapshotFailures: Counter<string>;
  /** Embedded: failed writes and flushes of command log files, by operation and error code. */
  logWriteFailures: Counter<'op' | 'code'>;
  /**
   * Embedded: logs found ending before their snapshot and restarted after it (`CommandLog.rebase`):
   * whatever they held after the snapshot, if anything, is gone.
   */
  logRebased: Counter<string>;
  /**
   * Start the series of a tenant, one of its queues or one of its agents at 0 (see `PairCounter.touch`):
   * the host calls these when a partition is loaded and when a queue or agent is created, so the first
   * alert, missed offer or refusal shows in `increase()` (a series born at 1 does not).
   */
  knowTenant(tenant: string): void;
  knowQueue(tenant: string, queue: string): void;
  knowAgent(tenant: string, agent: string): void;
  /**
   * Drop the series of a removed queue or agent (every labelled counter) and give its per-agent slot
   * back (`--agent-series-limit`), so an agent created later gets a series of its own: without this a
   * node with agent churn exports the departed forever and files the newcomers under `_other`.
   */
  forgetQueue(tenant: string, queue: string): void;
  forgetAgent(tenant: string, agent: string): void;
  /** Drop every series of a tenant whose partition left this node (its new owner exports them). */
  forgetTenant(tenant: string): void;
}

/** Alert kinds raised per queue: each one's series starts at 0 when the queue becomes known. */
export const QUEUE_ALERT_KINDS = [
  'sla_at_risk',
  'sla_breached',
  'sla_recovered',
  'queue_over_capacity',
  'queue_capacity_recovered',
] as const;
/** Alert kinds raised per agent (counted with queue=""): started at 0 per tenant. */
export const AGENT_ALERTS = ['agent_missed_offers'] as const;

/**
 * A prom-client counter with two labels whose increments are gathered in plain maps and added to it
 * when it is read (every scrape and `get()` run its `collect`), so the exposed values are exact at read
 * time. Why: the host counts several of these per command on the event loop, and prom-client's
 * `labels(a, b).inc()` builds a label object, a bound function, a hash string and a result object each
 * time; here an increment of a pair seen before allocates nothing. The pairs kept are the ones
 * prom-client keeps anyway (one per tenant × queue/agent/alert).
 */
export class PairCounter {
  private readonly pending = new Map<string, Map<string, { n: number; shown: boolean }>>();
  /** Distinct pairs counted under their own second label so far (bounded by `maxPairs`). */
  private pairs = 0;

  /**
   * `maxPairs`: at most this many distinct (first, second) series; a pair first seen beyond it is counted
   * under (first, `OTHER`) instead, so a node with 100 000 agents does not export 100 000 series per
   * per-agent counter (Prometheus memory grows with series). Infinity = no bound. `maxPerFirst`: at most
   * this many of them with one first label (a tenant), so one tenant's agents cannot take every slot of
   * `maxPairs` and leave every other tenant's agents under `OTHER`.
   */
  constructor(
    readonly counter: Counter<string>,
    private readonly first: string,
    private readonly second: string,
    private readonly maxPairs = Number.POSITIVE_INFINITY,
    private readonly maxPerFirst = Number.POSITIVE_INFINITY,
  ) {}

  inc(a: string, b: string): void {
    this.entry(a, b).n++;
  }

  /**
   * Makes the pair's series exist at 0 from the next read on, before anything is counted under it:
   * `increase()` and `rate()` see a series' first increment only if an earlier sample holds the value
   * before it, so a series born at 1 would hide its first occurrence from every alert. Called when a
   * queue, an agent or a tenant becomes known. Within the bound like `inc` (past it, the `OTHER` pair).
   */
  touch(a: string, b: string): void {
    this.entry(a, b);
  }

  private entry(a: string, b: string): { n: number; shown: boolean } {
    let byB = this.pending.get(a);
    if (byB === undefined) {
      byB = new Map();
      this.pending.set(a, byB);
    }
    let c = byB.get(b);
    if (c === undefined) {
      if (b !== OTHER && (this.pairs >= this.maxPairs || ownSeries(byB) >= this.maxPerFirst)) {
        return this.entry(a, OTHER);
      }
      if (b !== OTHER) this.pairs++;
      c = { n: 0, shown: false };
      byB.set(b, c);
    }
    return c;
  }

  /**
   * Drops the pair's series and frees its slot under `maxPairs` (a pair counted under `OTHER` holds
   * none: nothing to free, and the shared `OTHER` series stays). What it counted since the last read is
   * dropped with it.
   */
  forget(a: string, b: string): void {
    const byB = this.pending.get(a);
    if (byB === undefined || b === OTHER || !byB.delete(b)) return;
    this.pairs--;
    this.counter.remove({ [this.first]: a, [this.second]: b });
  }

  /** Drops every series whose first label is `a` (the `OTHER` one too) and frees their slots. */
  forgetFirst(a: string): void {
    const byB = this.pending.get(a);
    if (byB === undefined) return;
    for (const b of byB.keys()) {
      if (b !== OTHER) this.pairs--;
      this.counter.remove({ [this.first]: a, [this.second]: b });
    }
    this.pending.delete(a);
  }

  /** The second labels of `a`'s series (`OTHER` included). */
  seconds(a: string): string[] {
    return [...(this.pending.get(a)?.keys() ?? [])];
  }

  /** Adds what was counted since the last read to the counter (a pair read for the first time: at 0 too). */
  flush(): void {
    for (const [a, byB] of this.pending) {
      for (const [b, c] of byB) {
        if (c.n === 0 && c.shown) continue;
        this.counter.inc({ [this.first]: a, [this.second]: b }, c.n);
        c.n = 0;
        c.shown = true;
      }
    }
  }
}

/** The second label of everything counted past a `PairCounter`'s bound (e.g. `agent="_other"`). */
export const OTHER = '_other';

/** How many of one first label's series hold a slot (all but `OTHER`). */
function ownSeries(byB: Map<string, unknown>): number {
  return byB.size - (byB.has(OTHER) ? 1 : 0);
}

/** One `PairCounter` per prom-client counter, so two hosts sharing a registry also share the pending counts. */
const pairCounters = new WeakMap<Counter<string>, PairCounter>();

export interface MetricsSources {
  inflight: () => number;
  partitionsOwned: () => number;
  /** Partitions held after ending too many worker threads (absent: not exported). */
  partitionsHeld?: () => number;
  /** Partitions refused: log trimmed past the snapshot this node can load, or stored state damaged (absent: not exported). */
  partitionsRefused?: () => number;
  /** Events kept for resumed watches (`--event-history`) and how many were evicted so far (absent: not exported). */
  eventHistory?: () => { events: number; evicted: number };
  queueStats: QueueStatsSource;
  /** Cluster mode: this node's lease losses so far, by how (see `KvOwnership.leaseLosses`). */
  leaseLosses?: () => Record<string, number>;
  /** Cluster mode: this node's failed lease renewals so far (see `KvOwnership.renewalFailures`). */
  leaseRenewalFailures?: () => number;
  /** With TLS: the PEM certificate (chain) in service now. */
  tlsCertificate?: () => Buffer;
  /** Age of the oldest snapshot among partitions with unsaved changes, seconds (see the host). */
  snapshotAgeSeconds?: () => number;
  /** How far the partition time furthest ahead runs ahead of this node's clock, seconds (see the host). */
  partitionTimeAheadSeconds?: () => number;
  /** Per-agent counters: most (tenant, agent) series each, the rest under agent `_other` (default: no bound). */
  agentSeriesLimit?: number;
  /**
   * Per-agent counters: most series of one tenant each, within `agentSeriesLimit` (default: a quarter of
   * it, so one tenant cannot take all of them).
   */
  agentSeriesPerTenant?: number;
  /** `switchboard_build_info{version,node}` = 1 (absent: not exported). */
  build?: { version: string; node: string };
}

/** The `alert` values of `switchboard_queue_alert_active`: the engine's queue alerts that have a clearing one. */
export const QUEUE_ALERTS = ['sla_at_risk', 'sla_breached', 'queue_over_capacity'] as const;

/** Whether a queue's state has `alert` in force (what the engine last announced). */
export function queueAlertActive(s: QueueStats, alert: (typeof QUEUE_ALERTS)[number]): boolean {
  switch (alert) {
    case 'sla_at_risk':
      return s.serviceLevelState === 'at_risk';
    case 'sla_breached':
      return s.serviceLevelState === 'breached';
    case 'queue_over_capacity':
      return s.overCapacity;
  }
}

/** Registers (or reuses) every node metric on `registry`. */
export function createNodeMetrics(registry: Registry, sources: MetricsSources): NodeMetrics {
  const registers = [registry];
  const counter = <L extends string>(name: string, help: string, labelNames: L[]) =>
    getOrCreate(registry, name, () => new Counter<L>({ name, help, labelNames, registers })) as Counter<L>;
  const pair = (
    name: string,
    help: string,
    labelNames: [string, string],
    maxPairs = Number.POSITIVE_INFINITY,
    maxPerFirst = Number.POSITIVE_INFINITY,
  ): PairCounter => {
    const existing = registry.getSingleMetric(name) as Counter<string> | undefined;
    if (existing) {
      const known = pairCounters.get(existing);
      if (!known) throw new Error(`metric ${name} was registered outside createNodeMetrics`);
      return known;
    }
    let made: PairCounter | null = null;
    const c = new Counter<string>({
      name,
      help,
      labelNames,
      registers,
      collect() {
        made?.flush();
      },
    });
    made = new PairCounter(c, labelNames[0], labelNames[1], maxPairs, maxPerFirst);
    pairCounters.set(c, made);
    return made;
  };

  let cache: { at: number; value: Promise<{ tenant: string; stats: QueueStats[] }[]> } | null = null;
  const queueStats = () => {
    const now = Date.now();
    if (!cache || now - cache.at > 500) cache = { at: now, value: sources.queueStats().catch(() => []) };
    return cache.value;
  };
  const queueGauge = (name: string, help: string, pick: (s: QueueStats) => number | null) =>
    getOrCreate(
      registry,
      name,
      () =>
        new Gauge({
          name,
          help,
          labelNames: ['tenant', 'queue'],
          registers,
          async collect() {
            this.reset();
            for (const { tenant, stats } of await queueStats()) {
              for (const s of stats) {
                const v = pick(s);
                if (v !== null) this.labels(tenant, s.queueId).set(v);
              }
            }
          },
        }),
    );

  queueGauge(
    'switchboard_queue_waiting',
    'Conversations waiting in the queue: in line, held for an agent, or being offered',
    (s) => s.waiting,
  );
  queueGauge(
    'switchboard_queue_longest_wait_seconds',
    'Wait of the oldest waiting conversation',
    (s) => s.longestWaitMs / 1000,
  );
  queueGauge(
    'switchboard_queue_service_level',
    'Answered within the threshold / (answered + abandoned after it + waiting past it now), over the sliding window',
    (s) => s.serviceLevel,
  );
  queueGauge(
    'switchboard_queue_waiting_past_threshold',
    'Conversations waiting longer than the service-level threshold now',
    (s) => s.waitingPastThreshold,
  );
  queueGauge(
    'switchboard_queue_agents_available',
    'Agents able to take a conversation of the queue now',
    (s) => s.agentsAvailable,
  );
  queueGauge(
    'switchboard_queue_agents_online',
    'Agents of the queue online with a seat on its channel (capacity > 0: a chat-only agent does not staff a voice queue)',
    (s) => s.agentsOnline,
  );
  queueGauge(
    'switchboard_queue_average_wait_seconds',
    'Average wait of the conversations answered in the sliding window',
    (s) => s.averageWaitMs / 1000,
  );
  queueGauge(
    'switchboard_queue_abandonment_rate',
    'Abandoned / (answered + abandoned) over the sliding window, both counted when they happen (0..1)',
    (s) => s.abandonmentRate,
  );
  queueGauge(
    'switchboard_queue_average_handle_seconds',
    'Average handle time (talk + wrap-up) of the conversations handled in the sliding window',
    (s) => s.averageHandleMs / 1000,
  );
  queueGauge(
    'switchboard_queue_service_level_target',
    "The queue's own service-level target (0..1): what switchboard_queue_service_level is judged against",
    (s) => s.serviceLevelTarget,
  );
  queueGauge(
    'switchboard_queue_open',
    'Whether the queue is within its business hours now: 1 open (always, without business hours), 0 closed (waits do not count against the service level then)',
    (s) => (s.open ? 1 : 0),
  );
  getOrCreate(
    registry,
    'switchboard_queue_alert_active',
    () =>
      new Gauge({
        name: 'switchboard_queue_alert_active',
        help: "Queue alert conditions in force, from the queues' state at scrape time: 1 while active, else 0 (alert: sla_at_risk, sla_breached, queue_over_capacity)",
        labelNames: ['tenant', 'queue', 'alert'],
        registers,
        async collect() {
          this.reset();
          // Three series per queue, like the other per-queue gauges bounded by configuration (queues),
          // never by traffic; 0 as well as 1, so a cleared condition reads 0, not a vanished series.
          for (const { tenant, stats } of await queueStats()) {
            for (const s of stats) {
              for (const alert of QUEUE_ALERTS)
                this.labels(tenant, s.queueId, alert).set(queueAlertActive(s, alert) ? 1 : 0);
            }
          }
        },
      }),
  );
  getOrCreate(
    registry,
    'switchboard_host_inflight',
    () =>
      new Gauge({
        name: 'switchboard_host_inflight',
        help: 'Commands accepted by this node and not yet answered (bounded: beyond the cap, SB_ERR_OVERLOADED)',
        registers,
        collect() {
          this.set(sources.inflight());
        },
      }),
  );
  getOrCreate(
    registry,
    'switchboard_partitions_owned',
    () =>
      new Gauge({
        name: 'switchboard_partitions_owned',
        help: 'Partitions (tenants) loaded and served by this node',
        registers,
        collect() {
          this.set(sources.partitionsOwned());
        },
      }),
  );
  const held = sources.partitionsHeld;
  if (held)
    getOrCreate(
      registry,
      'switchboard_partitions_held',
      () =>
        new Gauge({
          name: 'switchboard_partitions_held',
          help: 'Partitions held (not loaded, calls answered UNAVAILABLE) after their work ended too many worker threads; the tenant is in the "partition held" log line',
          registers,
          collect() {
            this.set(held());
          },
        }),
    );
  const refused = sources.partitionsRefused;
  if (refused)
    getOrCreate(
      registry,
      'switchboard_partitions_refused',
      () =>
        new Gauge({
          name: 'switchboard_partitions_refused',
          help: 'Partitions refused (not loaded, calls answered UNAVAILABLE) because their command log was trimmed past the snapshot this node can load (its snapshot store lacks their snapshot), or their stored command log or snapshot is damaged; the tenant is in the "partition refused" log line',
          registers,
          collect() {
            this.set(refused());
          },
        }),
    );
  const history = sources.eventHistory;
  if (history) {
    getOrCreate(
      registry,
      'switchboard_event_history_events',
      () =>
        new Gauge({
          name: 'switchboard_event_history_events',
          help: 'Events this node keeps so that a WatchEvents client can resume after a reconnect (--event-history, node-wide, oldest evicted first)',
          registers,
          collect() {
            this.set(history().events);
          },
        }),
    );
    getOrCreate(
      registry,
      'switchboard_event_history_evicted_total',
      () =>
        new Counter({
          name: 'switchboard_event_history_evicted_total',
          help: 'Events evicted from the event history to stay within --event-history; a watch resuming from before them is answered SB_ERR_RESUME_POSITION_GONE and must resync',
          registers,
          // The history keeps the count: read it at scrape time.
          collect() {
            this.reset();
            this.inc(history().evicted);
          },
        }),
    );
  }
  getOrCreate(
    registry,
    'switchboard_node_lease_lost_total',
    () =>
      new Counter({
        name: 'switchboard_node_lease_lost_total',
        help: 'Times this node lost its cluster lease (each drops every partition it holds), by reason: fenced, expired, lapsed',
        labelNames: ['reason'],
        registers,
        // The ownership keeps the counts (it starts before the metrics exist): read them at scrape time.
        collect() {
          const losses = sources.leaseLosses?.();
          if (!losses) return;
          this.reset();
          for (const [reason, n] of Object.entries(losses)) this.inc({ reason }, n);
        },
      }),
  );
  getOrCreate(
    registry,
    'switchboard_node_lease_renewal_failures_total',
    () =>
      new Counter({
        name: 'switchboard_node_lease_renewal_failures_total',
        help: "Renewals of this node's cluster lease that failed (NATS unreachable or slow); failing for 0.4 × the lease TTL drops every partition (a lease loss, reason lapsed)",
        registers,
        collect() {
          const n = sources.leaseRenewalFailures?.();
          if (n === undefined) return;
          this.reset();
          this.inc(n);
        },
      }),
  );

  getOrCreate(
    registry,
    'switchboard_snapshot_age_seconds',
    () =>
      new Gauge({
        name: 'switchboard_snapshot_age_seconds',
        help: 'Seconds since the last snapshot of the partition waiting longest for one, among those with changes no snapshot holds (0 = none)',
        registers,
        collect() {
          this.set(sources.snapshotAgeSeconds?.() ?? 0);
        },
      }),
  );

  getOrCreate(
    registry,
    'switchboard_partition_time_ahead_seconds',
    () =>
      new Gauge({
        name: 'switchboard_partition_time_ahead_seconds',
        help: "How far the time of the partition furthest ahead runs ahead of this node's clock, seconds (0 = none): its timers fire that much late (the previous owner's clock was ahead of this one, or this clock stepped back)",
        registers,
        collect() {
          this.set(sources.partitionTimeAheadSeconds?.() ?? 0);
        },
      }),
  );

  if (sources.tlsCertificate) {
    const cert = sources.tlsCertificate;
    getOrCreate(
      registry,
      'switchboard_tls_certificate_expiry_timestamp_seconds',
      () =>
        new Gauge({
          name: 'switchboard_tls_certificate_expiry_timestamp_seconds',
          help: 'When the TLS certificate in service (the first of its chain) expires, Unix seconds',
          registers,
          // Read at scrape time: a rotated certificate shows at once.
          collect() {
            this.set(Date.parse(new X509Certificate(cert()).validTo) / 1000);
          },
        }),
    );
  }

  if (sources.build) {
    const build = sources.build;
    getOrCreate(
      registry,
      'switchboard_build_info',
      () =>
        new Gauge({
          name: 'switchboard_build_info',
          help: 'Always 1: the version this node runs and its node id (join on it, e.g. * on (pod) group_left(version))',
          labelNames: ['version', 'node'],
          registers,
        }),
    ).set(build, 1);
  }

  const m: Omit<
    NodeMetrics,
    'knowTenant' | 'knowQueue' | 'knowAgent' | 'forgetQueue' | 'forgetAgent' | 'forgetTenant'
  > = {
    assignmentLatency: getOrCreate(
      registry,
      'switchboard_assignment_latency_seconds',
      () =>
        new Histogram({
          name: 'switchboard_assignment_latency_seconds',
          help: 'Enqueue received by the node → assignment decided by the partition actor',
          buckets: LATENCY_BUCKETS,
          registers,
        }),
    ).labels(),
    logAppend: getOrCreate(
      registry,
      'switchboard_log_append_seconds',
      () =>
        new Histogram({
          name: 'switchboard_log_append_seconds',
          help: 'Durable append of one group-committed batch to the command log',
          buckets: LATENCY_BUCKETS,
          registers,
        }),
    ).labels(),
    engineApply: getOrCreate(
      registry,
      'switchboard_engine_apply_seconds',
      () =>
        new Histogram({
          name: 'switchboard_engine_apply_seconds',
          help: 'Engine time to apply one micro-batch inside a partition-host worker',
          buckets: LATENCY_BUCKETS,
          registers,
        }),
    ).labels(),
    inbound: pair(
      'switchboard_conversations_inbound_total',
      'Conversations enqueued by gateways (QueueStats.inbound also counts transfers into the queue)',
      ['tenant', 'queue'],
    ),
    assigned: pair(
      'switchboard_conversations_assigned_total',
      'Assignments to an agent, re-assignments after a transfer or a missed offer included (QueueStats.assigned counts first answers)',
      ['tenant', 'queue'],
    ),
    abandoned: pair('switchboard_conversations_abandoned_total', 'Conversations cancelled while waiting', [
      'tenant',
      'queue',
    ]),
    transferred: pair(
      'switchboard_conversations_transferred_total',
      'Conversations transferred out of a queue (to another queue or agent), by the queue they left',
      ['tenant', 'queue'],
    ),
    agentAssigned: pair(
      'switchboard_agent_assigned_total',
      'Conversations assigned, by agent (agents beyond --agent-series-limit or --agent-series-per-tenant under agent="_other")',
      ['tenant', 'agent'],
      sources.agentSeriesLimit,
      sources.agentSeriesPerTenant,
    ),
    offersMissed: pair(
      'switchboard_offers_missed_total',
      'Offers rejected or timed out, by agent (agents beyond --agent-series-limit or --agent-series-per-tenant under agent="_other")',
      ['tenant', 'agent'],
      sources.agentSeriesLimit,
      sources.agentSeriesPerTenant,
    ),
    queueOffersMissed: pair(
      'switchboard_queue_offers_missed_total',
      'Offers rejected or timed out, by the queue of the conversation offered',
      ['tenant', 'queue'],
    ),
    agentTransferred: pair(
      'switchboard_agent_transferred_total',
      'Conversations an agent transferred away, by agent (agents beyond --agent-series-limit or --agent-series-per-tenant under agent="_other")',
      ['tenant', 'agent'],
      sources.agentSeriesLimit,
      sources.agentSeriesPerTenant,
    ),
    alerts: counter(
      'switchboard_alerts_total',
      'Alerts raised by the engine, by tenant, alert and queue (queue="" for agent alerts)',
      ['tenant', 'alert', 'queue'],
    ),
    workerRestarts: counter(
      'switchboard_worker_restarts_total',
      'Partition-host worker threads replaced after a crash',
      [],
    ),
    poison: counter(
      'switchboard_poison_total',
      'Poison contained: commands quarantined after they halted the engine (reason=engine_halt) or ended their worker thread (worker_exit), partitions held after ending too many threads (partition_held)',
      ['reason'],
    ),
    snapshotFailures: counter(
      'switchboard_snapshot_failures_total',
      'Partition snapshots that failed (the log then keeps growing until one succeeds)',
      [],
    ),
    logWriteFailures: counter(
      'switchboard_log_write_failures_total',
      'Embedded: failed writes of command log files (op: write = an append failed, fdatasync = an --fsync interval flush failed, preallocate = zeros ahead of the data not written; code: ENOSPC, EIO, ...)',
      ['op', 'code'],
    ),
    logRebased: counter(
      'switchboard_log_rebased_total',
      'Embedded: command logs found ending before their snapshot (file lost, cut, or restored from an older copy) and restarted after it at load; anything they held after the snapshot is lost',
      [],
    ),
    tenantOverloaded: counter(
      'switchboard_tenant_overloaded_total',
      'Commands refused (SB_ERR_OVERLOADED) because their tenant had --max-inflight-per-tenant in flight',
      ['tenant'],
    ),
  };
  const perQueue = [m.inbound, m.assigned, m.abandoned, m.transferred, m.queueOffersMissed];
  const perAgent = [m.agentAssigned, m.offersMissed, m.agentTransferred];
  return {
    ...m,
    knowTenant(tenant) {
      m.tenantOverloaded.inc({ tenant }, 0);
      for (const alert of AGENT_ALERTS) m.alerts.inc({ tenant, alert, queue: '' }, 0);
    },
    knowQueue(tenant, queue) {
      for (const c of perQueue) c.touch(tenant, queue);
      for (const alert of QUEUE_ALERT_KINDS) m.alerts.inc({ tenant, alert, queue }, 0);
    },
    knowAgent(tenant, agent) {
      for (const c of perAgent) c.touch(tenant, agent);
    },
    forgetQueue(tenant, queue) {
      for (const c of perQueue) c.forget(tenant, queue);
      for (const alert of QUEUE_ALERT_KINDS) m.alerts.remove({ tenant, alert, queue });
    },
    forgetAgent(tenant, agent) {
      for (const c of perAgent) c.forget(tenant, agent);
    },
    forgetTenant(tenant) {
      // The tenant's queues: every queue counter touches the same ones (`knowQueue`), alerts included.
      const queues = new Set(perQueue.flatMap((c) => c.seconds(tenant)));
      queues.add('');
      for (const queue of queues) {
        for (const alert of [...QUEUE_ALERT_KINDS, ...AGENT_ALERTS])
          m.alerts.remove({ tenant, alert, queue });
      }
      for (const c of [...perQueue, ...perAgent]) c.forgetFirst(tenant);
      m.tenantOverloaded.remove({ tenant });
      // The per-queue gauges read statistics cached for 500 ms: the next scrape must not show the
      // tenant's queues from before it went (deleted, or moved to another node).
      cache = null;
    },
  };
}

/**
 * Generates `switchboard.json`, the Grafana dashboard, so panels stay uniform and reviewable as code:
 *
 *   node deploy/grafana/build-dashboard.mjs          # rewrites deploy/grafana/switchboard.json
 *
 * test/deploy/manifests.test.ts checks the committed JSON equals `buildDashboard()` and that every query
 * parses as PromQL and names only metrics listed in deploy/metrics-names.json.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// A literal Grafana variable reference, not a JS template.
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana interpolates ${DS_PROMETHEUS} itself.
const DS = { type: 'prometheus', uid: '${DS_PROMETHEUS}' };
const SEL = 'tenant=~"$tenant", queue=~"$queue"';
const TENANT = 'tenant=~"$tenant"';

/** Per-queue gauges: max, not sum, so a partition counted by two nodes during a handover is not doubled. */
const perQueue = (metric) => `max by (tenant, queue) (${metric}{${SEL}})`;
/** Per-queue counter rate, conversations per minute. */
const perQueueRate = (metric) => `60 * sum by (tenant, queue) (rate(${metric}{${SEL}}[$__rate_interval]))`;
const quantile = (q, metric, by, selector = '') =>
  `histogram_quantile(${q}, sum by (${[...by, 'le'].join(', ')}) (rate(${metric}_bucket${selector}[$__rate_interval])))`;

function target(expr, legendFormat, refId = 'A', extra = {}) {
  return { datasource: DS, expr, legendFormat, refId, range: true, ...extra };
}

function timeseries(
  title,
  description,
  targets,
  { unit = 'short', min = 0, max, stack = false, w = 12, h = 8, overrides = [] } = {},
) {
  return {
    type: 'timeseries',
    title,
    description,
    datasource: DS,
    gridPos: { h, w },
    fieldConfig: {
      defaults: {
        unit,
        min,
        ...(max === undefined ? {} : { max }),
        custom: {
          drawStyle: 'line',
          lineWidth: 1,
          fillOpacity: stack ? 30 : 5,
          showPoints: 'never',
          spanNulls: false,
          stacking: { mode: stack ? 'normal' : 'none', group: 'A' },
        },
      },
      overrides,
    },
    options: {
      legend: { displayMode: 'table', placement: 'right', calcs: ['lastNotNull', 'max'], showLegend: true },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
    targets,
  };
}

function bargauge(
  title,
  description,
  expr,
  legendFormat,
  { unit = 'short', w = 12, h = 8, thresholds, min, max } = {},
) {
  return {
    type: 'bargauge',
    title,
    description,
    datasource: DS,
    gridPos: { h, w },
    fieldConfig: {
      defaults: {
        unit,
        ...(min === undefined ? {} : { min }),
        ...(max === undefined ? {} : { max }),
        thresholds: thresholds ?? { mode: 'absolute', steps: [{ color: 'blue', value: null }] },
      },
      overrides: [],
    },
    options: {
      orientation: 'horizontal',
      displayMode: 'gradient',
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      showUnfilled: true,
    },
    targets: [target(expr, legendFormat, 'A', { range: false, instant: true })],
  };
}

function table(title, description, expr, { w = 12, h = 8 } = {}) {
  return {
    type: 'table',
    title,
    description,
    datasource: DS,
    gridPos: { h, w },
    fieldConfig: { defaults: {}, overrides: [] },
    options: { showHeader: true, footer: { show: false } },
    transformations: [
      {
        id: 'organize',
        options: { excludeByName: { Time: true, Value: true, __name__: true, alertstate: true } },
      },
    ],
    targets: [target(expr, '', 'A', { range: false, instant: true, format: 'table' })],
  };
}

const SL_THRESHOLDS = {
  mode: 'absolute',
  steps: [
    { color: 'red', value: null },
    { color: 'orange', value: 0.8 },
    { color: 'green', value: 0.85 },
  ],
};

/** The series of query `refId` is a plain count (beside a panel unit such as seconds), on a right axis. */
const COUNT_ON_RIGHT = (refId) => ({
  matcher: { id: 'byFrameRefID', options: refId },
  properties: [
    { id: 'unit', value: 'short' },
    { id: 'custom.axisPlacement', value: 'right' },
    { id: 'decimals', value: 0 },
  ],
});

/** Draws the `floor` series as a dashed red line. */
const FLOOR_LINE = {
  matcher: { id: 'byName', options: 'floor' },
  properties: [
    { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
    { id: 'color', value: { mode: 'fixed', fixedColor: 'red' } },
  ],
};

const ROWS = [
  [
    'Service levels',
    [
      timeseries(
        'Service level per queue vs floor',
        'Answered within the queue threshold ÷ (answered + abandoned after it + still waiting past it) over its sliding window: a queue nobody answers drops to 0. Each queue\u2019s own target is drawn too (the alerts: breached below it, at risk within 5 points above it); the dashed floor is $sl_target.',
        [
          target(perQueue('switchboard_queue_service_level'), '{{tenant}}/{{queue}}'),
          target('vector($sl_target)', 'floor', 'B'),
          target(perQueue('switchboard_queue_service_level_target'), 'target {{tenant}}/{{queue}}', 'C'),
        ],
        { unit: 'percentunit', max: 1, overrides: [FLOOR_LINE] },
      ),
      bargauge(
        'Service level now',
        'Current service level per queue; red below 80 %, orange below 85 %.',
        perQueue('switchboard_queue_service_level'),
        '{{tenant}}/{{queue}}',
        { unit: 'percentunit', min: 0, max: 1, thresholds: SL_THRESHOLDS },
      ),
      timeseries(
        'Waiting conversations',
        'Conversations queued, per queue.',
        [target(perQueue('switchboard_queue_waiting'), '{{tenant}}/{{queue}}')],
        { w: 8 },
      ),
      timeseries(
        'Longest wait',
        'Age of the oldest waiting conversation, per queue.',
        [target(perQueue('switchboard_queue_longest_wait_seconds'), '{{tenant}}/{{queue}}')],
        { unit: 's', w: 8 },
      ),
      timeseries(
        'Agents available',
        'Agents online with free capacity on the queue\u2019s channel and the skills it requires.',
        [target(perQueue('switchboard_queue_agents_available'), '{{tenant}}/{{queue}}')],
        { w: 8 },
      ),
      timeseries(
        'Waiting past the threshold',
        'Customers who have waited longer than the queue\u2019s service-level threshold: they already count against the service level.',
        [target(perQueue('switchboard_queue_waiting_past_threshold'), '{{tenant}}/{{queue}}')],
        { w: 8 },
      ),
      timeseries(
        'Agents online, queue open',
        'Agents of the queue logged in (online) with a seat on its channel, busy or not; and whether the queue is within its business hours (open 1, closed 0: waits do not count against the service level while closed).',
        [
          target(perQueue('switchboard_queue_agents_online'), '{{tenant}}/{{queue}}'),
          target(perQueue('switchboard_queue_open'), 'open {{tenant}}/{{queue}}', 'B'),
        ],
        { w: 8 },
      ),
      timeseries(
        'Average wait and handle time',
        'Over each queue\u2019s sliding window: average wait of answered conversations and average handle time (talk + wrap-up) of handled ones.',
        [
          target(perQueue('switchboard_queue_average_wait_seconds'), 'wait {{tenant}}/{{queue}}'),
          target(perQueue('switchboard_queue_average_handle_seconds'), 'handle {{tenant}}/{{queue}}', 'B'),
        ],
        { unit: 's', w: 8 },
      ),
      table(
        'Queue alerts in force',
        'Engine alert conditions holding now per queue (switchboard_queue_alert_active, against each queue\u2019s own target and maximum size; SwitchboardEngineAlert).',
        `max by (tenant, queue, alert) (switchboard_queue_alert_active{${SEL}}) == 1`,
        { w: 16 },
      ),
      timeseries(
        'Abandonment rate (engine window)',
        'Abandoned ÷ (answered + abandoned) over each queue\u2019s sliding window, as the statistics API reports it.',
        [target(perQueue('switchboard_queue_abandonment_rate'), '{{tenant}}/{{queue}}')],
        { unit: 'percentunit', max: 1, w: 8 },
      ),
    ],
  ],
  [
    'Throughput',
    [
      timeseries(
        'Inbound',
        'Conversations enqueued per minute.',
        [target(perQueueRate('switchboard_conversations_inbound_total'), '{{tenant}}/{{queue}}')],
        { unit: 'cpm', w: 6 },
      ),
      timeseries(
        'Assigned',
        'Conversations assigned to an agent per minute.',
        [target(perQueueRate('switchboard_conversations_assigned_total'), '{{tenant}}/{{queue}}')],
        { unit: 'cpm', w: 6 },
      ),
      timeseries(
        'Abandoned',
        'Customers who left while waiting, per minute.',
        [target(perQueueRate('switchboard_conversations_abandoned_total'), '{{tenant}}/{{queue}}')],
        { unit: 'cpm', w: 6 },
      ),
      timeseries(
        'Transferred',
        'Conversations transferred out of the queue, per minute.',
        [target(perQueueRate('switchboard_conversations_transferred_total'), '{{tenant}}/{{queue}}')],
        { unit: 'cpm', w: 6 },
      ),
      timeseries(
        'Missed offers',
        'Offers rejected or timed out, per minute, by the queue of the conversation: a queue whose offers go unanswered needs its offer timeout or its staffing looked at.',
        [target(perQueueRate('switchboard_queue_offers_missed_total'), '{{tenant}}/{{queue}}')],
        { unit: 'cpm', w: 6 },
      ),
      timeseries(
        'Abandonment ratio (counters)',
        'Abandoned ÷ (assignments + abandoned) from the node counters over the rate window, for any dashboard range. Not the engine\u2019s figure: assignments count every one, re-assignments after a transfer or a missed offer included, so with transfers this reads lower. The engine\u2019s abandonment rate (first answers and abandons, over each queue\u2019s sliding window, as the statistics API reports it) is the panel \u201cAbandonment rate (engine window)\u201d.',
        [
          target(
            `sum by (tenant, queue) (rate(switchboard_conversations_abandoned_total{${SEL}}[$__rate_interval])) / (sum by (tenant, queue) (rate(switchboard_conversations_assigned_total{${SEL}}[$__rate_interval])) + sum by (tenant, queue) (rate(switchboard_conversations_abandoned_total{${SEL}}[$__rate_interval])))`,
            '{{tenant}}/{{queue}}',
          ),
        ],
        { unit: 'percentunit' },
      ),
      timeseries(
        'API calls and errors',
        'Calls per second by method, and errors per second by SB_ERR code.',
        [
          target(
            'sum by (method) (rate(switchboard_command_duration_seconds_count[$__rate_interval]))',
            '{{method}}',
          ),
          target('sum by (code) (rate(switchboard_errors_total[$__rate_interval]))', 'error {{code}}', 'B'),
        ],
        { unit: 'reqps' },
      ),
    ],
  ],
  [
    'Latency',
    [
      timeseries(
        'Assignment latency (all nodes)',
        'Enqueue received → assignment decided. Target: sub-millisecond median; alert at p99 > 1 ms.',
        [
          target(quantile(0.5, 'switchboard_assignment_latency_seconds', []), 'p50'),
          target(quantile(0.99, 'switchboard_assignment_latency_seconds', []), 'p99', 'B'),
          target(quantile(0.999, 'switchboard_assignment_latency_seconds', []), 'p999', 'C'),
        ],
        { unit: 's' },
      ),
      timeseries(
        'Assignment latency p99 per node',
        'A single slow node points at that node (event loop, worker, NATS connection), not the engine.',
        [target(quantile(0.99, 'switchboard_assignment_latency_seconds', ['pod']), '{{pod}}')],
        { unit: 's' },
      ),
      timeseries(
        'Command duration p99 by method',
        'Service layer: validation, routing, durable apply.',
        [target(quantile(0.99, 'switchboard_command_duration_seconds', ['method']), '{{method}}')],
        { unit: 's' },
      ),
      timeseries(
        'Command duration p50 by method',
        'Service layer: validation, routing, durable apply.',
        [target(quantile(0.5, 'switchboard_command_duration_seconds', ['method']), '{{method}}')],
        { unit: 's' },
      ),
      timeseries(
        'Engine apply time per micro-batch',
        'Pure engine time inside a worker (target: p99 ≤ 20 µs per decision). If assignment latency is high and this is not, the cost is in the shell: thread hop, log append, event loop.',
        [
          target(quantile(0.5, 'switchboard_engine_apply_seconds', ['pod']), 'p50 {{pod}}'),
          target(quantile(0.99, 'switchboard_engine_apply_seconds', ['pod']), 'p99 {{pod}}', 'B'),
        ],
        { unit: 's', w: 24 },
      ),
    ],
  ],
  [
    'Agents',
    [
      bargauge(
        'Assigned per agent (top 20, dashboard range)',
        'Conversations assigned per agent over the selected time range: a skew within one team points at the strategy or at skills.',
        `topk(20, sum by (tenant, agent) (increase(switchboard_agent_assigned_total{${TENANT}}[$__range])))`,
        '{{tenant}}/{{agent}}',
      ),
      bargauge(
        'Missed offers per agent (top 20, dashboard range)',
        'Offers rejected or timed out. After K in a row the agent is set away.',
        `topk(20, sum by (tenant, agent) (increase(switchboard_offers_missed_total{${TENANT}}[$__range])))`,
        '{{tenant}}/{{agent}}',
        {
          thresholds: {
            mode: 'absolute',
            steps: [
              { color: 'green', value: null },
              { color: 'orange', value: 3 },
              { color: 'red', value: 10 },
            ],
          },
        },
      ),
      bargauge(
        'Transfers per agent (top 20, dashboard range)',
        'Conversations each agent transferred away: many transfers from one agent point at skills or routing that send them the wrong work.',
        `topk(20, sum by (tenant, agent) (increase(switchboard_agent_transferred_total{${TENANT}}[$__range])))`,
        '{{tenant}}/{{agent}}',
      ),
    ],
  ],
  [
    'Cluster',
    [
      timeseries(
        'Partitions owned per node',
        'Leases held. The sum should stay flat; a node\u2019s share moves to the others on failover. Held: partitions not loaded after their work ended too many worker threads (an operator\u2019s job; the tenant is in the \u201cpartition held\u201d log line). Refused: partitions not loaded because their log was trimmed past the snapshot the node can load (its snapshot store lacks it; \u201cpartition refused\u201d log line).',
        [
          target('sum by (pod) (switchboard_partitions_owned)', '{{pod}}'),
          target('sum(switchboard_partitions_owned)', 'total', 'B'),
          target('sum(switchboard_partitions_held)', 'held', 'C'),
          target('sum(switchboard_partitions_refused)', 'refused', 'D'),
        ],
        { w: 6 },
      ),
      timeseries(
        'Command-log append latency',
        'Group commit to JetStream until the quorum ack (baseline p50 ≈ 165 µs, p99 ≈ 300 µs on this hardware class).',
        [
          target(quantile(0.5, 'switchboard_log_append_seconds', ['pod']), 'p50 {{pod}}'),
          target(quantile(0.99, 'switchboard_log_append_seconds', ['pod']), 'p99 {{pod}}', 'B'),
        ],
        { unit: 's', w: 6 },
      ),
      timeseries(
        'Host in-flight',
        'Commands inside partition workers, not yet answered. Near the queue limit, calls get RESOURCE_EXHAUSTED; a tenant at its own limit (--max-inflight-per-tenant) shows as refused.',
        [
          target('sum by (pod) (switchboard_host_inflight)', '{{pod}}'),
          target(
            `sum by (tenant) (increase(switchboard_tenant_overloaded_total{${TENANT}}[$__rate_interval]))`,
            '{{tenant}} refused at its limit',
            'B',
          ),
        ],
        { w: 6 },
      ),
      timeseries(
        'Worker restarts and lease losses',
        'Partition worker threads replaced after a crash (their partitions are restored from snapshot + log), poison contained (commands quarantined after they ended a thread or halted the engine, partitions held after ending too many threads), and cluster lease losses (each drops every tenant of the node: fenced, expired, lapsed) with the failed lease renewals that lead to a lapse (NATS unreachable or slow); embedded mode: failed command log writes (ENOSPC: disk full; EIO: disk failed) and command logs found ending before their snapshot and restarted after it (anything they held after the snapshot is lost: SwitchboardLogRebased).',
        [
          target(
            'sum by (pod) (increase(switchboard_worker_restarts_total[$__rate_interval]))',
            '{{pod}} worker',
          ),
          target('sum(up{job="switchboard"})', 'nodes up', 'B'),
          target(
            'sum by (pod, reason) (increase(switchboard_node_lease_lost_total[$__rate_interval]))',
            '{{pod}} lease {{reason}}',
            'C',
          ),
          target(
            'sum by (pod, reason) (increase(switchboard_poison_total[$__rate_interval]))',
            '{{pod}} poison {{reason}}',
            'D',
          ),
          target(
            'sum by (pod) (increase(switchboard_node_lease_renewal_failures_total[$__rate_interval]))',
            '{{pod}} lease renewals failed',
            'E',
          ),
          target(
            'sum by (pod, op, code) (increase(switchboard_log_write_failures_total[$__rate_interval]))',
            '{{pod}} log {{op}} {{code}}',
            'F',
          ),
          target(
            // Not increase(): it happens as the node loads its tenants, before its first scrape.
            'max by (pod) (switchboard_log_rebased_total)',
            '{{pod}} logs restarted after their snapshot (since the node started)',
            'G',
          ),
        ],
        { w: 6 },
      ),
      table(
        'Node versions',
        'The version each node runs and its node id (switchboard_build_info): during a rollout, old and new side by side.',
        'max by (pod, node, version) (switchboard_build_info)',
        { w: 12, h: 6 },
      ),
      timeseries(
        'Partition time ahead of the node clock',
        'How far the partition time furthest ahead runs ahead of each node\u2019s clock: its timers fire that much late. Above a second, the nodes\u2019 clocks disagree (SwitchboardPartitionTimeAhead: check NTP).',
        [target('max by (pod) (switchboard_partition_time_ahead_seconds)', '{{pod}}')],
        { unit: 's', w: 12, h: 6 },
      ),
      timeseries(
        'Event history for resumed watches',
        'Events each embedded node keeps so that a WatchEvents client that reconnects can resume where it left off (--event-history), and how many are evicted per interval. A gateway whose outage outlasts the history gets SB_ERR_RESUME_POSITION_GONE and must resync: raise --event-history if evictions run high.',
        [
          target('max by (pod) (switchboard_event_history_events)', '{{pod}} kept', 'A'),
          target(
            'sum by (pod) (increase(switchboard_event_history_evicted_total[$__rate_interval]))',
            '{{pod}} evicted',
            'B',
          ),
        ],
        { w: 12, h: 6 },
      ),
    ],
  ],
  [
    'Alerts',
    [
      table(
        'Firing Switchboard alerts',
        'Prometheus alerts from deploy/kubernetes/prometheusrule.yaml; see deploy/RUNBOOK.md for each.',
        'ALERTS{alertname=~"Switchboard.*", alertstate="firing"}',
      ),
      timeseries(
        'Engine alerts',
        'Alerts the routing engine raised (against each queue\u2019s own target), per tenant and queue.',
        [
          target(
            `sum by (tenant, queue, alert) (increase(switchboard_alerts_total{${TENANT}}[$__rate_interval]))`,
            '{{tenant}}/{{queue}} {{alert}}',
          ),
        ],
        { stack: true, w: 4 },
      ),
      timeseries(
        'Snapshots',
        'Oldest snapshot among partitions with unsaved changes (a takeover replays the log after it; SwitchboardSnapshotsStale) and failed snapshots.',
        [
          target('max by (pod) (switchboard_snapshot_age_seconds)', '{{pod}} oldest unsaved'),
          target(
            'sum by (pod) (increase(switchboard_snapshot_failures_total[$__rate_interval]))',
            '{{pod}} failed',
            'B',
          ),
        ],
        // The age is seconds; the failures are a count, on their own axis.
        { unit: 's', w: 4, overrides: [COUNT_ON_RIGHT('B')] },
      ),
      bargauge(
        'TLS certificate expires in',
        'Time left on the certificate each node serves (--tls-cert; empty without TLS). Red under 7 days: SwitchboardTlsCertificateExpiring.',
        'min by (pod) (switchboard_tls_certificate_expiry_timestamp_seconds) - time()',
        '{{pod}}',
        {
          unit: 's',
          w: 4,
          min: 0,
          thresholds: {
            mode: 'absolute',
            steps: [
              { color: 'red', value: null },
              { color: 'orange', value: 7 * 86400 },
              { color: 'green', value: 21 * 86400 },
            ],
          },
        },
      ),
    ],
  ],
];

function queryVariable(name, label, query) {
  return {
    name,
    label,
    type: 'query',
    datasource: DS,
    definition: query,
    query: { query, refId: 'PrometheusVariableQueryEditor-VariableQuery', qryType: 1 },
    refresh: 2,
    includeAll: true,
    multi: true,
    allValue: '.*',
    current: { selected: true, text: ['All'], value: ['$__all'] },
    sort: 1,
    hide: 0,
    options: [],
    regex: '',
  };
}

/** The dashboard model (Grafana JSON, schemaVersion 39). */
export function buildDashboard() {
  const panels = [];
  let id = 1;
  let y = 0;
  for (const [title, children] of ROWS) {
    panels.push({
      type: 'row',
      title,
      id: id++,
      collapsed: false,
      gridPos: { h: 1, w: 24, x: 0, y },
      panels: [],
    });
    y += 1;
    let x = 0;
    let rowHeight = 0;
    for (const p of children) {
      if (x + p.gridPos.w > 24) {
        x = 0;
        y += rowHeight;
        rowHeight = 0;
      }
      panels.push({ ...p, id: id++, gridPos: { ...p.gridPos, x, y } });
      x += p.gridPos.w;
      rowHeight = Math.max(rowHeight, p.gridPos.h);
    }
    y += rowHeight;
  }
  return {
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
      ],
    },
    description:
      'Switchboard: service levels, throughput, latency, agents and cluster health (deploy/RUNBOOK.md).',
    editable: true,
    fiscalYearStartMonth: 0,
    graphTooltip: 1,
    id: null,
    links: [],
    panels,
    refresh: '30s',
    schemaVersion: 39,
    tags: ['switchboard', 'contact-center'],
    templating: {
      list: [
        {
          name: 'DS_PROMETHEUS',
          label: 'Data source',
          type: 'datasource',
          query: 'prometheus',
          current: {},
          hide: 0,
          refresh: 1,
          regex: '',
          options: [],
        },
        queryVariable('tenant', 'Tenant', 'label_values(switchboard_queue_waiting, tenant)'),
        queryVariable('queue', 'Queue', 'label_values(switchboard_queue_waiting{tenant=~"$tenant"}, queue)'),
        {
          name: 'sl_target',
          label: 'SL floor',
          type: 'custom',
          query: '0.8,0.85,0.9,0.95',
          current: { selected: true, text: '0.85', value: '0.85' },
          options: ['0.8', '0.85', '0.9', '0.95'].map((v) => ({ selected: v === '0.85', text: v, value: v })),
          hide: 0,
          multi: false,
          includeAll: false,
        },
      ],
    },
    time: { from: 'now-6h', to: 'now' },
    timepicker: {},
    timezone: 'browser',
    title: 'Switchboard',
    uid: 'switchboard-overview',
    version: 1,
    weekStart: '',
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = fileURLToPath(new URL('./switchboard.json', import.meta.url));
  writeFileSync(out, `${JSON.stringify(buildDashboard(), null, 2)}\n`);
  console.log(`wrote ${out}`);
}

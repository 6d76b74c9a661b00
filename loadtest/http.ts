/**
 * `npm run loadtest` — autocannon against the HTTP/JSON API, with the node's own µs histogram.
 *
 *   npm run loadtest                                   # starts its own node on free ports
 *   npm run loadtest -- --connections 20 --duration 30
 *   npm run loadtest -- --rate 2000                    # fixed overall rate instead of flat out
 *   npm run loadtest -- --target http://host:8080 --token tok
 *
 * autocannon posts Enqueue (`POST /v1/tenants/{t}/conversations`) with a fresh conversation id per
 * request; a side loop ends every assigned conversation (`…/{id}:end`) as soon as it is assigned, so
 * agents keep freeing capacity and the run is a steady state, not an ever-growing queue. autocannon
 * counts whole milliseconds, so the node's `switchboard_assignment_latency_seconds` histogram is read
 * from `/metrics` before and after and its difference gives the server-side µs percentiles.
 * Last line: {"rps":..,"p50_ms":..,"p99_ms":..,"errors":0,"server_assign_p50_us":..,"server_assign_p99_us":..}.
 */

import autocannon from 'autocannon';
import { scriptArgs } from './lib/args.js';
import { WindowedLatency } from './lib/load-loops.js';
import { type ChildServer, startSwitchboardNode } from './lib/node-process.js';
import {
  ASSIGNMENT_LATENCY,
  diffHistogram,
  type HistogramScrape,
  histogramQuantile,
  parseHistogram,
  scrapeHistogram,
  scrapeText,
  serverBreakdown,
} from './lib/prom.js';
import { writeReport } from './lib/report.js';

const SPEC = {
  usage: 'npm run loadtest -- [options]',
  options: {
    target: {
      type: 'string',
      value: 'URL',
      help: "existing node's HTTP base URL (default: start one on free ports)",
    },
    token: { type: 'string', value: 'TOKEN', help: 'bearer token for --target' },
    connections: { type: 'int', default: 10, min: 1, help: 'autocannon connections' },
    duration: { type: 'number', default: 20, min: 1, help: 'seconds of load' },
    rate: {
      type: 'number',
      min: 1,
      help: 'fixed overall enqueue rate per second (default: as fast as it answers)',
    },
    agents: { type: 'int', default: 50, min: 1, help: 'agents created, 100 chat conversations each' },
    'node-args': {
      type: 'string',
      default: '',
      value: '"ARGS"',
      help: 'extra flags for the node it starts, e.g. --node-args="--fsync interval"',
    },
    'no-report': { type: 'boolean', help: 'skip the HTML/JSON files' },
  },
} as const;

async function main(): Promise<number> {
  const values = scriptArgs(SPEC);
  let node: ChildServer | undefined;
  let base: string;
  if (values.target) base = values.target.replace(/\/$/, '');
  else {
    node = await startSwitchboardNode(values['node-args'].split(/\s+/).filter(Boolean));
    base = `http://127.0.0.1:${node.listening.httpPort}`;
    console.log(`node started: HTTP ${node.listening.httpPort}, gRPC ${node.listening.grpcPort}`);
  }
  try {
    return await run(base);
  } finally {
    await node?.stop();
  }

  async function run(base: string): Promise<number> {
    const tenant = 'loadtest';
    const queueId = 'lt-chat';
    const T = `${base}/v1/tenants/${tenant}`;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (values.token) headers.authorization = `Bearer ${values.token}`;
    const send = async (method: string, url: string, body?: unknown) => {
      const res = await fetch(url, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${url}: HTTP ${res.status} ${text}`);
      return text;
    };

    // ---- setup ----
    await send('PUT', `${T}/queues/${queueId}`, {
      id: queueId,
      name: 'Load test chat',
      channel: 'CHANNEL_CHAT',
      requiredSkills: [{ skill: 'support', minLevel: 1 }],
      strategy: 'STRATEGY_LEAST_BUSY',
      priority: 5,
      serviceLevel: { target: 0.9, thresholdSeconds: 10, windowSeconds: 3600 },
    });
    const agents = values.agents;
    for (let i = 0; i < agents; i++) {
      const id = `lt-agent-${i}`;
      await send('PUT', `${T}/agents/${id}`, {
        id,
        displayName: `Agent ${i}`,
        skills: [{ skill: 'support', level: 5 }],
        tier: 1,
        capacity: { chat: 100 },
        wrapUpSeconds: 0,
      });
      await send('POST', `${T}/agents/${id}/presence`, { presence: 'PRESENCE_ONLINE' });
    }

    const metricsUrl = `${base}/metrics`;
    const runId = `lt${Date.now().toString(36)}`;
    let seq = 0;
    const statuses: Record<string, number> = {};
    const toEnd: string[] = [];
    const toCancel: string[] = [];
    let cancelled = 0;
    let ended = 0;
    let assignedAll = 0;
    let endErrors = 0;
    let firstEndError: string | undefined;
    let stopEnding = false;

    // The side loop: end each assigned conversation right away, a few calls in flight.
    const endWorker = async () => {
      while (!stopEnding || toEnd.length > 0 || toCancel.length > 0) {
        const cancel = toCancel.shift();
        if (cancel !== undefined) {
          // A queued conversation may have been assigned meanwhile: then cancel is refused and it is ended.
          await send('POST', `${T}/conversations/${cancel}:cancel`, {}).then(
            () => cancelled++,
            () => {
              // Refused: it was assigned after it queued, so it counts as assigned and is ended.
              assignedAll++;
              toEnd.push(cancel);
            },
          );
          continue;
        }
        const id = toEnd.shift();
        if (id === undefined) {
          await new Promise((r) => setTimeout(r, 2));
          continue;
        }
        try {
          await send('POST', `${T}/conversations/${id}:end`, { outcome: 'OUTCOME_RESOLVED' });
          ended++;
        } catch (err) {
          endErrors++;
          firstEndError ??= err instanceof Error ? err.message : String(err);
        }
      }
    };

    const connections = values.connections;
    const duration = values.duration;
    const enqueueRequest = {
      method: 'POST' as const,
      path: `/v1/tenants/${tenant}/conversations`,
      headers,
      setupRequest: (req: autocannon.Request) => {
        const n = seq++;
        return {
          ...req,
          body: JSON.stringify({
            id: `${runId}-${n}`,
            channel: 'CHANNEL_CHAT',
            customer: { id: `cust-${n % 5000}` },
            queueId,
            priority: 5,
          }),
        };
      },
      onResponse: (status: number, body: string) => {
        if (status !== 200) return;
        try {
          const r = JSON.parse(body) as { status?: string; conversationId?: string };
          statuses[r.status ?? '?'] = (statuses[r.status ?? '?'] ?? 0) + 1;
          if (r.status === 'ENQUEUE_STATUS_ASSIGNED' && r.conversationId) {
            assignedAll++;
            toEnd.push(r.conversationId);
          } else if (
            r.conversationId &&
            (r.status === 'ENQUEUE_STATUS_QUEUED' || r.status === 'ENQUEUE_STATUS_OVER_CAPACITY')
          ) {
            // Nobody free (the end loop fell behind): the customer leaves, so no capacity is held for ever.
            toCancel.push(r.conversationId);
          }
        } catch {
          statuses.unparseable = (statuses.unparseable ?? 0) + 1;
        }
      },
    };
    const cannon = (seconds: number, lat?: WindowedLatency) =>
      new Promise<autocannon.Result>((resolve, reject) => {
        const inst = autocannon(
          {
            url: base,
            connections,
            duration: seconds,
            ...(values.rate !== undefined ? { overallRate: values.rate } : {}),
            requests: [enqueueRequest],
          },
          (err, result) => (err ? reject(err) : resolve(result)),
        );
        if (lat) {
          // autocannon hands each response's time as fractional ms here, before rounding it for its own histogram.
          inst.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => {
            lat.record(BigInt(Math.round(ms * 1e6)), process.hrtime.bigint());
          });
        }
      });

    // As many enders as autocannon connections, so ending keeps pace with enqueueing.
    const workers = Array.from({ length: Math.max(2, connections) }, endWorker);
    console.log('warm-up 2 s…');
    await cannon(2);
    const beforeText = await scrapeText(metricsUrl);
    const before = beforeText === null ? null : parseHistogram(beforeText, ASSIGNMENT_LATENCY);
    for (const k of Object.keys(statuses)) delete statuses[k];

    // Once a second, the node's own histogram since the previous second: server µs percentiles over time.
    const serverPerSecond: { second: number; p50_us: number | null; p99_us: number | null; count: number }[] =
      [];
    let prev: HistogramScrape | null = before;
    const t0 = Date.now();
    const sampler = setInterval(async () => {
      const cur = await scrapeHistogram(metricsUrl, ASSIGNMENT_LATENCY).catch(() => null);
      if (!cur) return;
      const d = diffHistogram(prev, cur);
      prev = cur;
      const q = (p: number) => (d.count > 0 ? Math.round(histogramQuantile(d, p) * 1e6) : null);
      serverPerSecond.push({
        second: Math.round((Date.now() - t0) / 1000),
        p50_us: q(0.5),
        p99_us: q(0.99),
        count: d.count,
      });
    }, 1000);

    const lat = new WindowedLatency(process.hrtime.bigint());
    console.log(
      `autocannon: ${connections} connections, ${duration} s${values.rate !== undefined ? `, ${values.rate}/s` : ''}…`,
    );
    const result = await cannon(duration, lat);
    clearInterval(sampler);
    stopEnding = true;
    await Promise.all(workers);
    const afterText = await scrapeText(metricsUrl);
    const after = afterText === null ? null : parseHistogram(afterText, ASSIGNMENT_LATENCY);
    const breakdown = serverBreakdown(beforeText, afterText);
    const server = after ? diffHistogram(before, after) : null;
    const sq = (p: number) =>
      server && server.count > 0 ? Math.round(histogramQuantile(server, p) * 1e6) : null;

    // autocannon's `errors` already counts its timeouts.
    const errors = result.errors + result.non2xx + endErrors;
    const client = lat.total.summary();
    const summary = {
      rps: Math.round(result.requests.average),
      p50_ms: result.latency.p50,
      p99_ms: result.latency.p99,
      errors,
      server_assign_p50_us: sq(0.5),
      server_assign_p99_us: sq(0.99),
      client_p50_us: Math.round(client.p50_us),
      client_p99_us: Math.round(client.p99_us),
      requests: result.requests.total,
      ended,
      /** Assigned conversations (warm-up included) the side loop did not manage to end. */
      still_open: assignedAll - ended,
      cancelled,
    };
    console.log(
      `\n${result.requests.total} enqueues in ${duration} s: ${summary.rps} req/s, ${errors} errors (${result.non2xx} non-2xx, ${result.errors} socket, ${result.timeouts} timeouts, ${endErrors} failed ends)`,
    );
    console.log(
      `autocannon latency (whole ms): p50 ${result.latency.p50} ms  p99 ${result.latency.p99} ms  max ${result.latency.max} ms`,
    );
    console.log(
      `client response time (fractional): p50 ${summary.client_p50_us} µs  p99 ${summary.client_p99_us} µs`,
    );
    if (server)
      console.log(
        `node's histogram, enqueue→assignment: p50 ${summary.server_assign_p50_us} µs  p99 ${summary.server_assign_p99_us} µs  (${server.count} decisions)`,
      );
    else console.log(`node's /metrics has no ${ASSIGNMENT_LATENCY} histogram`);
    console.log(
      `enqueue statuses: ${JSON.stringify(statuses)}; conversations ended by the side loop: ${ended}, queued ones cancelled: ${cancelled}`,
    );
    for (const b of breakdown.slice(1)) {
      if (b.count > 0)
        console.log(`node's histogram, ${b.what}: p50 ${b.p50_us} µs  p99 ${b.p99_us} µs  (${b.count})`);
    }
    if (firstEndError) console.log(`first failed end: ${firstEndError}`);

    let reportPath: string | undefined;
    if (!values['no-report']) {
      const perSec = lat.perSecond();
      const secs = [
        ...new Set([...perSec.map((x) => x.second), ...serverPerSecond.map((x) => x.second)]),
      ].sort((a, b) => a - b);
      const at = <T extends { second: number }>(list: T[], k: keyof T) => {
        const m = new Map(list.map((x) => [x.second, x[k] as number | null]));
        return secs.map((s) => m.get(s) ?? null);
      };
      reportPath = writeReport({
        kind: 'loadtest-http',
        title: 'Switchboard HTTP load test (autocannon) — Enqueue',
        summary: {
          'requests/s': summary.rps,
          'p50 (autocannon)': `${summary.p50_ms} ms`,
          'p99 (autocannon)': `${summary.p99_ms} ms`,
          'client p50': `${summary.client_p50_us} µs`,
          'client p99': `${summary.client_p99_us} µs`,
          'server assign p50':
            summary.server_assign_p50_us === null ? 'n/a' : `${summary.server_assign_p50_us} µs`,
          'server assign p99':
            summary.server_assign_p99_us === null ? 'n/a' : `${summary.server_assign_p99_us} µs`,
          errors,
        },
        charts: [
          {
            title: 'Client response time over the run (per second)',
            kind: 'line',
            labels: secs.map((s) => `${s}s`),
            series: [
              { name: 'p50', values: at(perSec, 'p50_us') },
              { name: 'p99', values: at(perSec, 'p99_us') },
            ],
            yLabel: 'µs (log scale)',
            log: true,
          },
          {
            title: "Node's enqueue→assignment latency over the run (from /metrics, per second)",
            kind: 'line',
            labels: secs.map((s) => `${s}s`),
            series: [
              { name: 'server p50', values: at(serverPerSecond, 'p50_us') },
              { name: 'server p99', values: at(serverPerSecond, 'p99_us') },
            ],
            yLabel: 'µs (log scale)',
            log: true,
          },
          {
            title: 'Throughput over the run',
            kind: 'line',
            labels: secs.map((s) => `${s}s`),
            series: [{ name: 'enqueues/s', values: at(perSec, 'count') }],
            yLabel: 'requests/s',
          },
        ],
        tables: [
          {
            title: 'autocannon latency (ms)',
            columns: ['p2.5', 'p50', 'p97.5', 'p99', 'mean', 'max'],
            rows: [
              [
                result.latency.p2_5,
                result.latency.p50,
                result.latency.p97_5,
                result.latency.p99,
                result.latency.average,
                result.latency.max,
              ],
            ],
          },
          { title: 'Enqueue answers', columns: ['status', 'count'], rows: Object.entries(statuses) },
          {
            title: "The node's own histograms over the measured run (µs; resolution = bucket width)",
            columns: ['what', 'count', 'p50', 'p99'],
            rows: breakdown.map((b) => [b.what, b.count, b.p50_us, b.p99_us]),
          },
        ],
        notes: [
          'autocannon rounds latencies to whole milliseconds; the client µs figures come from the fractional response times it reports per response, the server figures from the node’s own histogram (bucket resolution: buckets double from 50 µs).',
          'Each assigned conversation is ended right away by a side loop so agents keep free capacity (steady state).',
          `Target: ${base}.`,
        ],
        data: {
          summary,
          breakdown,
          statuses,
          autocannon: {
            requests: result.requests,
            latency: result.latency,
            throughput: result.throughput,
            errors: result.errors,
            timeouts: result.timeouts,
            non2xx: result.non2xx,
          },
          client,
          serverPerSecond,
          clientPerSecond: perSec,
        },
      }).html;
      console.log(`report: ${reportPath}`);
    }
    console.log(JSON.stringify({ ...summary, ...(reportPath ? { report: reportPath } : {}) }));
    return errors > 0 ? 1 : 0;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 2;
  },
);

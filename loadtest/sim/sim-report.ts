/** Turns simulator results (a base day, an optional what-if day, an optional Erlang check) into a report. */
import type { ReportInput, Table } from '../lib/report.js';
import type { ChartSpec } from '../lib/svg-chart.js';
import type { SimResult } from './run.js';

export interface SimReportInput {
  base: SimResult;
  variant?: SimResult;
  variantLabel?: string;
  erlang?: {
    agents: number;
    occupancy: number;
    simulated: number;
    expected: number;
    diffPoints: number;
    asaSimulated: number;
    asaErlang: number;
    conversations: number;
  };
}

function slotLabels(bucketMinutes: number, n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const m = i * bucketMinutes;
    return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
  });
}

function queueTable(title: string, r: SimResult): Table {
  return {
    title,
    columns: [
      'queue',
      'channel',
      'agents',
      'offered',
      'answered',
      'abandoned',
      'service level',
      'target',
      'ASA s',
      'p90 wait s',
      'occupancy',
      'Gini',
      'Gini / staffed h',
    ],
    rows: r.queues.map((q) => [
      q.id,
      q.channel,
      q.agents,
      q.offered,
      q.answered,
      `${q.abandoned} (${(q.abandonRate * 100).toFixed(1)} %)`,
      q.unanswered,
      `${(q.serviceLevel * 100).toFixed(1)} %`,
      `${q.serviceLevelTarget * 100} % in ${q.thresholdSeconds} s`,
      q.asaSeconds,
      q.p90WaitSeconds,
      q.occupancy.toFixed(2),
      q.gini.toFixed(3),
      q.giniPerStaffedHour.toFixed(3),
    ]),
  };
}

export function simulationReport(x: SimReportInput): ReportInput {
  const { base: r, variant: v } = x;
  const ids = r.queues.map((q) => q.id);
  const n = r.series.agentsOnline.length;
  const labels = slotLabels(r.series.bucketMinutes, n);
  const every = Math.round(120 / r.series.bucketMinutes);
  const charts: ChartSpec[] = [];
  charts.push({
    title: 'Service level per queue',
    kind: 'bar',
    labels: ids,
    series: [
      {
        name: x.erlang ? 'simulated (pooled seeds)' : v ? 'base' : 'service level',
        values: x.erlang ? [x.erlang.simulated] : r.queues.map((q) => q.serviceLevel),
      },
      ...(v
        ? [
            {
              name: x.variantLabel ?? 'what-if',
              values: ids.map((id) => v.queues.find((q) => q.id === id)?.serviceLevel ?? null),
            },
          ]
        : []),
      ...(x.erlang ? [{ name: 'Erlang C', values: [x.erlang.expected] }] : []),
    ],
    yLabel: 'answered within threshold',
    yMax: 1,
    ...(new Set(r.queues.map((q) => q.serviceLevelTarget)).size === 1
      ? { reference: { value: r.queues[0]!.serviceLevelTarget, label: 'target' } }
      : {}),
  });
  charts.push({
    title: 'Waiting conversations over the day (average per 15 min)',
    kind: 'line',
    labels,
    labelEvery: every,
    series: ids.map((id) => ({ name: id, values: r.series.queues[id]!.waitingAvg })),
    yLabel: 'waiting',
  });
  // Email waits are hours, chat waits seconds: on one axis the live channels would be a flat line.
  const live = r.queues.filter((q) => q.thresholdSeconds <= 300).map((q) => q.id);
  charts.push({
    title: `Average speed of answer over the day${live.length > 0 && live.length < ids.length ? ' (live channels)' : ''}`,
    kind: 'line',
    labels,
    labelEvery: every,
    series: (live.length > 0 ? live : ids).map((id) => ({
      name: id,
      values: r.series.queues[id]!.asaSeconds,
    })),
    yLabel: 'seconds',
  });
  charts.push({
    title: 'Service level over the day (by arrival slot)',
    kind: 'line',
    labels,
    labelEvery: every,
    series: ids.map((id) => ({ name: id, values: r.series.queues[id]!.serviceLevel })),
    yLabel: 'service level',
    yMax: 1,
  });
  charts.push({
    title: 'Arrivals per 15 min and staffing',
    kind: 'line',
    labels,
    labelEvery: every,
    series: [
      ...ids.map((id) => ({
        name: `arrivals ${id}`,
        values: r.series.queues[id]!.arrivals.map((a) => a / r.days),
      })),
      { name: 'agents online', values: r.series.agentsOnline },
      { name: 'agents busy', values: r.series.agentsBusy },
    ],
    yLabel: 'count',
  });
  if (v) {
    const total = (s: SimResult) =>
      Array.from({ length: n }, (_, k) =>
        ids.reduce((acc, id) => acc + (s.series.queues[id]?.waitingAvg[k] ?? 0), 0),
      );
    charts.push({
      title: `Waiting over the day: base vs ${x.variantLabel ?? 'what-if'}`,
      kind: 'line',
      labels,
      labelEvery: every,
      series: [
        { name: 'base', values: total(r) },
        { name: x.variantLabel ?? 'what-if', values: total(v) },
      ],
      yLabel: 'waiting (all queues)',
    });
  }
  const summary: Record<string, string | number> = {
    scenario: r.scenario,
    'service level': `${(r.serviceLevel * 100).toFixed(1)} %`,
    ASA: `${r.asaSeconds} s`,
    abandonment: `${(r.abandonRate * 100).toFixed(1)} %`,
    occupancy: r.occupancy.toFixed(2),
    'Gini (agents)': r.gini.toFixed(3),
    conversations: r.arrivals,
    'engine commands/s': r.commandsPerSecond,
  };
  if (v) summary[`SL ${x.variantLabel ?? 'what-if'}`] = `${(v.serviceLevel * 100).toFixed(1)} %`;
  if (x.erlang) {
    summary['service level'] = `${(x.erlang.simulated * 100).toFixed(2)} % (pooled)`;
    summary.ASA = `${x.erlang.asaSimulated} s (Erlang C ${x.erlang.asaErlang} s)`;
    summary.conversations = x.erlang.conversations;
    summary['Erlang C SL'] = `${(x.erlang.expected * 100).toFixed(2)} %`;
    summary.difference = `${x.erlang.diffPoints} points`;
  }
  const tables = [queueTable(v ? 'Queues — base' : 'Queues', r)];
  if (v) tables.push(queueTable(`Queues — ${x.variantLabel ?? 'what-if'}`, v));
  tables.push({
    title:
      "The engine's own queue statistics at the end of the run (cross-check; its service level is a sliding window)",
    columns: [
      'queue',
      'inbound',
      'assigned',
      'abandoned',
      'waiting',
      'service level (window)',
      'average wait s',
      'average handle s',
    ],
    rows: r.engineStats.map((q) => [
      q.queueId,
      q.inbound,
      q.assigned,
      q.abandoned,
      q.waiting,
      q.serviceLevel === null ? null : `${(q.serviceLevel * 100).toFixed(1)} %`,
      Math.round(q.averageWaitMs / 100) / 10,
      Math.round(q.averageHandleMs / 100) / 10,
    ]),
  });
  tables.push({
    title: 'Assignment rules (engine explanations)',
    columns: ['rule', 'assignments'],
    rows: Object.entries(r.rules),
  });
  return {
    kind: 'simulate',
    title: `Switchboard simulation — ${r.scenario}${x.erlang ? ' (Erlang C check)' : ''}`,
    summary,
    charts,
    tables,
    notes: [
      'Service level = answered within the threshold ÷ (answered + abandoned after the threshold), counted by arrival slot.',
      'Occupancy = time with at least one open conversation or in wrap-up ÷ staffed time (online, or busy finishing work).',
      'Gini of assignments per agent: 0 = perfectly even share; the per-staffed-hour variant discounts shorter shifts.',
      'Series are folded over days into 15-minute slots of the day; the warm-up period is excluded.',
      ...(x.erlang
        ? [
            `Erlang C check: ${x.erlang.agents} agents at ${(x.erlang.occupancy * 100).toFixed(1)} % occupancy; the figures over the day and the queue table are the first seed, the service level and ASA cards are pooled over all seeds.`,
          ]
        : []),
    ],
    data: x,
  };
}

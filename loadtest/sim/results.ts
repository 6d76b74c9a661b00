/** What a simulated day produced: per-queue reports, series over the day, and how they are computed. */
import type { QueueStats } from '../../src/engine/types.js';
import { gini, percentile, round } from './measures.js';
import type { Scenario } from './scenario.js';

export const BUCKET_MS = 900_000;

export interface QueueReport {
  id: string;
  channel: string;
  /** Agents able to serve the queue (skills, capacity on the channel, queue list). */
  agents: number;
  offered: number;
  answered: number;
  abandoned: number;
  /** Still waiting when the run stopped (end of the last day + 2 h). */
  unanswered: number;
  abandonRate: number;
  /** Answered within the threshold ÷ (answered + abandoned after it + still waiting past it at the end). */
  serviceLevel: number;
  serviceLevelTarget: number;
  thresholdSeconds: number;
  /** Average speed of answer: mean wait of answered conversations, seconds. */
  asaSeconds: number;
  p90WaitSeconds: number;
  /** Busy time ÷ staffed time of the agents able to serve this queue (all their work counts). */
  occupancy: number;
  /** Gini of this queue's assignments over its agents (0 = perfectly even). */
  gini: number;
  /** Same, on assignments per staffed hour, so part-time shifts do not read as unfairness. */
  giniPerStaffedHour: number;
}

/** Per 15-minute slot of the day (folded over days): what happened to one queue. */
export interface QueueSeries {
  arrivals: number[];
  serviceLevel: (number | null)[];
  asaSeconds: (number | null)[];
  waitingAvg: number[];
  waitingMax: number[];
}

export interface SimResult {
  scenario: string;
  seed: number;
  days: number;
  arrivals: number;
  commands: number;
  engineErrors: Record<string, number>;
  wallMs: number;
  commandsPerSecond: number;
  serviceLevel: number;
  asaSeconds: number;
  abandonRate: number;
  occupancy: number;
  gini: number;
  queues: QueueReport[];
  /** Why assignments went where they did (engine explanation rules). */
  rules: Record<string, number>;
  series: {
    bucketMinutes: number;
    queues: Record<string, QueueSeries>;
    agentsOnline: number[];
    agentsBusy: number[];
  };
  engineStats: QueueStats[];
  /** Raw counters for pooling several runs (Erlang check). */
  totals: { counted: number; within: number; answered: number; abandoned: number; waitMsSum: number };
}

export interface AgentTrack {
  id: string;
  group: number;
  acceptDelayMs: number;
  online: boolean;
  open: number;
  wrapUp: boolean;
  last: number;
  staffedMs: number;
  busyMs: number;
  assignedByQueue: Map<string, number>;
}

export interface QueueTrack {
  thresholdMs: number;
  waiting: number;
  offered: number;
  answered: number;
  within: number;
  abandoned: number;
  abandonedLate: number;
  unanswered: number;
  waitMsSum: number;
  waits: number[];
  b: { arrivals: number[]; answered: number[]; within: number[]; late: number[]; waitMs: number[] };
  wSum: number[];
  wCount: number[];
  wMax: number[];
}

/** Everything the event loop accumulated, handed over for the summary. */
export interface RunState {
  scenario: Scenario;
  arrivals: number;
  queues: Map<string, QueueTrack>;
  agents: Map<string, AgentTrack>;
  samples: number[];
  agentsOnline: number[];
  agentsBusy: number[];
  commands: number;
  engineErrors: Record<string, number>;
  rules: Record<string, number>;
  wallMs: number;
  engineStats: QueueStats[];
}

/** Turns the loop's counters into the reports (service level, ASA, occupancy, Gini, series). */
export function summarise(x: RunState): SimResult {
  const {
    scenario: s,
    queues,
    agents,
    samples,
    agentsOnline,
    agentsBusy,
    commands,
    engineErrors,
    rules,
    wallMs,
  } = x;
  const eligible = (q: Scenario['queues'][number], g: Scenario['agents'][number]) =>
    (g.capacity[q.channel] ?? 0) > 0 &&
    (g.queues.length === 0 || g.queues.includes(q.id)) &&
    q.requiredSkills.every((r) => g.skills.some((k) => k.skill === r.skill && k.level >= r.minLevel));
  const reports: QueueReport[] = [];
  const seriesOut: Record<string, QueueSeries> = {};
  const totals = { counted: 0, within: 0, answered: 0, abandoned: 0, waitMsSum: 0 };
  let occBusy = 0;
  let occStaffed = 0;
  for (const a of agents.values()) {
    occBusy += a.busyMs;
    occStaffed += a.staffedMs;
  }
  const perAgent = new Map<string, number>();
  for (const q of s.queues) {
    const t = queues.get(q.id)!;
    const mine = [...agents.values()].filter((a) => eligible(q, s.agents[a.group]!));
    let busy = 0;
    let staffed = 0;
    const counts: number[] = [];
    const perHour: number[] = [];
    for (const a of mine) {
      busy += a.busyMs;
      staffed += a.staffedMs;
      const n = a.assignedByQueue.get(q.id) ?? 0;
      counts.push(n);
      if (a.staffedMs > 0) perHour.push(n / (a.staffedMs / 3_600_000));
      perAgent.set(a.id, (perAgent.get(a.id) ?? 0) + n);
    }
    const denom = t.answered + t.abandonedLate;
    reports.push({
      id: q.id,
      channel: q.channel,
      agents: mine.length,
      offered: t.offered,
      answered: t.answered,
      abandoned: t.abandoned,
      unanswered: t.unanswered,
      abandonRate: round(t.offered > 0 ? t.abandoned / t.offered : 0),
      serviceLevel: round(denom > 0 ? t.within / denom : 1),
      serviceLevelTarget: q.serviceLevel.target,
      thresholdSeconds: q.serviceLevel.thresholdSeconds,
      asaSeconds: round(t.answered > 0 ? t.waitMsSum / t.answered / 1000 : 0, 2),
      p90WaitSeconds: round(t.waits.length > 0 ? percentile(t.waits, 90) / 1000 : 0, 2),
      occupancy: round(staffed > 0 ? busy / staffed : 0),
      gini: round(gini(counts)),
      giniPerStaffedHour: round(gini(perHour)),
    });
    totals.counted += denom;
    totals.within += t.within;
    totals.answered += t.answered;
    totals.abandoned += t.abandoned;
    totals.waitMsSum += t.waitMsSum;
    seriesOut[q.id] = {
      arrivals: t.b.arrivals.map((n) => n),
      serviceLevel: t.b.answered.map((n, k) => {
        const d = n + t.b.late[k]!;
        return d > 0 ? round(t.b.within[k]! / d) : null;
      }),
      asaSeconds: t.b.answered.map((n, k) => (n > 0 ? round(t.b.waitMs[k]! / n / 1000, 2) : null)),
      waitingAvg: t.wSum.map((v, k) => round(t.wCount[k]! > 0 ? v / t.wCount[k]! : 0, 2)),
      waitingMax: t.wMax,
    };
  }
  const offered = reports.reduce((n, r) => n + r.offered, 0);
  return {
    scenario: s.name,
    seed: s.seed,
    days: s.days,
    arrivals: x.arrivals,
    commands,
    engineErrors,
    wallMs: Math.round(wallMs),
    commandsPerSecond: Math.round(commands / (wallMs / 1000)),
    serviceLevel: round(totals.counted > 0 ? totals.within / totals.counted : 1),
    asaSeconds: round(totals.answered > 0 ? totals.waitMsSum / totals.answered / 1000 : 0, 2),
    abandonRate: round(offered > 0 ? totals.abandoned / offered : 0),
    occupancy: round(occStaffed > 0 ? occBusy / occStaffed : 0),
    gini: round(gini([...perAgent.values()])),
    queues: reports,
    rules,
    series: {
      bucketMinutes: BUCKET_MS / 60_000,
      queues: seriesOut,
      agentsOnline: agentsOnline.map((n, k) => round(samples[k]! > 0 ? n / samples[k]! : 0, 1)),
      agentsBusy: agentsBusy.map((n, k) => round(samples[k]! > 0 ? n / samples[k]! : 0, 1)),
    },
    engineStats: x.engineStats,
    totals,
  };
}

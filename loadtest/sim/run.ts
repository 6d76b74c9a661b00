/**
 * The discrete-event loop: drives the REAL routing engine through a contact-center day in virtual time.
 *
 * Every customer arrival, agent shift change, accepted offer, finished conversation and lost patience is
 * an `apply` with the envelope's `at` set to the virtual clock; between them the loop sends `tick` at the
 * engine's own `nextTimerAt()` so offer timeouts, overflow steps and wrap-up ends fire exactly when the
 * engine says. Nothing reads the wall clock, so a run is reproducible from its seed.
 */
import { createEngine } from '../../src/engine/index.js';
import type { Command, EngineEvent } from '../../src/engine/types.js';
import { type AgentTrack, BUCKET_MS, type QueueTrack, type SimResult, summarise } from './results.js';
import { clockSeconds, type Scenario, toQueueConfig, toRoutingConfig } from './scenario.js';
import { Timeline } from './timeline.js';

export type { QueueReport, QueueSeries, SimResult } from './results.js';

import { type Arrival, generateArrivals, vipCustomerId } from './traffic.js';

/** Monday 2026-01-05 00:00 UTC: virtual time 0. */
export const SIM_EPOCH = Date.UTC(2026, 0, 5);
const DAY_MS = 86_400_000;
const BUCKETS = DAY_MS / BUCKET_MS;
/** After the last day, customers still waiting get this long to be served before the run stops. */
const DRAIN_MS = 2 * 3_600_000;

const WAITING = 0;
const OFFERED = 1;
const ANSWERED = 2;
const ENDED = 3;
const ABANDONED = 4;
const OUTSIDE_HOURS = 5;
const REJECTED = 6;

/** Runs one scenario through a fresh engine. Pass `arrivals` to replay exactly the same customers. */
export function simulate(s: Scenario, arrivals: Arrival[] = generateArrivals(s)): SimResult {
  const started = performance.now();
  const engine = createEngine(`sim-${s.name}`);
  const timeline = new Timeline();
  const warmup = s.warmupSeconds * 1000;
  const endMs = s.days * DAY_MS;
  const engineErrors: Record<string, number> = {};
  const rules: Record<string, number> = {};
  let now = 0;
  let seq = 0;
  let commands = 0;

  const queues = new Map<string, QueueTrack>();
  for (const q of s.queues) {
    const z = () => new Array<number>(BUCKETS).fill(0);
    queues.set(q.id, {
      thresholdMs: q.serviceLevel.thresholdSeconds * 1000,
      waiting: 0,
      offered: 0,
      answered: 0,
      within: 0,
      abandoned: 0,
      abandonedLate: 0,
      unanswered: 0,
      waitMsSum: 0,
      waits: [],
      b: { arrivals: z(), answered: z(), within: z(), late: z(), waitMs: z() },
      wSum: z(),
      wCount: z(),
      wMax: z(),
    });
  }
  const agentsOnline = new Array<number>(BUCKETS).fill(0);
  const agentsBusy = new Array<number>(BUCKETS).fill(0);
  const samples = new Array<number>(BUCKETS).fill(0);

  const agents = new Map<string, AgentTrack>();
  const state = new Uint8Array(arrivals.length);
  const answeredAt = new Float64Array(arrivals.length);
  const counted = (c: number) => arrivals[c]!.at >= warmup;
  const slot = (t: number) => Math.floor((t % DAY_MS) / BUCKET_MS);
  const convIndex = (id: string) => (id.charCodeAt(0) === 99 /* c */ ? Number(id.slice(1)) : -1);

  const touch = (a: AgentTrack, t: number) => {
    const from = Math.max(a.last, warmup);
    const to = Math.min(t, endMs);
    if (to > from) {
      const busy = a.open > 0 || a.wrapUp;
      if (a.online || busy) a.staffedMs += to - from;
      if (busy) a.busyMs += to - from;
    }
    a.last = t;
  };

  const apply = (cmd: Command) => {
    commands++;
    const r = engine.apply({ id: `sim-${seq++}`, at: SIM_EPOCH + now, cmd });
    if (r.ok) onEvents(r.events);
    else if (cmd.type !== 'accept_offer') engineErrors[r.error.code] = (engineErrors[r.error.code] ?? 0) + 1;
    return r;
  };

  const leaveQueue = (c: number) => {
    const q = queues.get(arrivals[c]!.queueId)!;
    q.waiting--;
  };

  const onEvents = (events: EngineEvent[]) => {
    for (const e of events) {
      switch (e.type) {
        case 'offered': {
          const c = convIndex(e.conversationId);
          if (c < 0 || (state[c] !== WAITING && state[c] !== OFFERED)) break;
          state[c] = OFFERED;
          const a = agents.get(e.agentId);
          timeline.schedule(now + (a?.acceptDelayMs ?? 0), { kind: 'accept', conv: c, agentId: e.agentId });
          break;
        }
        case 'assigned': {
          const c = convIndex(e.conversationId);
          if (c < 0 || (state[c] !== WAITING && state[c] !== OFFERED)) break;
          state[c] = ANSWERED;
          answeredAt[c] = now;
          leaveQueue(c);
          const arr = arrivals[c]!;
          const a = agents.get(e.agentId);
          if (a) {
            touch(a, now);
            a.open++;
            if (counted(c)) a.assignedByQueue.set(arr.queueId, (a.assignedByQueue.get(arr.queueId) ?? 0) + 1);
          }
          rules[e.explanation.rule] = (rules[e.explanation.rule] ?? 0) + 1;
          if (counted(c)) {
            const q = queues.get(arr.queueId)!;
            const waited = now - arr.at;
            const k = slot(arr.at);
            q.answered++;
            q.waitMsSum += waited;
            q.waits.push(waited);
            q.b.answered[k]!++;
            q.b.waitMs[k]! += waited;
            if (waited <= q.thresholdMs) {
              q.within++;
              q.b.within[k]!++;
            }
          }
          timeline.schedule(now + arr.handleMs, { kind: 'handle_ends', conv: c });
          break;
        }
        case 'abandoned': {
          const c = convIndex(e.conversationId);
          if (c < 0 || (state[c] !== WAITING && state[c] !== OFFERED)) break;
          state[c] = ABANDONED;
          leaveQueue(c);
          if (counted(c)) {
            const arr = arrivals[c]!;
            const q = queues.get(arr.queueId)!;
            q.abandoned++;
            if (now - arr.at > q.thresholdMs) {
              q.abandonedLate++;
              q.b.late[slot(arr.at)]!++;
            }
          }
          break;
        }
        case 'outside_hours': {
          const c = convIndex(e.conversationId);
          if (c >= 0 && state[c] === WAITING) {
            state[c] = OUTSIDE_HOURS;
            leaveQueue(c);
          }
          break;
        }
        case 'conversation_ended': {
          const a = agents.get(e.agentId);
          if (a) {
            touch(a, now);
            a.open = Math.max(0, a.open - 1);
          }
          break;
        }
        case 'wrap_up_started':
        case 'wrap_up_ended': {
          const a = agents.get(e.agentId);
          if (a) {
            touch(a, now);
            a.wrapUp = e.type === 'wrap_up_started';
          }
          break;
        }
        case 'presence_changed': {
          const a = agents.get(e.agentId);
          if (a) {
            touch(a, now);
            a.online = e.presence === 'online';
          }
          break;
        }
        default:
          break;
      }
    }
  };

  // ---- the day's configuration ----
  apply({ type: 'set_routing_config', config: toRoutingConfig(s) });
  for (const q of s.queues) apply({ type: 'upsert_queue', queue: toQueueConfig(q) });
  const dedicated: string[] = [];
  s.agents.forEach((g, gi) => {
    for (let i = 0; i < g.count; i++) {
      const id = `${g.id}-${i + 1}`;
      apply({
        type: 'upsert_agent',
        agent: {
          id,
          displayName: `${g.id} #${i + 1}`,
          skills: g.skills,
          teams: [g.id],
          tier: g.tier,
          seniority: g.seniority,
          capacity: g.capacity,
          wrapUpSeconds: g.wrapUpSeconds,
          queues: g.queues,
        },
      });
      agents.set(id, {
        id,
        group: gi,
        acceptDelayMs: g.acceptDelaySeconds * 1000,
        online: false,
        open: 0,
        wrapUp: false,
        last: 0,
        staffedMs: 0,
        busyMs: 0,
        assignedByQueue: new Map(),
      });
      if (g.dedicatedToVips) dedicated.push(id);
      scheduleShifts(g, i, id);
    }
  });
  for (let v = 0; v < s.customers.vipCount; v++) {
    apply({
      type: 'upsert_customer',
      customer: {
        id: vipCustomerId(v),
        valueTier: 'high_value',
        previousAgents: [],
        ...(dedicated.length > 0 ? { dedicatedAgentId: dedicated[v % dedicated.length]! } : {}),
      },
    });
  }
  timeline.schedule(0, { kind: 'sample' });

  function scheduleShifts(g: Scenario['agents'][number], i: number, agentId: string): void {
    const start = clockSeconds(g.shift.start) * 1000;
    let end = clockSeconds(g.shift.end) * 1000;
    if (end <= start) end += DAY_MS;
    const allDay = end - start >= DAY_MS;
    if (!allDay && end > DAY_MS) {
      // A night shift crossing midnight: at the start of the run the agent is already on the previous night's shift.
      timeline.schedule(0, { kind: 'presence', agentId, presence: 'online' });
      timeline.schedule(end - DAY_MS, { kind: 'presence', agentId, presence: 'offline' });
    }
    for (let d = 0; d < s.days; d++) {
      const base = d * DAY_MS;
      if (!allDay || d === 0)
        timeline.schedule(base + start, { kind: 'presence', agentId, presence: 'online' });
      for (const br of g.breaks) {
        const at = base + (clockSeconds(br.at) + i * br.staggerMinutes * 60) * 1000;
        const back = at + br.minutes * 60_000;
        if (allDay || (at >= base + start && back <= base + end)) {
          timeline.schedule(at, { kind: 'presence', agentId, presence: 'away' });
          timeline.schedule(back, { kind: 'presence', agentId, presence: 'online' });
        }
      }
      if (!allDay) timeline.schedule(base + end, { kind: 'presence', agentId, presence: 'offline' });
    }
  }

  // ---- the loop ----
  const horizon = endMs + DRAIN_MS;
  const channelOf = new Map(s.queues.map((q) => [q.id, toQueueConfig(q).channel]));
  let ai = 0;
  let lastTick = -1;
  for (;;) {
    const nextArrival = ai < arrivals.length ? arrivals[ai]!.at : Number.POSITIVE_INFINITY;
    const next = Math.min(nextArrival, timeline.peekTime());
    const timer = engine.nextTimerAt();
    let due = timer === null ? Number.POSITIVE_INFINITY : Math.max(timer - SIM_EPOCH, now);
    // A timer the engine left pending at the instant it was just ticked is retried only once time moves on.
    if (due <= lastTick) due = next > lastTick ? next : Number.POSITIVE_INFINITY;
    if (due <= next && due <= horizon) {
      now = due;
      lastTick = due;
      apply({ type: 'tick' });
      continue;
    }
    if (next > horizon) break;
    now = next;
    if (nextArrival <= timeline.peekTime()) {
      const c = ai++;
      const arr = arrivals[c]!;
      const q = queues.get(arr.queueId)!;
      q.waiting++;
      if (counted(c)) {
        q.offered++;
        q.b.arrivals[slot(arr.at)]!++;
      }
      const r = apply({
        type: 'enqueue',
        conversation: {
          id: `c${c}`,
          channel: channelOf.get(arr.queueId)!,
          customer: { id: arr.customerId },
          requiredSkills: arr.requiredSkills,
          queueId: arr.queueId,
          priority: arr.priority,
        },
      });
      if (!r.ok) {
        state[c] = REJECTED;
        q.waiting--;
      } else if (arr.patienceMs !== null && (state[c] === WAITING || state[c] === OFFERED)) {
        timeline.schedule(now + arr.patienceMs, { kind: 'patience_ends', conv: c });
      }
      continue;
    }
    const { action } = timeline.pop()!;
    switch (action.kind) {
      case 'handle_ends':
        if (state[action.conv] === ANSWERED) {
          state[action.conv] = ENDED;
          apply({ type: 'end_conversation', conversationId: `c${action.conv}`, outcome: 'resolved' });
        }
        break;
      case 'patience_ends':
        if (state[action.conv] === WAITING || state[action.conv] === OFFERED) {
          apply({ type: 'cancel', conversationId: `c${action.conv}` });
        }
        break;
      case 'accept':
        if (state[action.conv] === OFFERED) {
          apply({ type: 'accept_offer', agentId: action.agentId, conversationId: `c${action.conv}` });
        }
        break;
      case 'presence': {
        const a = agents.get(action.agentId)!;
        touch(a, now);
        a.online = action.presence === 'online';
        apply({ type: 'set_presence', agentId: action.agentId, presence: action.presence });
        break;
      }
      case 'sample': {
        if (now >= warmup) {
          const k = slot(now);
          samples[k]!++;
          for (const q of queues.values()) {
            q.wSum[k]! += q.waiting;
            q.wCount[k]!++;
            q.wMax[k] = Math.max(q.wMax[k]!, q.waiting);
          }
          for (const a of agents.values()) {
            if (a.online) agentsOnline[k]!++;
            if (a.open > 0 || a.wrapUp) agentsBusy[k]!++;
          }
        }
        if (now + 60_000 < endMs) timeline.schedule(now + 60_000, { kind: 'sample' });
        break;
      }
    }
  }
  for (const a of agents.values()) touch(a, endMs);
  // Customers still waiting when the run stops count against the service level once past the threshold.
  for (let c = 0; c < arrivals.length; c++) {
    if ((state[c] !== WAITING && state[c] !== OFFERED) || !counted(c)) continue;
    const arr = arrivals[c]!;
    const q = queues.get(arr.queueId)!;
    q.unanswered++;
    if (now - arr.at > q.thresholdMs) {
      q.abandonedLate++;
      q.b.late[slot(arr.at)]!++;
    }
  }

  const wallMs = performance.now() - started;
  const statsResult = engine.query({ type: 'all_queue_stats' }, SIM_EPOCH + now);
  return summarise({
    scenario: s,
    arrivals: arrivals.length,
    queues,
    agents,
    samples,
    agentsOnline,
    agentsBusy,
    commands,
    engineErrors,
    rules,
    wallMs,
    engineStats: statsResult.type === 'all_queue_stats' ? statsResult.stats : [],
  });
}

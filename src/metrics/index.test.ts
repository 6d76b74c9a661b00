import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { QueueStats } from '../engine/types.js';
import { createNodeMetrics } from './index.js';

const sources = { inflight: () => 0, partitionsOwned: () => 0, queueStats: async () => [] };

describe('node metrics: pair counters', () => {
  it('expose every increment at each read, per label pair, and keep counting after a read', async () => {
    const registry = new Registry();
    const m = createNodeMetrics(registry, sources);
    m.inbound.inc('t1', 'q1');
    m.inbound.inc('t1', 'q1');
    m.inbound.inc('t1', 'q2');
    m.agentAssigned.inc('t2', 'a1');
    const text = await registry.metrics();
    expect(text).toContain('switchboard_conversations_inbound_total{tenant="t1",queue="q1"} 2');
    expect(text).toContain('switchboard_conversations_inbound_total{tenant="t1",queue="q2"} 1');
    expect(text).toContain('switchboard_agent_assigned_total{tenant="t2",agent="a1"} 1');
    m.inbound.inc('t1', 'q1');
    const again = await registry.metrics();
    expect(again).toContain('switchboard_conversations_inbound_total{tenant="t1",queue="q1"} 3');
    expect(again).toContain('switchboard_conversations_inbound_total{tenant="t1",queue="q2"} 1');
  });

  it('per-agent counters keep at most --agent-series-limit series; later agents count under "_other"', async () => {
    const registry = new Registry();
    const m = createNodeMetrics(registry, { ...sources, agentSeriesLimit: 2 });
    m.agentAssigned.inc('t', 'a1');
    m.agentAssigned.inc('t', 'a2');
    m.agentAssigned.inc('t', 'a3');
    m.agentAssigned.inc('u', 'a4');
    m.agentAssigned.inc('t', 'a1');
    m.agentAssigned.inc('t', 'a3');
    m.offersMissed.inc('t', 'a9');
    const text = await registry.metrics();
    expect(text).toContain('switchboard_agent_assigned_total{tenant="t",agent="a1"} 2');
    expect(text).toContain('switchboard_agent_assigned_total{tenant="t",agent="a2"} 1');
    expect(text).toContain('switchboard_agent_assigned_total{tenant="t",agent="_other"} 2');
    expect(text).toContain('switchboard_agent_assigned_total{tenant="u",agent="_other"} 1');
    expect(text).not.toContain('agent="a3"');
    // Each counter has its own bound; queue-level counters have none.
    expect(text).toContain('switchboard_offers_missed_total{tenant="t",agent="a9"} 1');
    for (let i = 0; i < 50; i++) m.inbound.inc('t', `q${i}`);
    expect(await registry.metrics()).toContain(
      'switchboard_conversations_inbound_total{tenant="t",queue="q49"} 1',
    );
    const none = createNodeMetrics(new Registry(), { ...sources, agentSeriesLimit: 0 });
    none.agentAssigned.inc('t', 'a1');
    expect(await none.agentAssigned.counter.get()).toMatchObject({
      values: [{ labels: { tenant: 't', agent: '_other' }, value: 1 }],
    });
  });

  it('one tenant takes at most --agent-series-per-tenant of the slots: another tenant still gets series of its own', async () => {
    const registry = new Registry();
    const m = createNodeMetrics(registry, { ...sources, agentSeriesLimit: 10, agentSeriesPerTenant: 4 });
    // Before: the first tenant's 10 agents took all 10 slots and every agent of the next one was "_other".
    for (let i = 0; i < 10; i++) m.knowAgent('big', `b${i}`);
    for (let i = 0; i < 3; i++) m.knowAgent('small', `s${i}`);
    m.agentAssigned.inc('big', 'b9');
    m.agentAssigned.inc('small', 's2');
    const own = async (tenant: string) =>
      (await m.agentAssigned.counter.get()).values
        .filter((v) => v.labels.tenant === tenant && v.labels.agent !== '_other')
        .map((v) => v.labels.agent);
    expect(await own('big')).toEqual(['b0', 'b1', 'b2', 'b3']);
    expect(await own('small')).toEqual(['s0', 's1', 's2']);
    const text = await registry.metrics();
    expect(text).toContain('switchboard_agent_assigned_total{tenant="big",agent="_other"} 1');
    expect(text).toContain('switchboard_agent_assigned_total{tenant="small",agent="s2"} 1');
    // A removed agent gives its tenant's slot back; the node-wide limit still holds over all tenants.
    m.forgetAgent('big', 'b0');
    m.knowAgent('big', 'b10');
    expect(await own('big')).toEqual(['b1', 'b2', 'b3', 'b10']);
    for (let i = 0; i < 4; i++) m.knowAgent('third', `t${i}`);
    expect(await own('third')).toEqual(['t0', 't1', 't2']); // 4 + 3 + 3 = the 10 slots of the node
  });

  it('a known tenant, queue or agent has its series at 0 before anything is counted under it', async () => {
    const registry = new Registry();
    const m = createNodeMetrics(registry, { ...sources, agentSeriesLimit: 1 });
    m.knowTenant('t');
    m.knowQueue('t', 'q1');
    m.knowAgent('t', 'a1');
    m.knowAgent('t', 'a2');
    const text = await registry.metrics();
    for (const line of [
      'switchboard_tenant_overloaded_total{tenant="t"} 0',
      'switchboard_alerts_total{tenant="t",alert="agent_missed_offers",queue=""} 0',
      'switchboard_alerts_total{tenant="t",alert="sla_at_risk",queue="q1"} 0',
      'switchboard_alerts_total{tenant="t",alert="sla_breached",queue="q1"} 0',
      'switchboard_alerts_total{tenant="t",alert="queue_over_capacity",queue="q1"} 0',
      'switchboard_conversations_inbound_total{tenant="t",queue="q1"} 0',
      'switchboard_conversations_assigned_total{tenant="t",queue="q1"} 0',
      'switchboard_conversations_abandoned_total{tenant="t",queue="q1"} 0',
      'switchboard_conversations_transferred_total{tenant="t",queue="q1"} 0',
      'switchboard_queue_offers_missed_total{tenant="t",queue="q1"} 0',
      'switchboard_agent_assigned_total{tenant="t",agent="a1"} 0',
      'switchboard_offers_missed_total{tenant="t",agent="a1"} 0',
      'switchboard_agent_transferred_total{tenant="t",agent="a1"} 0',
      // Past the per-agent bound a known agent starts the shared "_other" series, not its own.
      'switchboard_agent_assigned_total{tenant="t",agent="_other"} 0',
    ])
      expect(text).toContain(line);
    expect(text).not.toContain('agent="a2"');
    // Then the first occurrence is an increase from 0 (what increase() and rate() can see).
    m.queueOffersMissed.inc('t', 'q1');
    m.offersMissed.inc('t', 'a1');
    m.alerts.inc({ tenant: 't', alert: 'sla_breached', queue: 'q1' });
    const after = await registry.metrics();
    expect(after).toContain('switchboard_queue_offers_missed_total{tenant="t",queue="q1"} 1');
    expect(after).toContain('switchboard_offers_missed_total{tenant="t",agent="a1"} 1');
    expect(after).toContain('switchboard_alerts_total{tenant="t",alert="sla_breached",queue="q1"} 1');
    expect(after).toContain('switchboard_alerts_total{tenant="t",alert="sla_at_risk",queue="q1"} 0');
  });

  it('switchboard_build_info names the version and the node', async () => {
    const registry = new Registry();
    createNodeMetrics(registry, { ...sources, build: { version: '1.2.3', node: 'node-a' } });
    expect(await registry.metrics()).toContain('switchboard_build_info{version="1.2.3",node="node-a"} 1');
  });

  it('the event history is read at scrape time: events kept, and evicted so far as a counter', async () => {
    const registry = new Registry();
    let stats = { events: 7, evicted: 0 };
    createNodeMetrics(registry, { ...sources, eventHistory: () => stats });
    const first = await registry.metrics();
    expect(first).toContain('switchboard_event_history_events 7');
    expect(first).toContain('switchboard_event_history_evicted_total 0');
    stats = { events: 5, evicted: 12 };
    const again = await registry.metrics();
    expect(again).toContain('switchboard_event_history_events 5');
    expect(again).toContain('switchboard_event_history_evicted_total 12');
    // Without the source (cluster mode resumes from SB_EVENTS): not exported.
    expect(await new Registry().metrics()).not.toContain('switchboard_event_history');
    const none = new Registry();
    createNodeMetrics(none, sources);
    expect(await none.metrics()).not.toContain('switchboard_event_history');
  });

  it('two hosts on one registry share the counters', async () => {
    const registry = new Registry();
    const a = createNodeMetrics(registry, sources);
    const b = createNodeMetrics(registry, sources);
    a.alerts.inc({ tenant: 't', alert: 'sla_breached', queue: 'q1' });
    b.alerts.inc({ tenant: 't', alert: 'sla_breached', queue: 'q1' });
    const values = (await registry.getSingleMetric('switchboard_alerts_total')?.get())?.values;
    expect(values).toEqual([
      expect.objectContaining({ labels: { tenant: 't', alert: 'sla_breached', queue: 'q1' }, value: 2 }),
    ]);
  });

  it('bound histograms record into the registered histogram', async () => {
    const registry = new Registry();
    const m = createNodeMetrics(registry, sources);
    m.logAppend.observe(0.0003);
    m.logAppend.observe(0.0003);
    m.assignmentLatency.observe(0.00004);
    const text = await registry.metrics();
    expect(text).toContain('switchboard_log_append_seconds_count 2');
    expect(text).toContain('switchboard_log_append_seconds_bucket{le="0.0004"} 2');
    expect(text).toContain('switchboard_assignment_latency_seconds_bucket{le="0.00005"} 1');
    expect(text).toContain('switchboard_engine_apply_seconds_count 0');
  });
});

describe('node metrics: queue alert state', () => {
  it('switchboard_queue_alert_active reads each queue’s alert state at scrape time: 1 in force, 0 not', async () => {
    const stats = (id: string, serviceLevelState: QueueStats['serviceLevelState'], overCapacity: boolean) =>
      ({ queueId: id, serviceLevelState, overCapacity }) as QueueStats;
    let now = [stats('q1', 'breached', true), stats('q2', 'at_risk', false)];
    const registry = new Registry();
    createNodeMetrics(registry, { ...sources, queueStats: async () => [{ tenant: 't', stats: now }] });
    const read = async () =>
      Object.fromEntries(
        ((await registry.getSingleMetric('switchboard_queue_alert_active')?.get())?.values ?? []).map((v) => [
          `${v.labels.queue} ${v.labels.alert}`,
          v.value,
        ]),
      );
    expect(await read()).toEqual({
      'q1 sla_at_risk': 0,
      'q1 sla_breached': 1,
      'q1 queue_over_capacity': 1,
      'q2 sla_at_risk': 1,
      'q2 sla_breached': 0,
      'q2 queue_over_capacity': 0,
    });
    // Cleared conditions read 0 at the next scrape (the queue statistics are cached for 0.5 s).
    now = [stats('q1', 'ok', false)];
    await new Promise((r) => setTimeout(r, 600));
    expect(await read()).toEqual({ 'q1 sla_at_risk': 0, 'q1 sla_breached': 0, 'q1 queue_over_capacity': 0 });
  });
});

describe('node metrics: queue open and target', () => {
  it('switchboard_queue_open is 1 while a queue is within its business hours, 0 while closed; the target is each queue’s own', async () => {
    const stats = [
      { queueId: 'day', open: true, serviceLevelTarget: 0.9 },
      { queueId: 'night', open: false, serviceLevelTarget: 1 },
    ] as QueueStats[];
    const registry = new Registry();
    createNodeMetrics(registry, { ...sources, queueStats: async () => [{ tenant: 't', stats }] });
    const read = async (name: string) =>
      Object.fromEntries(
        ((await registry.getSingleMetric(name)?.get())?.values ?? []).map((v) => [v.labels.queue, v.value]),
      );
    expect(await read('switchboard_queue_open')).toEqual({ day: 1, night: 0 });
    expect(await read('switchboard_queue_service_level_target')).toEqual({ day: 0.9, night: 1 });
  });
});

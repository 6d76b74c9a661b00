import { describe, expect, it } from 'vitest';
import {
  agentConfig,
  assignments,
  conversation,
  customerConfig,
  offers,
  only,
  queueConfig,
  routingConfig,
  Scenario,
} from './fixtures.js';
import { openedAt } from './hours.js';
import { restoreEngine } from './index.js';
import { capacityRecoveredAt, materialChange } from './partition.js';

const MONDAY_10_PARIS = Date.UTC(2026, 0, 5, 9, 0, 0); // 10:00 in Europe/Paris (UTC+1)
const parisOffice = {
  timeZone: 'Europe/Paris',
  windows: [1, 2, 3, 4, 5].map((day) => ({ day, open: '09:00', close: '18:00' })),
  holidays: ['2026-01-06'],
};

describe('business hours', () => {
  it('a conversation that must wait while the queue is closed is told when help resumes', () => {
    const s = new Scenario(Date.UTC(2026, 0, 5, 18, 30, 0)); // Monday 19:30 in Paris
    s.queue(queueConfig('q1', { businessHours: parisOffice }));
    const r = s.run({ type: 'enqueue', conversation: conversation('c1') });
    // Tuesday 6 January is a holiday: next opening is Wednesday 09:00 Paris = 08:00 UTC.
    const wednesday9 = Date.UTC(2026, 0, 7, 8, 0, 0);
    expect(r.ok && r.reply).toMatchObject({ status: 'outside_hours', nextOpenAt: wednesday9 });
    // With the opening hours, for the message to the customer.
    expect(r.ok && only(r.events, 'outside_hours')[0]).toMatchObject({
      nextOpenAt: wednesday9,
      openingHours: parisOffice,
    });
  });

  it('the estimated wait of a customer told the queue is closed counts the time until it opens', () => {
    const s = new Scenario(Date.UTC(2026, 0, 5, 20, 0, 0)); // Monday 21:00 in Paris: closed
    s.queue(queueConfig('q1', { businessHours: parisOffice }));
    const r = s.run({ type: 'enqueue', conversation: conversation('c1') });
    const opens = Date.UTC(2026, 0, 7, 8, 0, 0); // Wednesday 09:00 in Paris (Tuesday is a holiday)
    // 36 hours until it opens, then first in line with the default handle time and nobody online.
    expect(r.ok && r.reply).toMatchObject({
      status: 'outside_hours',
      nextOpenAt: opens,
      position: 1,
      estimatedWaitMs: opens - s.t + 300_000,
    });
    // The conversation query says the same, less the time since.
    s.t += 3_600_000;
    const v = s.engine.query({ type: 'conversation', conversationId: 'c1' }, s.t);
    expect(v.type === 'conversation' && v.conversation?.estimatedWaitMs).toBe(opens - s.t + 300_000);
  });

  it('during opening hours the conversation is queued normally', () => {
    const s = new Scenario(MONDAY_10_PARIS);
    s.queue(queueConfig('q1', { businessHours: parisOffice }));
    expect(only(s.enqueue(conversation('c1')), 'queued')).toHaveLength(1);
  });

  it('an agent working after hours still gets the conversation', () => {
    const s = new Scenario(Date.UTC(2026, 0, 5, 20, 0, 0));
    s.queue(queueConfig('q1', { businessHours: parisOffice }));
    s.online(agentConfig('night-owl'));
    expect(assignments(s.enqueue(conversation('c1')))).toEqual(['c1→night-owl']);
  });

  it('opening hours follow daylight saving time in the queue’s zone', () => {
    // 08:30 UTC on Monday 29 June 2026 is 10:30 in Paris (UTC+2): open.
    const s = new Scenario(Date.UTC(2026, 5, 29, 8, 30, 0));
    s.queue(queueConfig('q1', { businessHours: parisOffice }));
    expect(only(s.enqueue(conversation('c1')), 'queued')).toHaveLength(1);
    // 16:30 UTC is 18:30 in Paris: closed until Tuesday 09:00 = 07:00 UTC.
    s.t = Date.UTC(2026, 5, 29, 16, 30, 0);
    const r = s.run({ type: 'enqueue', conversation: conversation('c2') });
    expect(r.ok && r.reply).toMatchObject({
      status: 'outside_hours',
      nextOpenAt: Date.UTC(2026, 5, 30, 7, 0, 0),
    });
  });

  it('on the nights the clocks change, help resumes when the queue really opens', () => {
    const night = (open: string, close: string) => ({
      timeZone: 'Europe/Paris',
      windows: [{ day: 0, open, close }],
      holidays: [],
    });
    const told = (bh: ReturnType<typeof night>, at: number) => {
      const s = new Scenario(at);
      s.queue(queueConfig('q1', { businessHours: bh }));
      const r = s.run({ type: 'enqueue', conversation: conversation('c1') });
      return r.ok && r.reply.kind === 'enqueued' ? r.reply.nextOpenAt : undefined;
    };
    // Sunday 29 March 2026, 02:00 → 03:00: a 02:30–04:00 window opens as the clocks jump to 03:00
    // (01:00 UTC), not at 03:30 (01:30 UTC) as if 02:30 had happened.
    expect(told(night('02:30', '04:00'), Date.UTC(2026, 2, 28, 23, 0))).toBe(Date.UTC(2026, 2, 29, 1, 0));
    // A window wholly inside the skipped hour is not open that night: the next Sunday, 02:00 CEST.
    expect(told(night('02:00', '02:30'), Date.UTC(2026, 2, 28, 23, 0))).toBe(Date.UTC(2026, 3, 5, 0, 0));
    // Sunday 25 October 2026, 03:00 → 02:00: 02:30 comes twice; the first (00:30 UTC) is the opening…
    expect(told(night('02:30', '03:00'), Date.UTC(2026, 9, 24, 22, 0))).toBe(Date.UTC(2026, 9, 25, 0, 30));
    // …and between the two the queue opens again at the second (01:30 UTC).
    expect(told(night('02:30', '03:00'), Date.UTC(2026, 9, 25, 1, 0))).toBe(Date.UTC(2026, 9, 25, 1, 30));
  });
});

describe('status changes while waiting', () => {
  const MONDAY_1759_PARIS = Date.UTC(2026, 0, 5, 16, 59, 0);

  it('a customer told the queue is closed gets their place in line once it opens', () => {
    const s = new Scenario(Date.UTC(2026, 0, 7, 7, 59, 0)); // Wednesday 08:59 in Paris, one minute to opening
    s.queue(queueConfig('q1', { businessHours: parisOffice }));
    expect(only(s.enqueue(conversation('c1')), 'outside_hours')).toHaveLength(1);
    expect(only(s.enqueue(conversation('c2')), 'outside_hours')).toHaveLength(1);
    // Still closed at the first re-check: nothing new to say.
    expect(s.advance(30_000).filter((e) => e.type !== 'alert')).toEqual([]);
    // Open by the next one (09:00): each is told where they stand, once.
    const opened = s.advance(30_000);
    expect(only(opened, 'queued').map((e) => [e.conversationId, e.position])).toEqual([
      ['c1', 1],
      ['c2', 2],
    ]);
    expect(only(s.advance(30_000), 'queued')).toEqual([]);
  });

  it('a waiting customer is told when the queue closes under them, once', () => {
    const s = new Scenario(MONDAY_1759_PARIS); // Monday 17:59 in Paris
    s.queue(queueConfig('q1', { businessHours: parisOffice }));
    expect(only(s.enqueue(conversation('c1')), 'queued')).toHaveLength(1);
    const closed = only(s.advance(60_000), 'outside_hours');
    // Tuesday is a holiday: help resumes Wednesday 09:00 Paris.
    expect(closed.map((e) => [e.conversationId, e.nextOpenAt])).toEqual([
      ['c1', Date.UTC(2026, 0, 7, 8, 0, 0)],
    ]);
    expect(only(s.advance(60_000), 'outside_hours')).toEqual([]);
  });

  it('a closed queue that fills past its maximum size still raises the over-capacity alert', () => {
    const s = new Scenario(Date.UTC(2026, 0, 5, 20, 0, 0)); // Monday 21:00 in Paris: closed
    s.queue(queueConfig('q1', { businessHours: parisOffice, maxSize: 1 }));
    s.enqueue(conversation('c1'));
    const second = s.run({ type: 'enqueue', conversation: conversation('c2') });
    // The customer hears about the hours (they matter more than the queue's length)…
    expect(second.ok && second.reply).toMatchObject({ status: 'outside_hours' });
    // …and the contact center hears that the queue is over capacity.
    expect(second.ok && only(second.events, 'alert')).toMatchObject([
      { alert: 'queue_over_capacity', value: 2 },
    ]);
  });

  it('a customer over capacity is told once the queue is back under its maximum size, even at the same place', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { maxSize: 2 }));
    for (const id of ['c1', 'c2', 'c3']) s.enqueue(conversation(id));
    // c3 was told "over capacity" at place 3. The queue is allowed 3 now: same place, new status.
    s.queue(queueConfig('q1', { maxSize: 3 }));
    const later = s.advance(30_000);
    expect(only(later, 'queued').map((e) => [e.conversationId, e.position])).toEqual([['c3', 3]]);
    expect(only(s.advance(30_000), 'queued')).toEqual([]);
  });
});

describe('queue size', () => {
  it('beyond the maximum size the customer gets an over-capacity notice and the queue raises an alert once', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { maxSize: 2 }));
    s.enqueue(conversation('c1'));
    s.enqueue(conversation('c2'));
    const third = s.run({ type: 'enqueue', conversation: conversation('c3') });
    expect(third.ok && third.reply).toMatchObject({ status: 'over_capacity', position: 3 });
    expect(third.ok && only(third.events, 'over_capacity')[0]).toMatchObject({ position: 3 });
    expect(third.ok && only(third.events, 'alert')[0]).toMatchObject({
      alert: 'queue_over_capacity',
      value: 3,
    });
    const fourth = s.enqueue(conversation('c4'));
    expect(only(fourth, 'alert')).toEqual([]);
  });

  it('customers ringing at a desk count ahead: the arrival that puts the queue over capacity is told so, like the alert', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { maxSize: 2, offerTimeoutSeconds: 15 }));
    s.online(agentConfig('ann'));
    s.online(agentConfig('bob'));
    s.enqueue(conversation('c1')); // offered to one of them
    s.enqueue(conversation('c2')); // offered to the other
    const third = s.run({ type: 'enqueue', conversation: conversation('c3') });
    // First in line (the two ringing ones are being served), yet the third customer the queue holds.
    expect(third.ok && third.reply).toMatchObject({ status: 'over_capacity', position: 1 });
    expect(third.ok && only(third.events, 'over_capacity')).toMatchObject([
      { conversationId: 'c3', position: 1 },
    ]);
    expect(third.ok && only(third.events, 'alert')).toMatchObject([
      { alert: 'queue_over_capacity', value: 3 },
    ]);
    // Once one of them answers, c3 is within the size again: a gateway's retry of the enqueue says so.
    const c1Agent = s.engine.query({ type: 'conversation', conversationId: 'c1' }, s.t);
    const offeredTo = c1Agent.type === 'conversation' ? c1Agent.conversation?.offeredTo?.[0] : undefined;
    expect(offeredTo).toBeDefined();
    expect(s.run({ type: 'accept_offer', agentId: offeredTo as string, conversationId: 'c1' }).ok).toBe(true);
    const again = s.run({ type: 'enqueue', conversation: conversation('c3') }, 'retry-c3');
    expect(again.ok && again.reply).toMatchObject({ status: 'queued', position: 1 });
  });

  it('a customer within the maximum size is not told over capacity because others joined behind them', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { maxSize: 1 }));
    s.online(agentConfig('ann'));
    s.enqueue(conversation('c0')); // → ann
    expect(only(s.enqueue(conversation('c1')), 'queued')).toHaveLength(1);
    s.t += 1000;
    const behind = s.enqueue(conversation('c2'));
    expect(only(behind, 'over_capacity')).toMatchObject([{ conversationId: 'c2', position: 2 }]);
    expect(only(behind, 'alert')).toMatchObject([{ alert: 'queue_over_capacity', value: 2 }]);
    const recheck = s.advance(29_000); // c1's 30 s re-check
    expect(recheck.filter((e) => 'conversationId' in e && e.conversationId === 'c1')).toEqual([]);
    // Its status is still "queued" when asked again (a gateway retry of the enqueue).
    const again = s.run({ type: 'enqueue', conversation: conversation('c1') }, 'retry-c1');
    expect(again.ok && again.reply).toMatchObject({ status: 'queued', position: 1 });
    // Once c1 is served, c2 is first in line and within the size: told so at its re-check.
    s.t += 1000;
    s.when({ type: 'end_conversation', conversationId: 'c0', outcome: 'resolved' });
    expect(only(s.advance(29_000), 'queued')).toMatchObject([{ conversationId: 'c2', position: 1 }]);
  });
});

describe('the over-capacity alert', () => {
  const alerts = (ev: ReturnType<Scenario['when']>) => only(ev, 'alert').map((a) => `${a.alert}:${a.value}`);

  it('clears with queue_capacity_recovered once the queue is back within its maximum size by the margin, and fires again only after that', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { maxSize: 1 }));
    const raised = ['a', 'b', 'c'].flatMap((id) => alerts(s.enqueue(conversation(id))));
    expect(raised).toEqual(['queue_over_capacity:2']);
    expect(alerts(s.when({ type: 'cancel', conversationId: 'c' }))).toEqual([]); // 2: still over
    // 1: at the maximum, not below it by the margin (1 below a maximum under 40)
    expect(alerts(s.when({ type: 'cancel', conversationId: 'b' }))).toEqual([]);
    expect(alerts(s.when({ type: 'cancel', conversationId: 'a' }))).toEqual(['queue_capacity_recovered:0']);
    expect(alerts(s.enqueue(conversation('d')))).toEqual([]);
    expect(alerts(s.enqueue(conversation('e')))).toEqual(['queue_over_capacity:2']);
  });

  it('a line moving between the maximum and one more raises the alert once, not with every step', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { maxSize: 10 }));
    for (let i = 0; i < 10; i++) s.enqueue(conversation(`w${i}`));
    const raised: string[] = [];
    for (let k = 0; k < 5; k++) {
      s.t += 1000;
      raised.push(...alerts(s.enqueue(conversation(`x${k}`)))); // 11
      s.t += 1000;
      raised.push(...alerts(s.when({ type: 'cancel', conversationId: `w${k}` }))); // 10
    }
    expect(raised).toEqual(['queue_over_capacity:11']);
    // Recovered at 9 = 10 − max(1, ⌈5 % of 10⌉).
    expect(alerts(s.when({ type: 'cancel', conversationId: 'w5' }))).toEqual(['queue_capacity_recovered:9']);
    expect(capacityRecoveredAt(10)).toBe(9);
    expect(capacityRecoveredAt(100)).toBe(95);
    expect(capacityRecoveredAt(101)).toBe(95);
  });

  it('an answer that brings the queue back within its size clears it', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { maxSize: 1 }));
    for (const id of ['a', 'b']) s.enqueue(conversation(id));
    s.given({ type: 'upsert_agent', agent: agentConfig('ann', { capacity: { chat: 2 } }) });
    expect(alerts(s.when({ type: 'set_presence', agentId: 'ann', presence: 'online' }))).toEqual([
      'queue_capacity_recovered:0',
    ]);
  });

  it('an uninterrupted over-capacity condition fires once, across a change of the queue’s configuration', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { maxSize: 1 }));
    for (const id of ['a', 'b', 'c']) s.enqueue(conversation(id));
    // An unrelated change rebuilds the queue's lanes (its waiting conversations are filed again).
    expect(
      alerts(s.when({ type: 'upsert_queue', queue: queueConfig('q1', { maxSize: 1, priority: 1 }) })),
    ).toEqual([]);
    expect(alerts(s.advance(31_000)).filter((a) => a.startsWith('queue_'))).toEqual([]);
    // A new maximum it is within clears it at once; one it is over again raises it.
    expect(alerts(s.when({ type: 'upsert_queue', queue: queueConfig('q1', { maxSize: 5 }) }))).toEqual([
      'queue_capacity_recovered:3',
    ]);
    expect(alerts(s.when({ type: 'upsert_queue', queue: queueConfig('q1', { maxSize: 2 }) }))).toEqual([
      'queue_over_capacity:3',
    ]);
  });

  it('customers held for their previous agent count towards the size', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { maxSize: 1, previousAgentWaitSeconds: 300 }));
    s.online(agentConfig('ann'));
    s.given({ type: 'upsert_customer', customer: customerConfig('alice', { previousAgents: ['ann'] }) });
    s.enqueue(conversation('busy')); // → ann
    expect(alerts(s.enqueue(conversation('c1', { customer: { id: 'alice' } })))).toEqual([]); // held for ann
    expect(alerts(s.enqueue(conversation('c2')))).toEqual(['queue_over_capacity:2']);
  });
});

describe('waiting notices', () => {
  it('the position and estimate are re-announced when they change materially', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1'));
    s.online(agentConfig('ann'));
    for (let i = 1; i <= 6; i++) s.enqueue(conversation(`c${i}`));
    // c6 is 5th in line. Three conversations are answered within the next re-check period.
    for (let i = 1; i <= 3; i++) {
      s.t += 5_000;
      s.when({ type: 'end_conversation', conversationId: `c${i}`, outcome: 'resolved' });
    }
    const events = s.advance(15_000);
    const c6 = only(events, 'queued').find((e) => e.conversationId === 'c6');
    expect(c6).toMatchObject({ position: 2 });
  });

  it('positions stay exact when customers behind leave: every place 1…n once, in line order', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1'));
    const ids = Array.from({ length: 10 }, (_, i) => `c${i}`);
    for (const id of ids) {
      s.t += 1000;
      s.enqueue(conversation(id));
    }
    const place = (id: string) => {
      const v = s.engine.query({ type: 'conversation', conversationId: id }, s.t);
      return v.type === 'conversation' ? v.conversation?.position : undefined;
    };
    // The last two leave, then one in the middle, then the first: everyone ahead of a leaver keeps
    // their place, everyone behind moves up one (an estimate from removal counts told c0, c1 and c2
    // all "first" here).
    for (const gone of ['c9', 'c8', 'c5', 'c0']) {
      s.when({ type: 'cancel', conversationId: gone });
    }
    const left = ids.filter((id) => !['c9', 'c8', 'c5', 'c0'].includes(id));
    expect(left.map(place)).toEqual([1, 2, 3, 4, 5, 6]);
    // The waiting list agrees with the places the conversations report.
    const w = s.engine.query({ type: 'list_waiting', queueId: 'q1', limit: 100 }, s.t);
    expect(w.type === 'list_waiting' && w.conversations?.map((c) => [c.id, c.position])).toEqual(
      left.map((id, i) => [id, i + 1]),
    );
  });

  it('an unchanged position is not re-announced', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1'));
    s.enqueue(conversation('c1'));
    expect(only(s.advance(30_000), 'queued')).toEqual([]);
  });

  it('"materially" means at least one place and 20 % of the position, or 30 s and 25 % of the estimate', () => {
    expect(materialChange(10, 9, 60_000, 60_000)).toBe(false);
    expect(materialChange(10, 8, 60_000, 60_000)).toBe(true);
    expect(materialChange(2, 1, 60_000, 60_000)).toBe(true);
    expect(materialChange(3, 3, 60_000, 80_000)).toBe(false);
    expect(materialChange(3, 3, 60_000, 100_000)).toBe(true);
  });

  it('the estimated wait follows recent handle times and the number of agents online', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1'));
    s.online(agentConfig('ann'), agentConfig('bob'));
    s.enqueue(conversation('c1'));
    s.enqueue(conversation('c2'));
    s.t += 120_000;
    s.when({ type: 'end_conversation', conversationId: 'c1', outcome: 'resolved' });
    s.when({ type: 'end_conversation', conversationId: 'c2', outcome: 'resolved' });
    s.enqueue(conversation('c3'));
    s.enqueue(conversation('c4'));
    const queued = only(s.enqueue(conversation('c5')), 'queued')[0]!;
    // 1st in line, average handle 120 s, two agents online ⇒ 60 s.
    expect(queued).toMatchObject({ position: 1, estimatedWaitMs: 60_000 });
  });

  it('with no seat online the estimate is one seat’s wait, always present (as the proto documents)', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1'));
    s.enqueue(conversation('c1'));
    const r = s.run({ type: 'enqueue', conversation: conversation('c2') });
    // 2nd in line × the default 300 s handle time ÷ one seat: set, never left out (gateways read an
    // absent estimate as 0); staffing says nobody is there.
    expect(r.ok && r.reply).toMatchObject({ status: 'queued', position: 2, estimatedWaitMs: 600_000 });
    const stats = s.engine.query({ type: 'queue_stats', queueId: 'q1' }, s.t);
    expect(stats.type === 'queue_stats' && stats.stats?.agentsOnline).toBe(0);
    // An agent online with no seat on the queue's channel staffs nothing either.
    s.online(agentConfig('voice-only', { capacity: { chat: 0, voice: 1 } }));
    expect(only(s.enqueue(conversation('c3')), 'queued')[0]).toMatchObject({ estimatedWaitMs: 900_000 });
  });
});

describe('aging and SLA-driven priority', () => {
  it('a low-priority conversation that has waited long enough overtakes a newer high-priority one', () => {
    const s = new Scenario();
    s.given({ type: 'set_routing_config', config: routingConfig({ agingPerMinute: 1 }) });
    s.queue(queueConfig('q1'));
    s.given({ type: 'upsert_agent', agent: agentConfig('ann') });
    s.enqueue(conversation('old-low', { priority: 0 }));
    s.t += 6 * 60_000;
    s.enqueue(conversation('new-high', { priority: 5 }));
    expect(assignments(s.when({ type: 'set_presence', agentId: 'ann', presence: 'online' }))).toEqual([
      'old-low→ann',
    ]);
  });

  it('without aging, priority always wins', () => {
    const s = new Scenario();
    s.given({ type: 'set_routing_config', config: routingConfig({ agingPerMinute: 0 }) });
    s.queue(queueConfig('q1'));
    s.given({ type: 'upsert_agent', agent: agentConfig('ann') });
    s.enqueue(conversation('old-low', { priority: 0 }));
    s.t += 60 * 60_000;
    s.enqueue(conversation('new-high', { priority: 5 }));
    expect(assignments(s.when({ type: 'set_presence', agentId: 'ann', presence: 'online' }))).toEqual([
      'new-high→ann',
    ]);
  });

  it('with SLA-driven priority, a conversation close to its service-level threshold is served first', () => {
    const s = new Scenario();
    s.given({
      type: 'set_routing_config',
      config: routingConfig({ agingPerMinute: 0, slaDrivenPriority: true }),
    });
    s.queue(
      queueConfig('chat', { serviceLevel: { target: 0.9, thresholdSeconds: 20, windowSeconds: 3600 } }),
    );
    s.queue(
      queueConfig('email', { serviceLevel: { target: 0.9, thresholdSeconds: 86_400, windowSeconds: 3600 } }),
    );
    s.given({ type: 'upsert_agent', agent: agentConfig('ann') });
    s.enqueue(conversation('mail', { queueId: 'email', priority: 3 }));
    s.t += 1000;
    s.enqueue(conversation('chat', { queueId: 'chat', priority: 0 }));
    s.t += 19_000;
    expect(assignments(s.when({ type: 'set_presence', agentId: 'ann', presence: 'online' }))).toEqual([
      'chat→ann',
    ]);
  });

  it('a higher-priority queue is served first by an agent of both queues', () => {
    const s = new Scenario();
    s.given({ type: 'set_routing_config', config: routingConfig({ agingPerMinute: 0 }) });
    s.queue(queueConfig('low', { priority: 1 }));
    s.queue(queueConfig('high', { priority: 7 }));
    s.given({ type: 'upsert_agent', agent: agentConfig('ann') });
    s.enqueue(conversation('l', { queueId: 'low', priority: 10 }));
    s.enqueue(conversation('h', { queueId: 'high', priority: 0 }));
    expect(assignments(s.when({ type: 'set_presence', agentId: 'ann', presence: 'online' }))).toEqual([
      'h→ann',
    ]);
  });
});

describe('notice re-checks', () => {
  it('a conversation re-checked twice in one millisecond is re-checked once: no queued notice while it rings, and a restore agrees', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { offerTimeoutSeconds: 20 }));
    s.given({ type: 'upsert_agent', agent: agentConfig('d') });
    s.enqueue(conversation('v3')); // waits: its re-check at t + 30 s
    s.online('d'); // offered to d
    s.when({ type: 'reject_offer', agentId: 'd', conversationId: 'v3' }); // waits again: a second re-check at t + 30 s
    const snap = s.engine.snapshot();
    s.t += 30_000;
    const live = s.when({ type: 'tick' });
    // The re-check lifts d's exclusion and offers it again; nothing tells the ringing customer "queued".
    expect(offers(live)).toEqual(['v3→d']);
    expect(only(live, 'queued')).toEqual([]);
    const restored = restoreEngine(JSON.parse(JSON.stringify(snap)));
    const again = restored.apply({ id: 'tick-r', at: s.t, cmd: { type: 'tick' } });
    expect(again.ok && again.events).toEqual(live);
    expect(restored.digest()).toBe(s.engine.digest());
  });
});

describe('the service level over business hours', () => {
  const office = {
    timeZone: 'Europe/Paris',
    windows: [1, 2, 3, 4, 5].map((day) => ({ day, open: '09:00', close: '18:00' })),
    holidays: [],
  };
  const sla = { target: 0.8, thresholdSeconds: 20, windowSeconds: 3600 };
  const paris = (d: number, h: number, m: number, sec = 0) => Date.UTC(2026, 0, d, h - 1, m, sec); // UTC+1
  const stats = (s: Scenario) => {
    const r = s.engine.query({ type: 'queue_stats', queueId: 'q1' }, s.t);
    if (r.type !== 'queue_stats' || !r.stats) throw new Error('no stats');
    return r.stats;
  };
  const alertsUntil = (s: Scenario, t: number) => {
    const ev = s.advance(t - s.t);
    return only(ev, 'alert').map((a) => `${a.alert}:${a.value}`);
  };

  it('a customer waiting while the queue is closed is not past the threshold, and answered soon after opening is in time', () => {
    const s = new Scenario(paris(5, 19, 30)); // Monday 19:30, closed
    s.queue(queueConfig('q1', { businessHours: office, serviceLevel: sla }));
    s.given({ type: 'upsert_agent', agent: agentConfig('ann') });
    s.enqueue(conversation('c1'));
    // Before: sla_breached a minute later (waiting past the threshold 1, nobody online: the critical
    // unstaffed alert every night).
    expect(alertsUntil(s, paris(5, 19, 31))).toEqual([]);
    expect(stats(s)).toMatchObject({
      waitingPastThreshold: 0,
      serviceLevel: null,
      serviceLevelState: 'ok',
      open: false,
    });
    const restored = restoreEngine(JSON.parse(JSON.stringify(s.engine.snapshot())));
    expect(restored.digest()).toBe(s.engine.digest());
    expect(alertsUntil(s, paris(6, 9, 0, 10))).toEqual([]); // the whole night, and 10 s after opening
    expect(stats(s)).toMatchObject({ waitingPastThreshold: 0, open: true });
    s.given({ type: 'set_presence', agentId: 'ann', presence: 'online' });
    // 10 s of opening time: in time (before: 13.5 h, late). The average wait is the customer's whole wait.
    expect(stats(s)).toMatchObject({
      serviceLevel: 1,
      serviceLevelState: 'ok',
      averageWaitMs: paris(6, 9, 0, 10) - paris(5, 19, 30),
    });
  });

  it('from the opening, the threshold runs as in the day: past it one re-check after, breached', () => {
    const s = new Scenario(paris(5, 19, 30));
    s.queue(queueConfig('q1', { businessHours: office, serviceLevel: sla }));
    s.enqueue(conversation('c1'));
    expect(alertsUntil(s, paris(6, 9, 0, 20))).toEqual([]);
    expect(stats(s)).toMatchObject({ waitingPastThreshold: 0 });
    s.t += 1; // 20 s and 1 ms of opening time: past it (a query reads it at once)
    expect(stats(s)).toMatchObject({ waitingPastThreshold: 1, serviceLevel: 0, agentsOnline: 0, open: true });
    expect(alertsUntil(s, paris(6, 9, 0, 30))).toEqual(['sla_breached:0']); // its 30 s re-check
  });

  it('closing stops the clock: waiting past the threshold ends, and the next opening starts it afresh', () => {
    const s = new Scenario(paris(6, 17, 59));
    s.queue(queueConfig('q1', { businessHours: office, serviceLevel: sla }));
    s.given({ type: 'upsert_agent', agent: agentConfig('ann') });
    s.enqueue(conversation('c1'));
    expect(alertsUntil(s, paris(6, 17, 59, 30))).toEqual(['sla_breached:0']);
    expect(alertsUntil(s, paris(6, 18, 0))).toEqual(['sla_recovered:1']); // closed: nothing to judge
    expect(stats(s)).toMatchObject({ waitingPastThreshold: 0, serviceLevel: null, open: false });
    expect(alertsUntil(s, paris(7, 9, 0, 5))).toEqual([]);
    s.given({ type: 'set_presence', agentId: 'ann', presence: 'online' });
    expect(stats(s)).toMatchObject({ serviceLevel: 1, serviceLevelState: 'ok' });
  });

  it('leaving while the queue is closed is an abandon, not a late one', () => {
    const s = new Scenario(paris(5, 19, 30));
    s.queue(queueConfig('q1', { businessHours: office, serviceLevel: sla }));
    s.enqueue(conversation('c1'));
    s.advance(3 * 3600_000);
    s.given({ type: 'cancel', conversationId: 'c1' });
    expect(stats(s)).toMatchObject({ abandoned: 1, abandonmentRate: 1, serviceLevel: null });
  });

  it('openedAt: the start of the open stretch, windows that meet joined (across midnight too)', () => {
    expect(openedAt(office, paris(6, 10, 0))).toBe(paris(6, 9, 0));
    expect(openedAt(office, paris(6, 9, 0))).toBe(paris(6, 9, 0));
    expect(openedAt(office, paris(6, 19, 30))).toBeNull();
    const split = {
      ...office,
      windows: [
        { day: 2, open: '09:00', close: '12:00' },
        { day: 2, open: '12:00', close: '18:00' },
      ],
    };
    expect(openedAt(split, paris(6, 12, 0, 15))).toBe(paris(6, 9, 0));
    const lunch = {
      ...office,
      windows: [
        { day: 2, open: '09:00', close: '12:00' },
        { day: 2, open: '13:00', close: '18:00' },
      ],
    };
    expect(openedAt(lunch, paris(6, 13, 0, 15))).toBe(paris(6, 13, 0));
    const night = {
      ...office,
      windows: [
        { day: 1, open: '22:00', close: '24:00' },
        { day: 2, open: '00:00', close: '06:00' },
      ],
    };
    expect(openedAt(night, paris(6, 3, 0))).toBe(paris(5, 22, 0));
    const always = {
      ...office,
      windows: [0, 1, 2, 3, 4, 5, 6].map((day) => ({ day, open: '00:00', close: '24:00' })),
    };
    expect(openedAt(always, paris(6, 3, 0))).toBe(Number.NEGATIVE_INFINITY);
    // A holiday closes the day: the stretch after it starts at the next opening.
    expect(openedAt({ ...always, holidays: ['2026-01-05'] }, paris(6, 3, 0))).toBe(paris(6, 0, 0));
  });
});

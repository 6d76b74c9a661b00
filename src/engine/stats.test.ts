import { describe, expect, it } from 'vitest';
import {
  agentConfig,
  assignments,
  conversation,
  customerConfig,
  only,
  queueConfig,
  routingConfig,
  Scenario,
} from './fixtures.js';
import { createEngine, restoreEngine } from './index.js';
import type { Command, CommandEnvelope, LintFinding } from './types.js';

function queueStats(s: Scenario, queueId = 'q1') {
  const r = s.engine.query({ type: 'queue_stats', queueId }, s.t);
  if (r.type !== 'queue_stats' || !r.stats) throw new Error('no stats');
  return r.stats;
}

describe('queue statistics', () => {
  it('service level, average wait, abandonment and handle time are kept over the sliding window', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { serviceLevel: { target: 0.8, thresholdSeconds: 20, windowSeconds: 3600 } }));
    s.given({ type: 'upsert_agent', agent: agentConfig('ann', { capacity: { chat: 5 } }) });
    s.enqueue(conversation('fast'));
    s.enqueue(conversation('slow'));
    s.enqueue(conversation('gone'));
    s.t += 10_000;
    s.given({ type: 'cancel', conversationId: 'gone' });
    s.online('ann'); // answers fast and slow after 10 s
    s.t += 60_000;
    s.when({ type: 'end_conversation', conversationId: 'fast', outcome: 'resolved' });
    const st = queueStats(s);
    expect(st).toMatchObject({
      waiting: 0,
      agentsOnline: 1,
      agentsAvailable: 1,
      serviceLevel: 1,
      averageWaitMs: 10_000,
      averageHandleMs: 60_000,
      inbound: 3,
      assigned: 2,
      abandoned: 1,
    });
    expect(st.abandonmentRate).toBeCloseTo(1 / 3);
  });

  it('abandonment rate is abandoned ÷ (answered + abandoned), both counted when they happen: never above 1', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { serviceLevel: { target: 0.8, thresholdSeconds: 20, windowSeconds: 600 } }));
    for (const id of ['a', 'b', 'c']) s.enqueue(conversation(id));
    // Their arrivals are out of the window when they leave: the rate is about resolutions in the window.
    s.advance(11 * 60_000);
    s.enqueue(conversation('d'));
    for (const id of ['a', 'b', 'c']) s.given({ type: 'cancel', conversationId: id });
    expect(queueStats(s)).toMatchObject({ abandoned: 3, abandonmentRate: 1 });
    s.online(agentConfig('ann')); // answers d
    expect(queueStats(s).abandonmentRate).toBe(0.75);
    // Resolutions leave the window like everything else.
    s.advance(11 * 60_000);
    expect(queueStats(s).abandonmentRate).toBe(0);
  });

  it('a sample that drops an expired bucket outside a tick leaves the next expiry exact: restore agrees (r5)', () => {
    // The window moves on only in ticks and when a sample is added; a command's time is not ticked to.
    // c1's handled sample (10 s) and answer (0 s) sit in the 1 s buckets of 0 and 10 s; at 62 s, c2's
    // handled sample drops the 0 s bucket: the next expiry is then 70 s, not 60 s. A restored engine
    // recomputes it from the windows, so the original must say the same (nextTimerAt: the 65 s re-check),
    // and run the next tick's timers in the same order.
    const t0 = Math.ceil(Date.UTC(2026, 0, 5, 10, 0, 0) / 60_000) * 60_000;
    const envs: CommandEnvelope[] = [];
    const at = (s: number, cmd: Command) => envs.push({ id: `c${envs.length}`, at: t0 + s * 1000, cmd });
    at(0, { type: 'set_routing_config', config: routingConfig() });
    at(0, {
      type: 'upsert_queue',
      queue: queueConfig('q1', { serviceLevel: { target: 0.8, thresholdSeconds: 20, windowSeconds: 60 } }),
    });
    at(0, { type: 'upsert_agent', agent: agentConfig('a', { capacity: { chat: 1 } }) });
    at(0, { type: 'set_presence', agentId: 'a', presence: 'online' });
    at(0, { type: 'enqueue', conversation: conversation('c1') });
    at(10, { type: 'end_conversation', conversationId: 'c1', outcome: 'resolved' });
    at(20, { type: 'enqueue', conversation: conversation('c2') });
    // Nobody holds lang:de: c3 waits, its 30 s re-check is due at 65 s.
    at(35, {
      type: 'enqueue',
      conversation: conversation('c3', { requiredSkills: [{ skill: 'lang:de', minLevel: 1 }] }),
    });
    at(62, { type: 'end_conversation', conversationId: 'c2', outcome: 'resolved' });
    const cut = envs.length;
    at(72, { type: 'upsert_customer', customer: customerConfig('x') });
    at(80, { type: 'tick' });

    const straight = createEngine('p');
    const results = envs.map((e) => straight.apply(e));
    const first = createEngine('p');
    for (const e of envs.slice(0, cut)) first.apply(e);
    expect(first.nextTimerAt()).toBe(t0 + 65_000);
    const restored = restoreEngine(JSON.parse(JSON.stringify(first.snapshot())));
    expect(restored.digest()).toBe(first.digest());
    expect(restored.nextTimerAt()).toBe(first.nextTimerAt());
    expect(envs.slice(cut).map((e) => restored.apply(e))).toEqual(results.slice(cut));
    expect(restored.digest()).toBe(straight.digest());
    expect(restored.nextTimerAt()).toBe(straight.nextTimerAt());
  });

  it('answers older than the window stop counting', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { serviceLevel: { target: 0.8, thresholdSeconds: 20, windowSeconds: 600 } }));
    s.online(agentConfig('ann'));
    s.enqueue(conversation('c1'));
    expect(queueStats(s).serviceLevel).toBe(1);
    s.advance(11 * 60_000);
    expect(queueStats(s).serviceLevel).toBeNull();
  });

  it('longest wait is the age of the oldest waiting conversation', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1'));
    s.enqueue(conversation('c1'));
    s.t += 45_000;
    s.enqueue(conversation('c2', { priority: 9 }));
    expect(queueStats(s)).toMatchObject({ waiting: 2, longestWaitMs: 45_000 });
  });
});

describe('the agents of a queue are those with a seat on its channel', () => {
  it('a chat-only agent online does not staff a voice queue: not online for it, not in its agent statistics', () => {
    const s = new Scenario();
    s.queue(queueConfig('v', { channel: 'voice', requiredSkills: [{ skill: 'support', minLevel: 4 }] }));
    const chatOnly = agentConfig('chatonly', {
      skills: [{ skill: 'support', level: 9 }],
      capacity: { chat: 2 },
    });
    s.online(chatOnly);
    s.enqueue(conversation('call1', { channel: 'voice', queueId: 'v' }));
    s.advance(60_000);
    // Before: agentsOnline 1, so an unstaffed queue (waiting past the threshold, nobody online) read staffed.
    expect(queueStats(s, 'v')).toMatchObject({
      agentsOnline: 0,
      agentsAvailable: 0,
      waitingPastThreshold: 1,
    });
    const ofQueue = () => {
      const r = s.engine.query({ type: 'all_agent_stats', queueId: 'v' }, s.t);
      return r.type === 'all_agent_stats' ? r.stats?.map((a) => a.agentId) : undefined;
    };
    expect(ofQueue()).toEqual([]);
    // Given a voice seat it staffs the queue (and takes the call); without it again, it no longer does.
    s.given({ type: 'upsert_agent', agent: { ...chatOnly, capacity: { chat: 2, voice: 1 } } });
    expect(queueStats(s, 'v')).toMatchObject({ agentsOnline: 1, waiting: 0 });
    expect(ofQueue()).toEqual(['chatonly']);
    s.given({ type: 'end_conversation', conversationId: 'call1', outcome: 'resolved' });
    s.given({ type: 'upsert_agent', agent: chatOnly });
    expect(queueStats(s, 'v')).toMatchObject({ agentsOnline: 0 });
    s.given({ type: 'set_presence', agentId: 'chatonly', presence: 'offline' });
    s.given({ type: 'set_presence', agentId: 'chatonly', presence: 'online' });
    expect(queueStats(s, 'v')).toMatchObject({ agentsOnline: 0 });
    expect(ofQueue()).toEqual([]);
    const restored = restoreEngine(JSON.parse(JSON.stringify(s.engine.snapshot())));
    const r = restored.query({ type: 'queue_stats', queueId: 'v' }, s.t);
    expect(r.type === 'queue_stats' && r.stats?.agentsOnline).toBe(0);
  });
});

/** Answers conversation `id` after `waitMs` (ann comes online for it, then leaves); the alerts raised. */
function answerAfter(s: Scenario) {
  return (id: string, waitMs: number) => {
    s.enqueue(conversation(id));
    s.t += waitMs;
    const ev = s.when({ type: 'set_presence', agentId: 'ann', presence: 'online' });
    s.given({ type: 'set_presence', agentId: 'ann', presence: 'offline' });
    return only(ev, 'alert').map((a) => a.alert);
  };
}

describe('service-level alerts', () => {
  it('the queue raises at-risk, then breached, then recovered as answers come in', () => {
    const s = new Scenario();
    s.given({ type: 'set_routing_config', config: routingConfig({ slaAtRiskMargin: 0.2 }) });
    s.queue(queueConfig('q1', { serviceLevel: { target: 0.5, thresholdSeconds: 20, windowSeconds: 3600 } }));
    s.given({ type: 'upsert_agent', agent: agentConfig('ann', { capacity: { chat: 10 } }) });
    const answer = answerAfter(s);
    expect(answer('a', 1_000)).toEqual([]); // 1/1
    expect(answer('b', 30_000)).toEqual(['sla_at_risk']); // 1/2 = 0.5 < 0.7
    expect(answer('c', 30_000)).toEqual(['sla_breached']); // 1/3 < 0.5
    // Back at the target exactly: not clear of it by the hysteresis band (one point), still breached.
    expect(answer('d', 1_000)).toEqual([]); // 2/4 = 0.5
    expect(answer('e', 1_000)).toEqual(['sla_at_risk']); // 3/5 = 0.6
    expect(answer('f', 1_000)).toEqual([]); // 4/6 = 0.67
    expect(answer('g', 1_000)).toEqual(['sla_recovered']); // 5/7 = 0.714 ≥ 0.7 + 0.01
  });

  it('a level hovering at a boundary raises its alert once, not with every answer', () => {
    const s = new Scenario();
    s.given({ type: 'set_routing_config', config: routingConfig({ slaAtRiskMargin: 0.1 }) });
    s.queue(queueConfig('q1', { serviceLevel: { target: 0.8, thresholdSeconds: 20, windowSeconds: 3600 } }));
    s.given({ type: 'upsert_agent', agent: agentConfig('ann', { capacity: { chat: 100 } }) });
    const answer = answerAfter(s);
    const raised: string[] = [];
    // Nine in time, one late, then alternating: the level swings around 0.9 (the at-risk boundary),
    // from just under it to just over it, never a point clear of it.
    for (let i = 0; i < 9; i++) raised.push(...answer(`in${i}`, 1_000));
    raised.push(...answer('late0', 30_000)); // 9/10 = 0.9: ok
    for (let i = 1; i <= 6; i++) {
      raised.push(...answer(`late${i}`, 30_000)); // just under 0.9
      for (let k = 0; k < 10; k++) raised.push(...answer(`in${i}-${k}`, 1_000)); // back over 0.9
    }
    expect(raised).toEqual(['sla_at_risk']);
  });

  it('a 100 % target is ok while every answer is in time, breached at the first late one (boundaries capped at 1)', () => {
    const s = new Scenario();
    s.queue(
      queueConfig('q1', { serviceLevel: { target: 1, thresholdSeconds: 86_400, windowSeconds: 86_400 } }),
    );
    s.given({ type: 'upsert_agent', agent: agentConfig('ann', { capacity: { chat: 10 } }) });
    const answer = answerAfter(s);
    // Before: target + margin (1.05) was out of reach, so the first answer in time raised sla_at_risk.
    for (let i = 0; i < 5; i++) expect(answer(`in${i}`, 1_000)).toEqual([]);
    expect(queueStats(s)).toMatchObject({ serviceLevel: 1, serviceLevelState: 'ok' });
    expect(answer('late', 86_401_000)).toEqual(['sla_breached']); // 5/6
  });

  it('a target whose at-risk band reaches 100 % recovers once every answer in the window is in time', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { serviceLevel: { target: 0.96, thresholdSeconds: 20, windowSeconds: 3600 } }));
    s.given({ type: 'upsert_agent', agent: agentConfig('ann', { capacity: { chat: 200 } }) });
    const answer = answerAfter(s);
    const raised: string[] = [];
    for (let i = 0; i < 50; i++) raised.push(...answer(`in${i}`, 1_000));
    expect(raised).toEqual([]);
    expect(answer('late', 30_000)).toEqual(['sla_at_risk']); // 50/51 = 0.98 < 0.96 + 0.05, capped at 1
    s.t += 10 * 60_000;
    for (let i = 0; i < 50; i++) raised.push(...answer(`next${i}`, 1_000));
    expect(raised).toEqual([]); // 100/101 = 0.99: still at risk
    // The late answer leaves the window (the first 50 before it): 50/50 = 100 %, which is target +
    // margin capped at 1.
    expect(only(s.advance(50 * 60_000), 'alert').map((a) => `${a.alert}:${a.value}`)).toEqual([
      'sla_recovered:1',
    ]);
    expect(queueStats(s)).toMatchObject({ serviceLevel: 1, serviceLevelState: 'ok' });
  });
});

describe('a breached service level clears when nothing is left to judge', () => {
  const sla = { target: 0.8, thresholdSeconds: 10, windowSeconds: 600 };
  const alerts = (ev: ReturnType<Scenario['when']>) => only(ev, 'alert').map((a) => `${a.alert}:${a.value}`);

  it("the window emptying is a recovery: sla_recovered once the late answer leaves it, not at the next day's first answer", () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { serviceLevel: sla }));
    s.given({ type: 'upsert_agent', agent: agentConfig('ann') });
    s.enqueue(conversation('a'));
    s.t += 15_000;
    expect(alerts(s.when({ type: 'set_presence', agentId: 'ann', presence: 'online' }))).toEqual([
      'sla_breached:0',
    ]);
    s.when({ type: 'end_conversation', conversationId: 'a', outcome: 'resolved' });
    // Still in the window: still breached.
    expect(alerts(s.advance(5 * 60_000))).toEqual([]);
    // The answer leaves the window: no figure any more, and no breach either.
    expect(alerts(s.advance(6 * 60_000))).toEqual(['sla_recovered:1']);
    expect(queueStats(s).serviceLevel).toBeNull();
    expect(alerts(s.advance(3 * 3600_000))).toEqual([]);
    // The next day's first answer in time changes nothing: the queue was already ok.
    s.given({ type: 'set_presence', agentId: 'ann', presence: 'online' });
    expect(alerts(s.enqueue(conversation('b')))).toEqual([]);
  });

  it('customers who made it breached by waiting past the threshold, moved to another queue, leave it recovered', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { serviceLevel: sla }));
    s.queue(queueConfig('q2'));
    s.enqueue(conversation('a'));
    expect(alerts(s.advance(30_000))).toEqual(['sla_breached:0']);
    expect(alerts(s.when({ type: 'transfer', conversationId: 'a', toQueueId: 'q2' }))).toEqual([
      'sla_recovered:1',
    ]);
  });
});

describe('the service level is judged on the window as of now', () => {
  it('a re-check due in the same millisecond as a window expiry does not judge the samples that just left', () => {
    // a1 is answered in time at t0; its sample leaves the 60 s window at t0 + 60 s, exactly when c's
    // re-check is due (c waits from t0 + 30 s, past the 20 s threshold). The re-check ran first and
    // judged 1 ÷ 2 (at risk), then the window step 0 ÷ 1 (breached): two alerts for one change.
    const t0 = Math.ceil(Date.UTC(2026, 0, 5, 10, 0, 0) / 60_000) * 60_000;
    for (const offset of [0, 1]) {
      const s = new Scenario(t0);
      s.given({ type: 'set_routing_config', config: routingConfig({ slaAtRiskMargin: 0.2 }) });
      s.queue(queueConfig('q1', { serviceLevel: { target: 0.5, thresholdSeconds: 20, windowSeconds: 60 } }));
      s.online(agentConfig('ann'));
      s.enqueue(conversation('a1'));
      s.given({ type: 'set_presence', agentId: 'ann', presence: 'offline' });
      s.t = t0 + 30_000 + offset;
      s.enqueue(conversation('c'));
      const raised: string[] = [];
      for (let k = 0; k < 4; k++)
        raised.push(...only(s.advance(10_000), 'alert').map((a) => `${a.alert}:${a.value}`));
      expect({ offset, raised }).toEqual({ offset, raised: ['sla_breached:0'] });
    }
  });
});

describe('"within the threshold" is a wait of at most the threshold, everywhere', () => {
  const sla = { target: 0.8, thresholdSeconds: 20, windowSeconds: 3600 };

  it('waiting exactly the threshold is not past it; answered or leaving then is in time', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { serviceLevel: sla, offerTimeoutSeconds: 60 }));
    s.queue(queueConfig('q2', { serviceLevel: sla, previousAgentWaitSeconds: 300 }));
    s.given({ type: 'upsert_agent', agent: agentConfig('ann', { capacity: { chat: 5 } }) });
    for (const id of ['a', 'b']) s.enqueue(conversation(id));
    s.t += 20_000;
    // In the line: exactly 20 s is within 20 s (before: counted past it, serviceLevel 0).
    expect(queueStats(s)).toMatchObject({ waitingPastThreshold: 0, serviceLevel: null });
    s.t += 1;
    expect(queueStats(s)).toMatchObject({ waitingPastThreshold: 2, serviceLevel: 0 });
    s.t -= 1;
    s.given({ type: 'cancel', conversationId: 'b' }); // left at exactly 20 s: not an abandon after the threshold
    s.online('ann'); // a rings at ann, still at exactly 20 s
    // Ringing (the offered set): the same rule.
    expect(queueStats(s)).toMatchObject({ waiting: 1, waitingPastThreshold: 0, serviceLevel: null });
    s.when({ type: 'accept_offer', agentId: 'ann', conversationId: 'a' });
    expect(queueStats(s)).toMatchObject({ serviceLevel: 1 });
    // Held for a previous agent (the held set): the same rule.
    s.given({ type: 'upsert_customer', customer: customerConfig('alice', { previousAgents: ['bob'] }) });
    s.online(agentConfig('bob'));
    s.enqueue(conversation('busy', { queueId: 'q2' }));
    s.enqueue(conversation('held', { queueId: 'q2', customer: { id: 'alice' } }));
    s.t += 20_000;
    expect(queueStats(s, 'q2')).toMatchObject({ waiting: 1, waitingPastThreshold: 0 });
    s.t += 1;
    expect(queueStats(s, 'q2')).toMatchObject({ waiting: 1, waitingPastThreshold: 1 });
  });
});

describe('a configuration change judges the service level again', () => {
  const sla = { target: 0.8, thresholdSeconds: 10, windowSeconds: 600 };
  const alerts = (ev: ReturnType<Scenario['when']>) => only(ev, 'alert').map((a) => `${a.alert}:${a.value}`);

  it('a new window starts empty: a breached queue recovers at once instead of staying breached', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { serviceLevel: sla }));
    s.given({ type: 'upsert_agent', agent: agentConfig('ann') });
    s.enqueue(conversation('a'));
    s.t += 15_000;
    expect(alerts(s.when({ type: 'set_presence', agentId: 'ann', presence: 'online' }))).toEqual([
      'sla_breached:0',
    ]);
    const ev = s.when({
      type: 'upsert_queue',
      queue: queueConfig('q1', { serviceLevel: { ...sla, windowSeconds: 900 } }),
    });
    expect(alerts(ev)).toEqual(['sla_recovered:1']);
    expect(queueStats(s)).toMatchObject({ serviceLevel: null, serviceLevelState: 'ok' });
  });

  it('a lowered target clears a breach, a raised one raises it, a new margin moves the at-risk boundary', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { serviceLevel: sla }));
    s.online(agentConfig('ann', { capacity: { chat: 5 } }));
    s.enqueue(conversation('a')); // answered at once
    s.given({ type: 'set_presence', agentId: 'ann', presence: 'offline' });
    s.enqueue(conversation('b'));
    s.t += 15_000;
    expect(alerts(s.when({ type: 'set_presence', agentId: 'ann', presence: 'online' }))).toEqual([
      'sla_breached:0.5',
    ]);
    const target = (t: number) =>
      alerts(
        s.when({ type: 'upsert_queue', queue: queueConfig('q1', { serviceLevel: { ...sla, target: t } }) }),
      );
    expect(target(0.4)).toEqual(['sla_recovered:0.5']); // 0.5 ≥ 0.4 + 0.05 + 0.01
    expect(target(0.48)).toEqual(['sla_at_risk:0.5']);
    expect(target(0.6)).toEqual(['sla_breached:0.5']);
    expect(target(0.6)).toEqual([]); // unchanged: no new alert
    expect(target(0.4)).toEqual(['sla_recovered:0.5']);
    const margin = (m: number) =>
      alerts(s.when({ type: 'set_routing_config', config: routingConfig({ slaAtRiskMargin: m }) }));
    expect(margin(0.2)).toEqual(['sla_at_risk:0.5']);
    expect(margin(0.05)).toEqual(['sla_recovered:0.5']);
  });
});

describe('the alert state in the queue statistics', () => {
  it('shows the service-level state and whether the queue is over its size, as last announced', () => {
    const s = new Scenario();
    s.queue(
      queueConfig('q1', {
        maxSize: 1,
        serviceLevel: { target: 0.8, thresholdSeconds: 10, windowSeconds: 600 },
      }),
    );
    expect(queueStats(s)).toMatchObject({
      serviceLevelState: 'ok',
      overCapacity: false,
      serviceLevelTarget: 0.8,
    });
    for (const id of ['a', 'b']) s.enqueue(conversation(id));
    expect(queueStats(s)).toMatchObject({ serviceLevelState: 'ok', overCapacity: true });
    s.advance(30_000); // both past the threshold at their re-check
    expect(queueStats(s)).toMatchObject({ serviceLevelState: 'breached', overCapacity: true });
    s.given({ type: 'cancel', conversationId: 'b' });
    // At the maximum, not yet below it by the recovery margin.
    expect(queueStats(s)).toMatchObject({ serviceLevelState: 'breached', overCapacity: true });
    s.given({ type: 'cancel', conversationId: 'a' });
    expect(queueStats(s)).toMatchObject({ serviceLevelState: 'breached', overCapacity: false });
    // The window empties: nothing left to judge, no breach.
    s.advance(11 * 60_000);
    expect(queueStats(s)).toMatchObject({ serviceLevelState: 'ok', overCapacity: false });
  });
});

describe('conversations waiting past the threshold count against the service level', () => {
  const sla = { target: 0.8, thresholdSeconds: 20, windowSeconds: 3600 };

  it('a queue nobody answers is breached one re-check after the threshold, not left without a figure', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { serviceLevel: sla }));
    for (let i = 1; i <= 5; i++) s.enqueue(conversation(`c${i}`));
    // Inside the threshold: nothing to judge yet.
    expect(only(s.advance(15_000), 'alert')).toEqual([]);
    expect(queueStats(s)).toMatchObject({ serviceLevel: null, waitingPastThreshold: 0 });
    // The re-check after the threshold (30 s after enqueue): all five can no longer be answered in time.
    const alerts = only(s.advance(15_000), 'alert');
    expect(alerts).toMatchObject([{ alert: 'sla_breached', queueId: 'q1', value: 0 }]);
    expect(queueStats(s)).toMatchObject({ waiting: 5, waitingPastThreshold: 5, serviceLevel: 0 });
    // Once answered (late) they are no longer waiting, and count as answered late.
    s.online(agentConfig('ann', { capacity: { chat: 5 } }));
    expect(queueStats(s)).toMatchObject({ waiting: 0, waitingPastThreshold: 0, serviceLevel: 0 });
  });

  it('answers in time and customers still waiting past the threshold make up the figure together', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { serviceLevel: sla }));
    s.online(agentConfig('ann', { capacity: { chat: 3 } }));
    for (const id of ['a', 'b', 'c', 'late']) s.enqueue(conversation(id)); // a, b, c answered at once
    s.advance(25_000);
    // 3 answered within 20 s, 1 waiting for 25 s: 3 ÷ 4.
    expect(queueStats(s)).toMatchObject({ waitingPastThreshold: 1, serviceLevel: 0.75 });
    // It leaves (a late abandon): still 3 ÷ 4, now from the window.
    s.when({ type: 'cancel', conversationId: 'late' });
    expect(queueStats(s)).toMatchObject({ waitingPastThreshold: 0, serviceLevel: 0.75 });
  });

  it('a customer held for their previous agent past the threshold counts as waiting past it', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { serviceLevel: sla, previousAgentWaitSeconds: 300 }));
    s.online(agentConfig('ann'));
    s.given({ type: 'upsert_customer', customer: customerConfig('alice', { previousAgents: ['ann'] }) });
    s.enqueue(conversation('busy')); // → ann, answered at once
    s.enqueue(conversation('c1', { customer: { id: 'alice' } })); // held for ann
    expect(queueStats(s)).toMatchObject({ waiting: 1, waitingPastThreshold: 0, serviceLevel: 1 });
    // The re-check past the threshold: 1 answered in time ÷ (1 answered + 1 waiting past it).
    const alerts = only(s.advance(30_000), 'alert');
    expect(alerts).toMatchObject([{ alert: 'sla_breached', queueId: 'q1', value: 0.5 }]);
    expect(queueStats(s)).toMatchObject({
      waiting: 1,
      longestWaitMs: 30_000,
      waitingPastThreshold: 1,
      serviceLevel: 0.5,
    });
    // A dashboard asking for a later time sees it too, and so does a restored partition.
    const later = s.engine.query({ type: 'queue_stats', queueId: 'q1' }, s.t + 60_000);
    expect(later.type === 'queue_stats' && later.stats).toMatchObject({ waitingPastThreshold: 1 });
    const restored = restoreEngine(JSON.parse(JSON.stringify(s.engine.snapshot())));
    const there = restored.query({ type: 'queue_stats', queueId: 'q1' }, s.t);
    expect(there.type === 'queue_stats' && there.stats).toMatchObject({
      waiting: 1,
      waitingPastThreshold: 1,
    });
    // Ann taking it ends the count.
    s.when({ type: 'end_conversation', conversationId: 'busy', outcome: 'resolved' });
    expect(queueStats(s)).toMatchObject({ waiting: 0, waitingPastThreshold: 0 });
  });

  it('a statistics query for a later time changes nothing: the engine still judges by its own clock', () => {
    const run = (peek: boolean) => {
      const s = new Scenario();
      s.queue(queueConfig('q1', { serviceLevel: sla }));
      s.enqueue(conversation('c1'));
      if (peek) {
        const r = s.engine.query({ type: 'queue_stats', queueId: 'q1' }, s.t + 60_000);
        expect(r.type === 'queue_stats' && r.stats).toMatchObject({
          waitingPastThreshold: 1,
          serviceLevel: 0,
        });
      }
      // Two 10 s steps (inside the threshold), then the re-check past it.
      return [10_000, 10_000, 10_000].map((ms) => only(s.advance(ms), 'alert').map((a) => a.alert));
    };
    expect(run(true)).toEqual(run(false));
    expect(run(false)).toEqual([[], [], ['sla_breached']]);
  });
});

describe('a customer being offered to an agent is still waiting', () => {
  const sla = { target: 0.8, thresholdSeconds: 10, windowSeconds: 3600 };

  it('counts in waiting, longest wait, waiting past the threshold and the service level until an agent accepts', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { offerTimeoutSeconds: 60, serviceLevel: sla }));
    s.online(agentConfig('ann'));
    s.enqueue(conversation('a')); // rings at ann's desk
    s.t += 45_000;
    expect(queueStats(s)).toMatchObject({
      waiting: 1,
      longestWaitMs: 45_000,
      waitingPastThreshold: 1,
      serviceLevel: 0,
    });
    // A restored partition derives the same.
    const restored = restoreEngine(JSON.parse(JSON.stringify(s.engine.snapshot())));
    const there = restored.query({ type: 'queue_stats', queueId: 'q1' }, s.t);
    expect(there.type === 'queue_stats' && there.stats).toMatchObject({
      waiting: 1,
      waitingPastThreshold: 1,
    });
    s.when({ type: 'accept_offer', agentId: 'ann', conversationId: 'a' });
    // Answered late.
    expect(queueStats(s)).toMatchObject({
      waiting: 0,
      longestWaitMs: 0,
      waitingPastThreshold: 0,
      serviceLevel: 0,
    });
  });

  it('an offer that rang past the threshold turns the queue breached when it expires', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { offerTimeoutSeconds: 60, serviceLevel: sla }));
    s.online(agentConfig('ann'));
    s.enqueue(conversation('a'));
    expect(only(s.advance(60_000), 'alert')).toMatchObject([{ alert: 'sla_breached', value: 0 }]);
  });
});

describe('a conversation transferred back into its own queue after it was answered', () => {
  it('counts once, as answered: its new wait and its abandonment stay out of the service level and the abandonment rate', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { serviceLevel: { target: 0.8, thresholdSeconds: 10, windowSeconds: 3600 } }));
    s.online(agentConfig('ann'));
    s.enqueue(conversation('a')); // answered at once: 1 ÷ 1
    s.when({ type: 'transfer', conversationId: 'a', toQueueId: 'q1' });
    s.t += 20_000;
    // Waiting again (the customer is), but not a customer still to be answered in time.
    expect(queueStats(s)).toMatchObject({
      waiting: 1,
      longestWaitMs: 20_000,
      waitingPastThreshold: 0,
      serviceLevel: 1,
    });
    s.when({ type: 'cancel', conversationId: 'a' });
    expect(queueStats(s)).toMatchObject({ abandoned: 1, serviceLevel: 1, abandonmentRate: 0 });
  });
});

describe('a conversation not yet answered transferred into the queue it waits in', () => {
  const sla = { target: 0.8, thresholdSeconds: 20, windowSeconds: 3600 };

  it('keeps its wait, its place and its last notice: the service level and ASA count the whole wait', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { serviceLevel: sla }));
    s.given({ type: 'upsert_agent', agent: agentConfig('ann') });
    for (const id of ['c1', 'c2', 'c3']) s.enqueue(conversation(id));
    expect(only(s.advance(120_000), 'alert').map((a) => a.alert)).toEqual(['sla_breached']);
    const events = s.when({ type: 'transfer', conversationId: 'c2', toQueueId: 'q1' });
    // Announced as a transfer, but no new "queued" telling it a reset place, and no alert: nothing changed.
    expect(events.map((e) => e.type)).toEqual(['transferred']);
    const after = s.engine.query({ type: 'conversation', conversationId: 'c2' }, s.t);
    expect(after.type === 'conversation' && after.conversation).toMatchObject({
      status: 'waiting',
      position: 2,
    });
    const w = s.engine.query({ type: 'list_waiting', queueId: 'q1', limit: 10 }, s.t);
    expect(w.type === 'list_waiting' && w.conversations?.map((c) => [c.id, c.position])).toEqual([
      ['c1', 1],
      ['c2', 2],
      ['c3', 3],
    ]);
    expect(queueStats(s)).toMatchObject({ waitingPastThreshold: 3, longestWaitMs: 120_000, serviceLevel: 0 });
    // Repeating it changes nothing either: the queue stays breached, the wait is not wiped.
    s.t += 1000;
    s.when({ type: 'transfer', conversationId: 'c2', toQueueId: 'q1' });
    expect(queueStats(s)).toMatchObject({ waitingPastThreshold: 3, serviceLevelState: 'breached' });
    // Answered late, with the wait it really had (121 s), in its place in line.
    s.t += 1000;
    expect(assignments(s.when({ type: 'set_presence', agentId: 'ann', presence: 'online' }))).toEqual([
      'c1→ann',
    ]);
    expect(
      assignments(s.when({ type: 'end_conversation', conversationId: 'c1', outcome: 'resolved' })),
    ).toEqual(['c2→ann']);
    // Both waited 122 s (before: c2's wait read 1 s, in time).
    expect(queueStats(s)).toMatchObject({ serviceLevel: 0, averageWaitMs: 122_000 });
    const restored = restoreEngine(JSON.parse(JSON.stringify(s.engine.snapshot())));
    expect(restored.digest()).toBe(s.engine.digest());
  });

  it('a ringing one goes back to its place in line with its age, its misses forgiven', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { serviceLevel: sla, offerTimeoutSeconds: 30 }));
    s.enqueue(conversation('c0'));
    s.t += 5000;
    s.online(agentConfig('ann')); // c0 rings at ann
    s.enqueue(conversation('c1'));
    s.t += 25_000;
    const events = s.when({ type: 'transfer', conversationId: 'c0', toQueueId: 'q1' });
    // Withdrawn from ann and offered again at its age: before c1, who is newer.
    expect(only(events, 'offered')).toMatchObject([{ conversationId: 'c0', agentId: 'ann' }]);
    expect(queueStats(s)).toMatchObject({ longestWaitMs: 30_000, waitingPastThreshold: 2 });
    s.when({ type: 'accept_offer', agentId: 'ann', conversationId: 'c0' });
    expect(queueStats(s)).toMatchObject({ averageWaitMs: 30_000, serviceLevel: 0 });
  });
});

describe('agent statistics', () => {
  it('occupancy is the time handling or wrapping up divided by the time staffed', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1'));
    s.online(agentConfig('ann', { wrapUpSeconds: 10 }));
    const before = s.engine.query({ type: 'agent_stats', agentId: 'ann' }, s.t);
    expect(before.type === 'agent_stats' && before.stats?.lastAssignedAt).toBeNull();
    s.t += 30_000;
    const assignedAt = s.t;
    s.enqueue(conversation('c1'));
    s.t += 20_000;
    s.when({ type: 'end_conversation', conversationId: 'c1', outcome: 'resolved' });
    s.advance(10_000);
    s.t += 40_000;
    const r = s.engine.query({ type: 'agent_stats', agentId: 'ann' }, s.t);
    expect(r.type === 'agent_stats' && r.stats).toMatchObject({
      handled: 1,
      averageHandleMs: 30_000, // 20 s with the customer + 10 s of wrap-up
      occupancy: 0.3,
      lastAssignedAt: assignedAt,
    });
  });
});

describe('average handle time includes the wrap-up', () => {
  const agent = (s: Scenario, id: string) => {
    const r = s.engine.query({ type: 'agent_stats', agentId: id }, s.t);
    return r.type === 'agent_stats' ? r.stats : null;
  };

  it('removing an agent in wrap-up ends the wrap-up: the event says so and the conversation reads closed', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1'));
    s.online(agentConfig('ann', { wrapUpSeconds: 60 }));
    s.enqueue(conversation('a'));
    s.when({ type: 'end_conversation', conversationId: 'a', outcome: 'resolved' });
    const removed = s.when({ type: 'remove_agent', agentId: 'ann' });
    expect(only(removed, 'wrap_up_ended')).toEqual([{ type: 'wrap_up_ended', agentId: 'ann' }]);
    const v = s.engine.query({ type: 'conversation', conversationId: 'a' }, s.t);
    expect(v.type === 'conversation' && v.conversation?.status).toBe('closed');
  });

  it('an ended conversation reads wrap_up while its agent wraps up after it, then closed (restored too)', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1'));
    s.online(agentConfig('ann', { wrapUpSeconds: 60, capacity: { chat: 2 } }));
    s.enqueue(conversation('a'));
    s.enqueue(conversation('b'));
    const status = (e: typeof s.engine, id: string) => {
      const r = e.query({ type: 'conversation', conversationId: id }, s.t);
      return r.type === 'conversation' ? r.conversation?.status : undefined;
    };
    s.when({ type: 'end_conversation', conversationId: 'a', outcome: 'resolved' });
    expect([status(s.engine, 'a'), status(s.engine, 'b')]).toEqual(['wrap_up', 'assigned']);
    const restored = restoreEngine(JSON.parse(JSON.stringify(s.engine.snapshot())));
    expect(status(restored, 'a')).toBe('wrap_up');
    s.t += 60_000;
    const tick = { id: 'wrap-up-over', at: s.t, cmd: { type: 'tick' as const } };
    s.engine.apply(tick);
    restored.apply(tick);
    expect([status(s.engine, 'a'), status(restored, 'a')]).toEqual(['closed', 'closed']);
  });

  it('a conversation counts as handled when its wrap-up ends, with the wrap-up time (cut short by finish_wrap_up)', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1'));
    s.online(agentConfig('ann', { wrapUpSeconds: 60 }));
    s.enqueue(conversation('a'));
    s.t += 60_000;
    const ended = s.when({ type: 'end_conversation', conversationId: 'a', outcome: 'resolved' });
    // The event's handle time is the conversation's own (assignment to end).
    expect(only(ended, 'conversation_ended')).toMatchObject([{ handleMs: 60_000 }]);
    // Still in after-contact work: not handled yet.
    expect(agent(s, 'ann')).toMatchObject({ handled: 0, averageHandleMs: 0 });
    // A partition restored in the middle of the wrap-up counts it alike.
    const restored = restoreEngine(JSON.parse(JSON.stringify(s.engine.snapshot())));
    s.t += 60_000;
    const tick = { id: 'wrap-up-over', at: s.t, cmd: { type: 'tick' as const } };
    s.engine.apply(tick);
    restored.apply(tick);
    expect(agent(s, 'ann')).toMatchObject({ handled: 1, averageHandleMs: 120_000 });
    expect(queueStats(s).averageHandleMs).toBe(120_000);
    expect(restored.digest()).toBe(s.engine.digest());
    // Wrap-up finished early: only the time it took.
    s.enqueue(conversation('b'));
    s.t += 30_000;
    s.when({ type: 'end_conversation', conversationId: 'b', outcome: 'resolved' });
    s.t += 20_000;
    s.when({ type: 'finish_wrap_up', agentId: 'ann' });
    expect(agent(s, 'ann')).toMatchObject({ handled: 2, averageHandleMs: (120_000 + 50_000) / 2 });
    expect(queueStats(s).averageHandleMs).toBe((120_000 + 50_000) / 2);
  });

  it('each conversation ended during a wrap-up adds its own wrap-up time, not the extension the next one caused', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1'));
    s.online(agentConfig('ann', { capacity: { chat: 2 }, wrapUpSeconds: 60 }));
    s.enqueue(conversation('a'));
    s.enqueue(conversation('b'));
    s.t += 10_000;
    s.when({ type: 'end_conversation', conversationId: 'a', outcome: 'resolved' }); // wrap-up until +60 s
    s.t += 30_000;
    s.when({ type: 'end_conversation', conversationId: 'b', outcome: 'resolved' }); // extends it by 30 s
    s.advance(60_000);
    // a: 10 s + 60 s; b: 40 s + 60 s.
    expect(queueStats(s).averageHandleMs).toBe((70_000 + 100_000) / 2);
  });
});

describe('handle time across a transfer', () => {
  it('the transferring agent handled their part: it counts for them and for the queue they handled it in', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1'));
    s.queue(queueConfig('q2'));
    s.online(agentConfig('ann'), agentConfig('bob'));
    s.enqueue(conversation('a')); // → ann
    s.t += 600_000;
    s.when({ type: 'transfer', conversationId: 'a', toQueueId: 'q2' }); // → bob
    s.t += 60_000;
    s.when({ type: 'end_conversation', conversationId: 'a', outcome: 'resolved' });
    const agent = (id: string) => {
      const r = s.engine.query({ type: 'agent_stats', agentId: id }, s.t);
      return r.type === 'agent_stats' ? r.stats : null;
    };
    expect(agent('ann')).toMatchObject({ handled: 1, averageHandleMs: 600_000 });
    expect(agent('bob')).toMatchObject({ handled: 1, averageHandleMs: 60_000 });
    expect(queueStats(s, 'q1').averageHandleMs).toBe(600_000);
    expect(queueStats(s, 'q2').averageHandleMs).toBe(60_000);
  });
});

describe('occupancy', () => {
  it('leaves out time away or offline with nothing open, and counts work still open while away', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1'));
    s.online(agentConfig('ann'));
    s.enqueue(conversation('a'));
    s.t += 10 * 60_000;
    s.given({ type: 'set_presence', agentId: 'ann', presence: 'away' });
    s.t += 5 * 60_000; // finishing the conversation while away is work
    s.when({ type: 'end_conversation', conversationId: 'a', outcome: 'resolved' });
    s.t += 10 * 60_000; // lunch: neither worked nor available
    const occupancy = () => {
      const r = s.engine.query({ type: 'agent_stats', agentId: 'ann' }, s.t);
      return r.type === 'agent_stats' ? r.stats?.occupancy : undefined;
    };
    expect(occupancy()).toBe(1);
    s.given({ type: 'set_presence', agentId: 'ann', presence: 'online' });
    s.t += 15 * 60_000; // available, idle
    expect(occupancy()).toBe(0.5);
    s.given({ type: 'set_presence', agentId: 'ann', presence: 'offline' });
    s.t += 60 * 60_000;
    expect(occupancy()).toBe(0.5);
  });
});

describe('configuration lint', () => {
  function codes(s: Scenario): LintFinding['code'][] {
    const r = s.engine.query({ type: 'lint' }, s.t);
    // Any other reply is a failure, not "no findings" (the sound configuration expects exactly []).
    if (r.type !== 'lint') throw new Error(`lint query answered ${r.type}`);
    return r.findings.map((f) => f.code);
  }

  it('reports a required skill no agent has and a queue nobody can serve', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { requiredSkills: [{ skill: 'klingon', minLevel: 1 }] }));
    s.given({ type: 'upsert_agent', agent: agentConfig('ann') });
    expect(codes(s)).toEqual(['SKILL_NOBODY_HAS', 'QUEUE_NOBODY_SERVES']);
  });

  it('reports overflow steps that wait past the service-level threshold', () => {
    const s = new Scenario();
    s.queue(
      queueConfig('q1', {
        serviceLevel: { target: 0.9, thresholdSeconds: 20, windowSeconds: 3600 },
        overflow: [{ afterSeconds: 60, action: { kind: 'relax_skills', by: 1 } }],
      }),
    );
    s.given({ type: 'upsert_agent', agent: agentConfig('ann') });
    expect(codes(s)).toEqual(['OVERFLOW_AFTER_SLA']);
  });

  it('reports zero capacity on the only channel of a queue', () => {
    const s = new Scenario();
    s.queue(queueConfig('voice', { channel: 'voice' }));
    s.given({ type: 'upsert_agent', agent: agentConfig('ann', { capacity: { chat: 3 } }) });
    expect(codes(s)).toEqual(['CHANNEL_NO_CAPACITY']);
  });

  it('warns when target + at-risk margin reaches 100 % (no at-risk band before a breach, or at risk at one late answer)', () => {
    const s = new Scenario();
    s.queue(
      queueConfig('email', { serviceLevel: { target: 1, thresholdSeconds: 86_400, windowSeconds: 86_400 } }),
    );
    s.queue(queueConfig('q2', { serviceLevel: { target: 0.96, thresholdSeconds: 20, windowSeconds: 3600 } }));
    s.queue(queueConfig('q3', { serviceLevel: { target: 0.9, thresholdSeconds: 20, windowSeconds: 3600 } }));
    s.given({ type: 'upsert_agent', agent: agentConfig('ann') });
    const r = s.engine.query({ type: 'lint' }, s.t);
    if (r.type !== 'lint') throw new Error(`lint query answered ${r.type}`);
    expect(r.findings.map((f) => [f.code, f.severity, f.queueId])).toEqual([
      ['SLA_NO_AT_RISK_BAND', 'warning', 'email'],
      ['SLA_NO_AT_RISK_BAND', 'warning', 'q2'],
    ]);
    expect(r.findings[1]!.message).toContain('96 % + at-risk margin 5 %');
    // No margin, no band to miss.
    s.given({ type: 'set_routing_config', config: routingConfig({ slaAtRiskMargin: 0 }) });
    expect(codes(s)).toEqual([]);
  });

  it('reports references to unknown queues and agents', () => {
    const s = new Scenario();
    s.queue(
      queueConfig('q1', {
        overflow: [{ afterSeconds: 5, action: { kind: 'widen_to_queue', queueId: 'ghost' } }],
      }),
    );
    s.given({ type: 'upsert_agent', agent: agentConfig('ann', { queues: ['q1', 'nowhere'] }) });
    s.given({
      type: 'upsert_customer',
      customer: { id: 'vip', valueTier: 'high_value', previousAgents: [], dedicatedAgentId: 'nobody' },
    });
    expect(codes(s)).toEqual(['UNKNOWN_QUEUE_REF', 'UNKNOWN_QUEUE_REF', 'UNKNOWN_AGENT_REF']);
  });

  it('a sound configuration has no findings', () => {
    const s = new Scenario();
    s.queue(queueConfig('q1', { requiredSkills: [{ skill: 'billing', minLevel: 2 }] }));
    s.given({
      type: 'upsert_agent',
      agent: agentConfig('ann', { skills: [{ skill: 'billing', level: 4 }] }),
    });
    expect(codes(s)).toEqual([]);
  });
});

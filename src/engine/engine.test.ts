import { describe, expect, it } from 'vitest';
import { agentConfig, conversation, queueConfig, Scenario } from './fixtures.js';
import { createEngine, restoreEngine } from './index.js';
import type { Command } from './types.js';

function rejected(s: Scenario, cmd: Command) {
  const before = s.engine.digest();
  const r = s.run(cmd);
  expect(r.ok).toBe(false);
  expect(s.engine.digest()).toBe(before);
  return r.ok ? null : r.error;
}

describe('configuration is validated and a rejected command changes nothing', () => {
  it('an agent skill level outside 1–10 is rejected with the field path', () => {
    const s = new Scenario();
    const bad = agentConfig('ann', { skills: [{ skill: 'billing', level: 11 }] });
    expect(rejected(s, { type: 'upsert_agent', agent: bad })).toMatchObject({
      code: 'SB_ERR_INVALID_ARGUMENT',
      field: 'agent.skills[0].level',
    });
  });

  it('a negative capacity is rejected', () => {
    const s = new Scenario();
    const bad = agentConfig('ann', { capacity: { chat: -1 } });
    expect(rejected(s, { type: 'upsert_agent', agent: bad })?.field).toBe('agent.capacity.chat');
  });

  it('a queue with an unknown time zone is rejected', () => {
    const s = new Scenario();
    const bad = queueConfig('q1', { businessHours: { timeZone: 'Mars/Olympus', windows: [], holidays: [] } });
    expect(rejected(s, { type: 'upsert_queue', queue: bad })?.field).toBe('queue.businessHours.timeZone');
  });

  it('a queue with an unknown strategy is rejected', () => {
    const s = new Scenario();
    const bad = { ...queueConfig('q1'), strategy: 'random' } as unknown as ReturnType<typeof queueConfig>;
    expect(rejected(s, { type: 'upsert_queue', queue: bad })?.field).toBe('queue.strategy');
  });

  it('a conversation priority above 10 is rejected', () => {
    const s = new Scenario().queue(queueConfig('q1'));
    expect(rejected(s, { type: 'enqueue', conversation: conversation('c1', { priority: 11 }) })?.field).toBe(
      'conversation.priority',
    );
  });

  it('a conversation requiring the same skill twice, or a level below 1, is rejected with the field path', () => {
    const s = new Scenario().queue(queueConfig('q1'));
    const twice = conversation('c1', {
      requiredSkills: [
        { skill: 'billing', minLevel: 2 },
        { skill: 'billing', minLevel: 3 },
      ],
    });
    expect(rejected(s, { type: 'enqueue', conversation: twice })?.field).toBe(
      'conversation.requiredSkills[1]',
    );
    const zero = conversation('c1', { requiredSkills: [{ skill: 'billing', minLevel: 0 }] });
    expect(rejected(s, { type: 'enqueue', conversation: zero })?.field).toBe(
      'conversation.requiredSkills[0].minLevel',
    );
  });

  it('a conversation for an unknown queue is rejected', () => {
    const s = new Scenario().queue(queueConfig('q1'));
    expect(
      rejected(s, { type: 'enqueue', conversation: conversation('c1', { queueId: 'nope' }) })?.code,
    ).toBe('SB_ERR_QUEUE_NOT_FOUND');
  });

  it('a chat conversation sent to a voice queue is rejected', () => {
    const s = new Scenario().queue(queueConfig('v', { channel: 'voice' }));
    expect(rejected(s, { type: 'enqueue', conversation: conversation('c1', { queueId: 'v' }) })?.field).toBe(
      'conversation.channel',
    );
  });

  it('presence for an unknown agent is rejected', () => {
    const s = new Scenario();
    expect(rejected(s, { type: 'set_presence', agentId: 'ghost', presence: 'online' })?.code).toBe(
      'SB_ERR_AGENT_NOT_FOUND',
    );
  });

  it('garbage input is rejected, never thrown', () => {
    const e = createEngine('t');
    const before = e.digest();
    const r = e.apply({ id: 'x', at: 1, cmd: { type: 'enqueue', conversation: null } } as never);
    expect(r).toMatchObject({ ok: false, error: { code: 'SB_ERR_INVALID_ARGUMENT', field: 'conversation' } });
    expect(e.apply(null as never).ok).toBe(false);
    expect(e.digest()).toBe(before);
  });

  it('removing a queue with waiting conversations is refused', () => {
    const s = new Scenario().queue(queueConfig('q1'));
    s.enqueue(conversation('c1'));
    expect(rejected(s, { type: 'remove_queue', queueId: 'q1' })?.code).toBe('SB_ERR_QUEUE_IN_USE');
  });
});

describe('commands about a conversation', () => {
  it('a conversation never seen is NOT_FOUND for every command about it; one already closed is INVALID_STATE', () => {
    const s = new Scenario().queue(queueConfig('q1', { offerTimeoutSeconds: 30 }));
    s.online(agentConfig('ann'), agentConfig('bob'));
    s.enqueue(conversation('done')); // offered to one of them
    s.given({ type: 'cancel', conversationId: 'done' });
    const about = (conversationId: string): Command[] => [
      { type: 'accept_offer', agentId: 'ann', conversationId },
      { type: 'reject_offer', agentId: 'ann', conversationId },
      { type: 'cancel', conversationId },
      { type: 'transfer', conversationId, toQueueId: 'q1' },
      { type: 'escalate', conversationId, toTier: 2 },
      { type: 'assign', conversationId, agentId: 'bob' },
      { type: 'end_conversation', conversationId, outcome: 'resolved' },
    ];
    for (const cmd of about('ghost')) {
      expect(rejected(s, cmd), cmd.type).toMatchObject({
        code: 'SB_ERR_CONVERSATION_NOT_FOUND',
        field: 'conversationId',
      });
    }
    for (const cmd of about('done')) {
      expect(rejected(s, cmd), cmd.type).toMatchObject({
        code: 'SB_ERR_INVALID_STATE',
        field: 'conversationId',
      });
    }
    // An open conversation the agent holds no offer for stays a missing offer.
    s.enqueue(conversation('open'));
    const holder = s.engine.query({ type: 'conversation', conversationId: 'open' }, s.t);
    const other =
      holder.type === 'conversation' && holder.conversation?.offeredTo?.[0] === 'ann' ? 'bob' : 'ann';
    expect(rejected(s, { type: 'accept_offer', agentId: other, conversationId: 'open' })?.code).toBe(
      'SB_ERR_NO_OFFER',
    );
  });
});

describe('offers', () => {
  it('an accept stamped after the offer expired is refused even before the tick that expires it', () => {
    const s = new Scenario().queue(queueConfig('q1', { offerTimeoutSeconds: 15 }));
    s.online(agentConfig('ann'));
    s.enqueue(conversation('c1')); // offered to ann until t + 15 s
    s.t += 15_000;
    expect(rejected(s, { type: 'accept_offer', agentId: 'ann', conversationId: 'c1' })).toMatchObject({
      code: 'SB_ERR_NO_OFFER',
      field: 'conversationId',
    });
    // The tick counts the miss as it always did.
    expect(s.when({ type: 'tick' }).some((e) => e.type === 'offer_missed')).toBe(true);
  });
});

describe('accepting an offer again', () => {
  it('is answered OK with no effect for the agent who accepted it, while the conversation is open', () => {
    const s = new Scenario().queue(queueConfig('q1', { offerTimeoutSeconds: 15 }));
    s.online(agentConfig('ann'), agentConfig('bob'));
    s.enqueue(conversation('c1')); // offered to ann
    const accept = { type: 'accept_offer', agentId: 'ann', conversationId: 'c1' } as const;
    expect(s.run(accept, 'accept_offer:r:first')).toMatchObject({ ok: true });
    const view = () => [
      s.engine.query({ type: 'conversation', conversationId: 'c1' }, s.t),
      s.engine.query({ type: 'agent_stats', agentId: 'ann' }, s.t),
    ];
    const before = view();
    // The desktop's retry after a timeout, under a new request id (or none).
    expect(s.run(accept, 'accept_offer:r:retry')).toEqual({ ok: true, reply: { kind: 'ok' }, events: [] });
    expect(view()).toEqual(before);
    // Anyone else still holds no offer, and ann cannot reject what she owns.
    expect(rejected(s, { type: 'accept_offer', agentId: 'bob', conversationId: 'c1' })?.code).toBe(
      'SB_ERR_NO_OFFER',
    );
    expect(rejected(s, { type: 'reject_offer', agentId: 'ann', conversationId: 'c1' })?.code).toBe(
      'SB_ERR_NO_OFFER',
    );
    s.when({ type: 'end_conversation', conversationId: 'c1', outcome: 'resolved' });
    expect(rejected(s, accept)?.code).toBe('SB_ERR_INVALID_STATE');
  });

  it('still finds no offer when the agent got the conversation from a supervisor, not through an offer', () => {
    const s = new Scenario().queue(queueConfig('q1', { strategy: 'manual' }));
    s.online(agentConfig('ann'));
    s.enqueue(conversation('c1'));
    s.when({ type: 'assign', conversationId: 'c1', agentId: 'ann' });
    expect(rejected(s, { type: 'accept_offer', agentId: 'ann', conversationId: 'c1' })?.code).toBe(
      'SB_ERR_NO_OFFER',
    );
  });
});

describe('command ids', () => {
  it('a retry under the method-independent request key finds its command remembered under the old per-method key (an upgrade mid-retry)', () => {
    const s = new Scenario().queue(queueConfig('q1'));
    s.online(agentConfig('ann'));
    s.enqueue(conversation('c1')); // → ann
    s.queue(queueConfig('q2'));
    const first = s.run({ type: 'transfer', conversationId: 'c1', toQueueId: 'q2' }, 'transfer:r:x1');
    expect(first.ok).toBe(true);
    const digest = s.engine.digest();
    const again = s.run({ type: 'transfer', conversationId: 'c1', toQueueId: 'q2' }, 'r:x1');
    expect(again).toMatchObject({ ok: true, duplicate: true, events: [] });
    expect(s.engine.digest()).toBe(digest);
    // The old key covered its own method only: another method under the same id is a new request.
    expect(s.run({ type: 'set_presence', agentId: 'ann', presence: 'away' }, 'r:x1').ok).toBe(true);
  });

  it('a repeated command id is answered from memory and changes nothing', () => {
    const s = new Scenario().queue(queueConfig('q1'));
    s.online(agentConfig('ann'));
    const first = s.run({ type: 'enqueue', conversation: conversation('c1') }, 'req-1');
    const digest = s.engine.digest();
    const again = s.run({ type: 'enqueue', conversation: conversation('c1') }, 'req-1');
    expect(first.ok && again.ok).toBe(true);
    expect(again).toEqual({ ok: true, reply: first.ok ? first.reply : null, events: [], duplicate: true });
    expect(s.engine.digest()).toBe(digest);
  });

  it('ticks do not take places in the dedupe window: a retry after many timer ticks is still a duplicate', () => {
    const s = new Scenario(undefined, undefined, { dedupeWindow: 3 }).queue(queueConfig('q1'));
    s.online(agentConfig('ann'), agentConfig('bob'));
    s.enqueue(conversation('c1')); // with ann
    const transfer = { type: 'transfer', conversationId: 'c1', toAgentId: 'bob' } as const;
    expect(s.run(transfer, 'transfer:r:t1')).toMatchObject({ ok: true });
    for (let i = 0; i < 10; i++) s.advance(1_000);
    const digest = s.engine.digest();
    const restored = restoreEngine(JSON.parse(JSON.stringify(s.engine.snapshot())), { dedupeWindow: 3 });
    expect(restored.digest()).toBe(digest);
    for (const e of [s.engine, restored]) {
      // Applied again it would be refused (bob already has it): the gateway's retry must read as done.
      const r = e.apply({ id: 'transfer:r:t1', at: s.t, cmd: transfer });
      expect(r).toMatchObject({ ok: true, duplicate: true, events: [] });
      expect(e.digest()).toBe(digest);
    }
  });

  it('a repeated conversation id with the same content reports its status without a second assignment', () => {
    const s = new Scenario().queue(queueConfig('q1'));
    s.online(agentConfig('ann'));
    s.enqueue(conversation('c1'));
    const r = s.run({ type: 'enqueue', conversation: conversation('c1') });
    expect(r).toMatchObject({ ok: true, events: [], reply: { status: 'assigned', agentId: 'ann' } });
  });

  it('an enqueue retried with its required skills in another order is the same request, by id or by conversation', () => {
    const s = new Scenario().queue(queueConfig('q1'));
    const skills = (...names: string[]) => names.map((skill, i) => ({ skill, minLevel: i + 1 }));
    const first = conversation('c1', { requiredSkills: [...skills('lang:fr', 'billing')].reverse() });
    const r1 = s.run({ type: 'enqueue', conversation: first }, 'enqueue:c1');
    expect(r1.ok).toBe(true);
    const again = conversation('c1', { requiredSkills: skills('lang:fr', 'billing') });
    // The same envelope id (the API's `enqueue:<conversation id>`): the remembered reply.
    expect(s.run({ type: 'enqueue', conversation: again }, 'enqueue:c1')).toMatchObject({
      ok: true,
      duplicate: true,
      reply: r1.ok ? r1.reply : null,
    });
    // Another id (the remembered one aged out): the conversation's status, not CONVERSATION_EXISTS.
    expect(s.run({ type: 'enqueue', conversation: again }, 'other-id')).toMatchObject({
      ok: true,
      reply: { kind: 'enqueued', conversationId: 'c1', status: 'queued' },
    });
    // A different level is different content either way.
    const other = conversation('c1', { requiredSkills: skills('lang:fr', 'vip') });
    for (const id of ['enqueue:c1', 'third-id'])
      expect(s.run({ type: 'enqueue', conversation: other }, id)).toMatchObject({
        ok: false,
        error: { code: 'SB_ERR_CONVERSATION_EXISTS' },
      });
  });

  it('a conversation id reused for different content is refused', () => {
    const s = new Scenario().queue(queueConfig('q1'));
    s.enqueue(conversation('c1'));
    const r = s.run({ type: 'enqueue', conversation: conversation('c1', { priority: 5 }) });
    expect(r.ok ? null : r.error.code).toBe('SB_ERR_CONVERSATION_EXISTS');
  });

  it('a remembered enqueue id carrying different content is refused, not answered with the first reply', () => {
    // The API's id for an enqueue is the conversation's own: `enqueue:<conversation id>`.
    const s = new Scenario().queue(queueConfig('q1')).queue(queueConfig('q2'));
    s.online(agentConfig('ann'));
    expect(s.run({ type: 'enqueue', conversation: conversation('c1') }, 'enqueue:c1').ok).toBe(true);
    const digest = s.engine.digest();
    const other = {
      type: 'enqueue',
      conversation: conversation('c1', { queueId: 'q2', priority: 9 }),
    } as const;
    const r = s.run(other, 'enqueue:c1');
    expect(r).toMatchObject({
      ok: false,
      duplicate: true,
      error: { code: 'SB_ERR_CONVERSATION_EXISTS', field: 'conversation.id' },
    });
    expect(s.engine.digest()).toBe(digest);
  });

  it('a request id reused for a different command is refused and changes nothing; the same command again is a duplicate', () => {
    const s = new Scenario().queue(queueConfig('q1'));
    const first = { type: 'upsert_agent', agent: agentConfig('zed', { displayName: 'First' }) } as const;
    expect(s.run(first, 'upsert_agent:r:up-1').ok).toBe(true);
    const digest = s.engine.digest();
    for (const cmd of [
      { type: 'upsert_agent', agent: agentConfig('zed', { displayName: 'Second', tier: 5 }) },
      { type: 'upsert_agent', agent: agentConfig('yan', { displayName: 'First' }) },
    ] as const) {
      const r = s.run(cmd, 'upsert_agent:r:up-1');
      expect(r).toMatchObject({ ok: false, error: { code: 'SB_ERR_REQUEST_ID_REUSED' } });
      expect(s.engine.digest()).toBe(digest);
    }
    // The same command built afresh (another object, keys in another order) is the retry it looks like.
    const { displayName, ...rest } = agentConfig('zed', { displayName: 'First' });
    const retry = s.run({ agent: { ...rest, displayName }, type: 'upsert_agent' }, 'upsert_agent:r:up-1');
    expect(retry).toMatchObject({ ok: true, duplicate: true });
  });

  it('a request id reused for a different command is still refused after a snapshot and restore', () => {
    const s = new Scenario().queue(queueConfig('q1'));
    s.run({ type: 'upsert_agent', agent: agentConfig('zed') }, 'upsert_agent:r:up-1');
    const restored = restoreEngine(JSON.parse(JSON.stringify(s.engine.snapshot())));
    const r = restored.apply({
      id: 'upsert_agent:r:up-1',
      at: s.t,
      cmd: { type: 'upsert_agent', agent: agentConfig('zed', { tier: 3 }) },
    });
    expect(r).toMatchObject({ ok: false, error: { code: 'SB_ERR_REQUEST_ID_REUSED' } });
    const same = restored.apply({
      id: 'upsert_agent:r:up-1',
      at: s.t,
      cmd: { type: 'upsert_agent', agent: agentConfig('zed') },
    });
    expect(same).toMatchObject({ ok: true, duplicate: true });
  });
});

describe('snapshot and digest', () => {
  function busyDesk() {
    const s = new Scenario();
    s.queue(queueConfig('q1', { offerTimeoutSeconds: 15, strategy: 'round_robin' }));
    s.online(agentConfig('ann', { capacity: { chat: 2 }, wrapUpSeconds: 10 }), agentConfig('bob'));
    for (let i = 0; i < 6; i++) s.enqueue(conversation(`c${i}`, { priority: i % 3 }));
    s.when({ type: 'accept_offer', agentId: 'ann', conversationId: 'c0' });
    return s;
  }

  function continueWith(s: Scenario, e = s.engine) {
    const cmds: Command[] = [
      { type: 'tick' },
      { type: 'end_conversation', conversationId: 'c0', outcome: 'resolved' },
      { type: 'tick' },
      { type: 'cancel', conversationId: 'c5' },
      { type: 'tick' },
    ];
    return cmds.map((cmd, i) => e.apply({ id: `cont-${i}`, at: s.t + (i + 1) * 16_000, cmd }));
  }

  it('restoring a snapshot gives the same digest, and continuing gives the same events as never snapshotting', () => {
    const a = busyDesk();
    const b = busyDesk();
    expect(b.engine.digest()).toBe(a.engine.digest());
    const restored = restoreEngine(JSON.parse(JSON.stringify(b.engine.snapshot())));
    expect(restored.digest()).toBe(a.engine.digest());
    const ra = continueWith(a);
    const rb = continueWith(b, restored);
    expect(rb).toEqual(ra);
    expect(restored.digest()).toBe(a.engine.digest());
    expect(restored.nextTimerAt()).toBe(a.engine.nextTimerAt());
  });

  it('the digest changes when the state changes', () => {
    const s = busyDesk();
    const d = s.engine.digest();
    s.when({ type: 'cancel', conversationId: 'c5' });
    expect(s.engine.digest()).not.toBe(d);
    expect(d).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('digest hash', () => {
  it('is FNV-1a 64 (reference vectors)', async () => {
    const { fnv1a64 } = await import('./digest.js');
    expect(fnv1a64('')).toBe('cbf29ce484222325');
    expect(fnv1a64('a')).toBe('af63dc4c8601ec8c');
    expect(fnv1a64('hello world')).toBe('779a65e7023cd2e7');
  });
});

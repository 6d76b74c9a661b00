import { describe, expect, it } from 'vitest';
import { agentConfig, assignments, conversation, customerConfig, queueConfig, Scenario } from './fixtures.js';
import { restoreEngine } from './index.js';

function desk(customerLimit?: number) {
  const s = new Scenario(undefined, undefined, customerLimit === undefined ? {} : { customerLimit });
  s.queue(queueConfig('q1', { previousAgentWaitSeconds: 0 }));
  return s;
}

const customer = (s: Scenario, id: string) => {
  const r = s.engine.query({ type: 'customer', customerId: id }, s.t);
  return r.type === 'customer' ? r.customer : undefined;
};

/**
 * ann serves customer cu; then x goes to bob and y to ann, so both hold one conversation and bob has
 * waited longer since his last assignment. Returns where cu's next contact goes (`before` runs just
 * before it): ann if cu is still remembered, bob (the strategy's pick) if cu was forgotten.
 */
function returningCustomer(s: Scenario, before?: (s: Scenario) => void): string[] {
  s.online(agentConfig('ann', { capacity: { chat: 5 } }));
  s.t += 1000;
  s.online(agentConfig('bob', { capacity: { chat: 5 } }));
  s.t += 1000;
  expect(assignments(s.enqueue(conversation('c1', { customer: { id: 'cu' } })))).toEqual(['c1→ann']);
  s.t += 1000;
  s.when({ type: 'end_conversation', conversationId: 'c1', outcome: 'resolved' });
  s.t += 1000;
  expect(assignments(s.enqueue(conversation('c2', { customer: { id: 'x' } })))).toEqual(['c2→bob']);
  s.t += 1000;
  expect(assignments(s.enqueue(conversation('c3', { customer: { id: 'y' } })))).toEqual(['c3→ann']);
  s.t += 1000;
  before?.(s);
  return assignments(s.enqueue(conversation('c4', { customer: { id: 'cu' } })));
}

describe('customers', () => {
  it('an unknown customer is on file from first contact, before any agent has talked to them', () => {
    const s = desk();
    s.enqueue(conversation('c1', { customer: { id: 'walk-in' } }));
    expect(customer(s, 'walk-in')).toEqual({ id: 'walk-in', valueTier: 'standard', previousAgents: [] });
  });

  it('a first-time customer who is served is remembered with that agent, most recent first', () => {
    const s = desk();
    s.online(agentConfig('ann'));
    s.enqueue(conversation('c1', { customer: { id: 'cu' } }));
    s.when({ type: 'end_conversation', conversationId: 'c1', outcome: 'resolved' });
    s.given({ type: 'set_presence', agentId: 'ann', presence: 'away' });
    s.online(agentConfig('bob'));
    s.enqueue(conversation('c2', { customer: { id: 'cu' } }));
    expect(customer(s, 'cu')?.previousAgents).toEqual(['bob', 'ann']);
  });

  it('beyond the customer limit the least recently contacted customer is forgotten and is new again', () => {
    const s = desk(2);
    s.online(agentConfig('ann', { capacity: { chat: 5 } }));
    s.enqueue(conversation('c1', { customer: { id: 'old' } }));
    s.enqueue(conversation('c2', { customer: { id: 'mid' } }));
    // "old" contacts again: now "mid" is the least recently contacted.
    s.enqueue(conversation('c3', { customer: { id: 'old' } }));
    s.enqueue(conversation('c4', { customer: { id: 'new' } }));
    expect(customer(s, 'mid')).toBeNull();
    expect(customer(s, 'old')?.previousAgents).toEqual(['ann']);
    expect(customer(s, 'new')?.previousAgents).toEqual(['ann']);
  });

  it('configured customers are never forgotten by the limit', () => {
    const s = desk(1);
    s.online(agentConfig('vip-desk'));
    s.given({
      type: 'upsert_customer',
      customer: customerConfig('vip', { valueTier: 'high_value', dedicatedAgentId: 'vip-desk' }),
    });
    for (let i = 0; i < 5; i++) s.enqueue(conversation(`walk-${i}`, { customer: { id: `walk-in-${i}` } }));
    expect(customer(s, 'vip')?.dedicatedAgentId).toBe('vip-desk');
    expect(customer(s, 'walk-in-3')).toBeNull();
    expect(customer(s, 'walk-in-4')).not.toBeNull();
  });

  it('a returning customer forgotten by the limit is routed by the strategy, not to the previous agent', () => {
    expect(returningCustomer(desk())).toEqual(['c4→ann']);
    expect(returningCustomer(desk(2))).toEqual(['c4→bob']);
  });

  it('the limit and the recency order survive a snapshot: the restored desk forgets the same customer', () => {
    const s = desk(2);
    s.enqueue(conversation('c1', { customer: { id: 'a' } }));
    s.enqueue(conversation('c2', { customer: { id: 'b' } }));
    s.enqueue(conversation('c3', { customer: { id: 'a' } }));
    const restored = restoreEngine(JSON.parse(JSON.stringify(s.engine.snapshot())));
    expect(restored.digest()).toBe(s.engine.digest());
    const env = {
      id: 'x',
      at: s.t,
      cmd: { type: 'enqueue', conversation: conversation('c4', { customer: { id: 'c' } }) },
    } as const;
    s.engine.apply(env);
    restored.apply(env);
    expect(restored.digest()).toBe(s.engine.digest());
    const r = restored.query({ type: 'customer', customerId: 'b' }, s.t);
    expect(r.type === 'customer' && r.customer).toBeNull();
  });

  it('a snapshot written before customers were created at first contact restores them as kept customers', () => {
    const s = desk();
    s.online(agentConfig('ann'));
    s.enqueue(conversation('c1', { customer: { id: 'cu' } }));
    const snap = JSON.parse(JSON.stringify(s.engine.snapshot()));
    // Session-1 layout: every known customer in `customers`, no seenCustomers / customerLimit.
    snap.state.customers.push({ id: 'cu', valueTier: 'standard', previousAgents: ['ann'] });
    delete snap.state.seenCustomers;
    delete snap.state.customerLimit;
    const old = restoreEngine(snap, { customerLimit: 1 });
    old.apply({
      id: 'x1',
      at: s.t,
      cmd: { type: 'enqueue', conversation: conversation('c2', { customer: { id: 'a' } }) },
    });
    old.apply({
      id: 'x2',
      at: s.t,
      cmd: { type: 'enqueue', conversation: conversation('c3', { customer: { id: 'b' } }) },
    });
    const r = old.query({ type: 'customer', customerId: 'cu' }, s.t);
    expect(r.type === 'customer' && r.customer?.previousAgents).toEqual(['ann']);
  });

  it('remove_customer forgets a configured or a seen customer, and is not an error for an unknown one', () => {
    const s = desk();
    s.online(agentConfig('ann'));
    s.given({
      type: 'upsert_customer',
      customer: customerConfig('vip', { valueTier: 'high_value', dedicatedAgentId: 'ann' }),
    });
    s.enqueue(conversation('c1', { customer: { id: 'walk-in' } }));
    s.when({ type: 'end_conversation', conversationId: 'c1', outcome: 'resolved' });
    expect(customer(s, 'walk-in')?.previousAgents).toEqual(['ann']);
    for (const [i, id] of ['vip', 'walk-in', 'never-seen'].entries()) {
      const r = s.engine.apply({ id: `rm-${i}`, at: s.t, cmd: { type: 'remove_customer', customerId: id } });
      expect(r.ok && r.reply).toEqual({ kind: 'ok' });
      expect(customer(s, id)).toBeNull();
    }
    // Forgotten in the snapshot too (the closed conversation c1 keeps everything but the customer id):
    // a restored engine has the same digest and no trace of them.
    const c1 = s.engine.query({ type: 'conversation', conversationId: 'c1' }, s.t);
    expect(c1.type === 'conversation' && c1.conversation).toMatchObject({ status: 'closed', customerId: '' });
    const restored = restoreEngine(JSON.parse(JSON.stringify(s.engine.snapshot())));
    expect(restored.digest()).toBe(s.engine.digest());
    expect(JSON.stringify(s.engine.snapshot())).not.toMatch(/walk-in|"vip"/);
  });

  it('a forgotten customer who contacts again is new: routed by the strategy, not to the previous agent', () => {
    // Without the removal c4 would go back to ann (the previous agent, as in the limit test above).
    const forget = (s: Scenario) => s.given({ type: 'remove_customer', customerId: 'cu' });
    expect(returningCustomer(desk(), forget)).toEqual(['c4→bob']);
  });

  it('a customer id that is not an id is refused', () => {
    const s = desk();
    const r = s.engine.apply({ id: 'rm', at: s.t, cmd: { type: 'remove_customer', customerId: '' } });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error.field).toBe('customerId');
  });

  it('an invalid customer limit is refused when the engine is created', () => {
    expect(() => new Scenario(undefined, undefined, { customerLimit: 0 })).toThrow(/customerLimit/);
  });
});

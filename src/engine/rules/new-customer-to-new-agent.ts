import type { CustomerRule } from './rule.js';

/**
 * With `newCustomersToNewAgents`, a first-time customer goes to an agent of seniority `new` when one is
 * available (first in the queue's strategy order among them); otherwise the strategy picks from everyone.
 * The search looks at a bounded number of available agents (see `SEARCH_LIMIT` in the partition).
 */
export const newCustomerToNewAgent: CustomerRule = (ctx, conv, _customer, lane) => {
  if (!lane.queue.cfg.newCustomersToNewAgents || !conv.newCustomer) return null;
  const m = ctx.firstMember(lane, conv, (x) => x.agent.cfg.seniority === 'new');
  return m ? { kind: 'deliver', agent: m.agent, member: m, rule: 'new_customer_to_new_agent' } : null;
};

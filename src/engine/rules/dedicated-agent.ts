import { type CustomerRule, canWaitFor } from './rule.js';

/**
 * A high-value customer goes to their dedicated agent. When that agent is busy but logged in and could
 * take the conversation once free (`canWaitFor`), and the queue has a wait budget
 * (`previousAgentWaitSeconds`), the conversation waits for them that long, then falls back to the strategy.
 */
export const dedicatedAgent: CustomerRule = (ctx, conv, customer, lane) => {
  const tier = conv.valueTier ?? customer.valueTier;
  if (tier !== 'high_value' || !customer.dedicatedAgentId) return null;
  const agent = ctx.agent(customer.dedicatedAgentId);
  if (!agent) return null;
  const member = ctx.eligibleMember(agent, lane, conv);
  if (member) return { kind: 'deliver', agent, member, rule: 'dedicated_agent' };
  const budget = lane.queue.cfg.previousAgentWaitSeconds;
  if (budget > 0 && canWaitFor(agent, lane, conv) && !conv.excluded?.includes(agent.id))
    return { kind: 'reserve', agent, untilMs: ctx.now + budget * 1000, rule: 'dedicated_agent' };
  return null;
};

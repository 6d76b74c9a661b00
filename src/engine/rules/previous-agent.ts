import type { Agent } from '../model.js';
import { type CustomerRule, canWaitFor } from './rule.js';

/** How many of the customer's most recent agents are tried (most recent first). */
export const PREVIOUS_AGENTS_TRIED = 3;

/**
 * A returning customer goes back to a previous agent (most recent first) when one is available. If none
 * is, and the queue has a wait budget, the conversation waits up to `previousAgentWaitSeconds` for the
 * most recent one who is logged in and could take it once free (`canWaitFor`), then falls back to the
 * strategy.
 */
export const previousAgent: CustomerRule = (ctx, conv, customer, lane) => {
  const prev = customer.previousAgents;
  if (prev.length === 0) return null;
  let waitFor: Agent | null = null;
  for (let i = 0; i < prev.length && i < PREVIOUS_AGENTS_TRIED; i++) {
    const agent = ctx.agent(prev[i]!);
    if (!agent) continue;
    const member = ctx.eligibleMember(agent, lane, conv);
    if (member) return { kind: 'deliver', agent, member, rule: 'previous_agent' };
    if (waitFor === null && canWaitFor(agent, lane, conv) && !conv.excluded?.includes(agent.id))
      waitFor = agent;
  }
  const budget = lane.queue.cfg.previousAgentWaitSeconds;
  if (budget > 0 && waitFor)
    return { kind: 'reserve', agent: waitFor, untilMs: ctx.now + budget * 1000, rule: 'previous_agent' };
  return null;
};

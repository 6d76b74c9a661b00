/** Customer rules, tried in this order before the strategy: first decision wins. */
import { dedicatedAgent } from './dedicated-agent.js';
import { newCustomerToNewAgent } from './new-customer-to-new-agent.js';
import { previousAgent } from './previous-agent.js';
import type { CustomerRule } from './rule.js';

export type { CustomerRule, RuleContext, RuleDecision } from './rule.js';
export { canWaitFor } from './rule.js';

export const CUSTOMER_RULES: readonly CustomerRule[] = [dedicatedAgent, previousAgent, newCustomerToNewAgent];

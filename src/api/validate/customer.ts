/** Customer profiles: proto → engine. */
import type { CustomerConfig, ValueTier } from '../../engine/types.js';
import { type Customer, ValueTier as PbValueTier } from '../../gen/switchboard/v1/common.js';
import { checkEnum, checkId, checkIdList, checkOptionalId, invalid } from './common.js';

/** Index = proto `ValueTier`; UNSPECIFIED means standard on a stored profile. */
const VALUE_TIER_BY_PB: readonly (ValueTier | undefined)[] = ['standard', 'standard', 'high_value'];

export function toCustomerConfig(c: Customer | undefined, field = 'customer'): CustomerConfig {
  if (c === undefined || c === null) invalid(field, 'is required');
  const out: CustomerConfig = {
    id: checkId(c.id, `${field}.id`),
    valueTier: checkEnum(c.valueTier, VALUE_TIER_BY_PB, `${field}.valueTier`, PbValueTier),
    previousAgents: checkIdList(c.previousAgents, `${field}.previousAgents`, 50),
  };
  const dedicated = checkOptionalId(c.dedicatedAgentId, `${field}.dedicatedAgentId`);
  if (dedicated !== undefined) out.dedicatedAgentId = dedicated;
  return out;
}

/** On a conversation's customer: UNSPECIFIED = keep the stored tier. */
export function checkOptionalValueTier(value: unknown, field: string): ValueTier | undefined {
  if (value === 0 || value === undefined) return undefined;
  return checkEnum(value, VALUE_TIER_BY_PB, field, PbValueTier);
}

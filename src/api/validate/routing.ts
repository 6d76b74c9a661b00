/** Tenant-wide routing settings: proto → engine. */
import type { QueueRule, RoutingConfig } from '../../engine/types.js';
import type { RoutingConfig as PbRoutingConfig } from '../../gen/switchboard/v1/common.js';
import {
  checkBool,
  checkId,
  checkInt,
  checkList,
  checkNumber,
  checkOptionalChannel,
  checkSkillNames,
  checkText,
  invalid,
} from './common.js';

export function toRoutingConfig(c: PbRoutingConfig | undefined, field = 'config'): RoutingConfig {
  if (c === undefined || c === null) invalid(field, 'is required');
  const rules = checkList(c.queueRules, `${field}.queueRules`, 200);
  return {
    maxMissedOffers: checkInt(c.maxMissedOffers, `${field}.maxMissedOffers`, 0, 100),
    agingPerMinute: checkNumber(c.agingPerMinute, `${field}.agingPerMinute`, 0, 100),
    slaDrivenPriority: checkBool(c.slaDrivenPriority, `${field}.slaDrivenPriority`),
    queueRules: rules.map((r, i): QueueRule => {
      const at = `${field}.queueRules[${i}]`;
      if (typeof r !== 'object' || r === null) invalid(at, 'must be an object');
      const rule: QueueRule = { queueId: checkId(r.queueId, `${at}.queueId`) };
      const channel = checkOptionalChannel(r.channel, `${at}.channel`);
      if (channel !== undefined) rule.channel = channel;
      if (r.topic !== undefined && r.topic !== '') rule.topic = checkText(r.topic, `${at}.topic`, 64);
      if (r.skills !== undefined && r.skills.length > 0)
        rule.skills = checkSkillNames(r.skills, `${at}.skills`, 50);
      return rule;
    }),
    slaAtRiskMargin: checkNumber(c.slaAtRiskMargin, `${field}.slaAtRiskMargin`, 0, 1),
  };
}

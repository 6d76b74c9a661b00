/** Agent configuration and agent-desk fields: proto → engine, every field checked. */
import type { AgentConfig, Channel, Outcome, Presence, Seniority } from '../../engine/types.js';
import { CHANNELS } from '../../engine/types.js';
import {
  type Agent,
  Outcome as PbOutcome,
  Presence as PbPresence,
  Seniority as PbSeniority,
} from '../../gen/switchboard/v1/common.js';
import {
  checkEnum,
  checkId,
  checkIdList,
  checkInt,
  checkList,
  checkSkillLevels,
  checkText,
  invalid,
} from './common.js';

const PRESENCE_BY_PB: readonly (Presence | undefined)[] = [undefined, 'offline', 'online', 'away'];
const SENIORITY_BY_PB: readonly (Seniority | undefined)[] = ['experienced', 'new', 'experienced'];
const OUTCOME_BY_PB: readonly (Outcome | undefined)[] = [undefined, 'resolved', 'closed', 'needs_follow_up'];

/** Upper bound on concurrent conversations per channel: beyond it a typo, not a staffing decision. */
export const MAX_CAPACITY = 100;
const SAFE_KEY_RE = /^[A-Za-z0-9_-]{1,32}$/;
export const MAX_WRAP_UP_SECONDS = 86_400;

export function toAgentConfig(a: Agent | undefined, field = 'agent'): AgentConfig {
  if (a === undefined || a === null) invalid(field, 'is required');
  const capacity: Partial<Record<Channel, number>> = {};
  if (typeof a.capacity !== 'object' || a.capacity === null)
    invalid(`${field}.capacity`, 'must be an object');
  for (const key of Object.keys(a.capacity)) {
    if (!(CHANNELS as readonly string[]).includes(key)) {
      // The key is caller-controlled: name it in the path only when it is plain ASCII (it goes into
      // gRPC metadata, which rejects anything else).
      const at = SAFE_KEY_RE.test(key) ? `${field}.capacity.${key}` : `${field}.capacity`;
      invalid(at, `unknown channel ${JSON.stringify(key.slice(0, 32))}; use one of ${CHANNELS.join(', ')}`);
    }
    capacity[key as Channel] = checkInt(a.capacity[key], `${field}.capacity.${key}`, 0, MAX_CAPACITY);
  }
  const teams = checkList(a.teams, `${field}.teams`, 50);
  for (let i = 0; i < teams.length; i++) {
    const team = checkText(teams[i], `${field}.teams[${i}]`, 64);
    // As for queues and skills: a repeat is a caller's slip, and stored it would show twice in the
    // agent as read back.
    if (teams.indexOf(team) < i) invalid(`${field}.teams[${i}]`, `duplicate team "${team}"`);
  }
  return {
    id: checkId(a.id, `${field}.id`),
    displayName: checkText(a.displayName, `${field}.displayName`),
    skills: checkSkillLevels(a.skills, `${field}.skills`),
    teams: teams.slice(),
    tier: a.tier === 0 ? 1 : checkInt(a.tier, `${field}.tier`, 1, 10),
    seniority: checkEnum(a.seniority, SENIORITY_BY_PB, `${field}.seniority`, PbSeniority),
    capacity,
    wrapUpSeconds: checkInt(a.wrapUpSeconds, `${field}.wrapUpSeconds`, 0, MAX_WRAP_UP_SECONDS),
    queues: checkIdList(a.queues, `${field}.queues`),
  };
}

export function checkPresence(value: unknown, field = 'presence'): Presence {
  return checkEnum(value, PRESENCE_BY_PB, field, PbPresence);
}

export function checkOutcome(value: unknown, field = 'outcome'): Outcome {
  return checkEnum(value, OUTCOME_BY_PB, field, PbOutcome);
}

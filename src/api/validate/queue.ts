/** Queue configuration (strategy, service level, business hours, overflow): proto → engine. */
import type {
  BusinessHours,
  Channel,
  OverflowAction,
  OverflowStep,
  QueueConfig,
  ServiceLevelTarget,
  StrategyName,
} from '../../engine/types.js';
import { MAX_OVERFLOW_STEPS } from '../../engine/validate.js';
import {
  type BusinessHours as PbBusinessHours,
  type OverflowStep as PbOverflowStep,
  type ServiceLevelTarget as PbServiceLevel,
  Strategy as PbStrategy,
  type Queue,
} from '../../gen/switchboard/v1/common.js';
import {
  checkBool,
  checkChannel,
  checkEnum,
  checkId,
  checkInt,
  checkList,
  checkNumber,
  checkSkillNames,
  checkSkillRequirements,
  checkText,
  invalid,
} from './common.js';

const STRATEGY_BY_PB: readonly (StrategyName | undefined)[] = [
  undefined,
  'round_robin',
  'least_busy',
  'longest_idle',
  'most_skilled',
  'broadcast',
  'manual',
];

const WEEK = 604_800;
const DEFAULT_WINDOW_SECONDS = 3_600;

/** The usual targets per channel (chat answers fast, email within a day), used when none is given. */
const DEFAULT_SERVICE_LEVEL: Record<Channel, ServiceLevelTarget> = {
  chat: { target: 0.9, thresholdSeconds: 10, windowSeconds: DEFAULT_WINDOW_SECONDS },
  voice: { target: 0.8, thresholdSeconds: 20, windowSeconds: DEFAULT_WINDOW_SECONDS },
  email: { target: 1, thresholdSeconds: 86_400, windowSeconds: DEFAULT_WINDOW_SECONDS },
  sms: { target: 0.9, thresholdSeconds: 300, windowSeconds: DEFAULT_WINDOW_SECONDS },
  social: { target: 0.9, thresholdSeconds: 3_600, windowSeconds: DEFAULT_WINDOW_SECONDS },
};

const HHMM_RE = /^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$/;
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Time-zone names already accepted by Intl (checking costs ~20 µs, configs repeat the same zones). */
const knownZones = new Set<string>(['UTC']);

function checkTimeZone(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) invalid(field, 'is required');
  if (knownZones.has(value)) return value;
  if (value.length > 64) invalid(field, 'is not an IANA time-zone name');
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: value });
  } catch {
    invalid(field, 'is not an IANA time-zone name, e.g. "Europe/Paris"');
  }
  knownZones.add(value);
  return value;
}

function checkDate(value: unknown, field: string): string {
  const m = typeof value === 'string' ? DATE_RE.exec(value) : null;
  if (m === null) invalid(field, 'must be a date "YYYY-MM-DD"');
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  if (d.getUTCMonth() !== Number(m[2]) - 1 || d.getUTCDate() !== Number(m[3]))
    invalid(field, 'is not a real date');
  return value as string;
}

function minutes(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3));
}

function toBusinessHours(h: PbBusinessHours, field: string): BusinessHours {
  const windows = checkList(h.windows, `${field}.windows`, 70);
  if (windows.length === 0) invalid(`${field}.windows`, 'needs at least one opening window');
  const holidays = checkList(h.holidays, `${field}.holidays`, 400);
  return {
    timeZone: checkTimeZone(h.timeZone, `${field}.timeZone`),
    windows: windows.map((w, i) => {
      const at = `${field}.windows[${i}]`;
      if (typeof w !== 'object' || w === null) invalid(at, 'must be an object');
      const open = w.open;
      const close = w.close;
      if (typeof open !== 'string' || !HHMM_RE.test(open) || open === '24:00') {
        invalid(`${at}.open`, 'must be a time "HH:MM" (00:00–23:59)');
      }
      if (typeof close !== 'string' || !HHMM_RE.test(close))
        invalid(`${at}.close`, 'must be a time "HH:MM" or "24:00"');
      if (minutes(close) <= minutes(open)) {
        invalid(`${at}.close`, 'must be after open (a window never crosses midnight: split it in two)');
      }
      return { day: checkInt(w.day, `${at}.day`, 0, 6), open, close };
    }),
    holidays: holidays.map((d, i) => checkDate(d, `${field}.holidays[${i}]`)),
  };
}

function toServiceLevel(s: PbServiceLevel | undefined, channel: Channel, field: string): ServiceLevelTarget {
  if (s === undefined || s === null) return { ...DEFAULT_SERVICE_LEVEL[channel] };
  const target = checkNumber(s.target, `${field}.target`, 0, 1);
  if (target === 0) invalid(`${field}.target`, 'must be above 0 (e.g. 0.9)');
  const thresholdSeconds = checkInt(s.thresholdSeconds, `${field}.thresholdSeconds`, 1, WEEK);
  const windowSeconds =
    s.windowSeconds === 0
      ? DEFAULT_WINDOW_SECONDS
      : checkInt(s.windowSeconds, `${field}.windowSeconds`, 60, WEEK);
  return { target, thresholdSeconds, windowSeconds };
}

function toOverflowAction(a: PbOverflowStep['action'], ownId: string, field: string): OverflowAction {
  if (a === undefined || a === null) invalid(field, 'is required');
  const set =
    (a.relaxSkills ? 1 : 0) + (a.dropSkills ? 1 : 0) + (a.widenToQueue ? 1 : 0) + (a.escalateTier ? 1 : 0);
  if (set !== 1)
    invalid(field, 'must set exactly one of relaxSkills, dropSkills, widenToQueue, escalateTier');
  if (a.relaxSkills)
    return { kind: 'relax_skills', by: checkInt(a.relaxSkills.by, `${field}.relaxSkills.by`, 1, 9) };
  if (a.dropSkills) {
    const skills = checkSkillNames(a.dropSkills.skills, `${field}.dropSkills.skills`, 50);
    if (skills.length === 0) invalid(`${field}.dropSkills.skills`, 'needs at least one skill');
    return { kind: 'drop_skills', skills };
  }
  if (a.widenToQueue) {
    const queueId = checkId(a.widenToQueue.queueId, `${field}.widenToQueue.queueId`);
    if (queueId === ownId) invalid(`${field}.widenToQueue.queueId`, 'must be another queue');
    return { kind: 'widen_to_queue', queueId };
  }
  return { kind: 'escalate_tier', tier: checkInt(a.escalateTier?.tier, `${field}.escalateTier.tier`, 1, 10) };
}

function toOverflow(steps: PbOverflowStep[] | undefined, ownId: string, field: string): OverflowStep[] {
  const list = checkList(steps, field, MAX_OVERFLOW_STEPS);
  let last = -1;
  return list.map((s, i) => {
    const at = `${field}[${i}]`;
    if (typeof s !== 'object' || s === null) invalid(at, 'must be an object');
    const afterSeconds = checkInt(s.afterSeconds, `${at}.afterSeconds`, 0, WEEK);
    if (afterSeconds <= last) invalid(`${at}.afterSeconds`, 'steps must be in increasing afterSeconds');
    last = afterSeconds;
    return { afterSeconds, action: toOverflowAction(s.action, ownId, `${at}.action`) };
  });
}

export function toQueueConfig(q: Queue | undefined, field = 'queue'): QueueConfig {
  if (q === undefined || q === null) invalid(field, 'is required');
  const id = checkId(q.id, `${field}.id`);
  const channel = checkChannel(q.channel, `${field}.channel`);
  const out: QueueConfig = {
    id,
    name: q.name === '' ? id : checkText(q.name, `${field}.name`),
    channel,
    requiredSkills: checkSkillRequirements(q.requiredSkills, `${field}.requiredSkills`),
    strategy: checkEnum(q.strategy, STRATEGY_BY_PB, `${field}.strategy`, PbStrategy),
    onlineOnly: checkBool(q.onlineOnly, `${field}.onlineOnly`),
    // 0 (unset) = every matching agent, bounded by the engine (types.ts).
    broadcastWidth: checkInt(q.broadcastWidth, `${field}.broadcastWidth`, 0, 100),
    priority: checkInt(q.priority, `${field}.priority`, 0, 10),
    serviceLevel: toServiceLevel(q.serviceLevel, channel, `${field}.serviceLevel`),
    maxSize: checkInt(q.maxSize, `${field}.maxSize`, 0, 10_000_000),
    offerTimeoutSeconds: checkInt(q.offerTimeoutSeconds, `${field}.offerTimeoutSeconds`, 0, 3_600),
    overflow: toOverflow(q.overflow, id, `${field}.overflow`),
    previousAgentWaitSeconds: checkInt(
      q.previousAgentWaitSeconds,
      `${field}.previousAgentWaitSeconds`,
      0,
      3_600,
    ),
    newCustomersToNewAgents: checkBool(q.newCustomersToNewAgents, `${field}.newCustomersToNewAgents`),
  };
  if (q.businessHours !== undefined && q.businessHours !== null) {
    out.businessHours = toBusinessHours(q.businessHours, `${field}.businessHours`);
  }
  return out;
}

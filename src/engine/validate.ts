/**
 * Shape validation of commands. Input crosses trust boundaries (gateways, logs), so everything is
 * checked before any state changes; the first problem is returned with the path of the offending field
 * (e.g. `agent.skills[0].level`). Referential checks (does the agent exist?) happen in the handlers,
 * also before any mutation.
 */
import type { ErrorCode } from '../errors/catalogue.js';
import { validTimeZone } from './hours.js';

/** Most overflow steps a queue may have (the API checks the same bound). */
export const MAX_OVERFLOW_STEPS = 16;

import { CHANNELS, type Command, type CommandEnvelope, type EngineError } from './types.js';

const STRATEGY_NAMES = ['round_robin', 'least_busy', 'longest_idle', 'most_skilled', 'broadcast', 'manual'];
const PRESENCES = ['offline', 'online', 'away'];
const OUTCOMES = ['resolved', 'closed', 'needs_follow_up'];
const VALUE_TIERS = ['standard', 'high_value'];
const SENIORITIES = ['new', 'experienced'];
const HHMM = /^([01]\d|2[0-3]):[0-5]\d$|^24:00$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
/** Ids are opaque but bounded: they are map keys, log payloads and metric labels. */
const MAX_ID = 256;

class Invalid {
  constructor(
    readonly field: string,
    readonly message: string,
    readonly code: ErrorCode = 'SB_ERR_INVALID_ARGUMENT',
  ) {}
}

function fail(field: string, message: string): never {
  throw new Invalid(field, message);
}

function obj(v: unknown, f: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(f, `${f} must be an object`);
  return v as Record<string, unknown>;
}
function id(v: unknown, f: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_ID)
    fail(f, `${f} must be a non-empty string`);
  return v;
}
function str(v: unknown, f: string): string {
  if (typeof v !== 'string') fail(f, `${f} must be a string`);
  return v;
}
function int(v: unknown, f: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    fail(f, `${f} must be an integer in ${min}..${max}`);
  return v;
}
function num(v: unknown, f: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
    fail(f, `${f} must be a number in ${min}..${max}`);
  return v;
}
function bool(v: unknown, f: string): boolean {
  if (typeof v !== 'boolean') fail(f, `${f} must be true or false`);
  return v;
}
function oneOf(v: unknown, f: string, allowed: readonly string[]): string {
  if (typeof v !== 'string' || !allowed.includes(v)) fail(f, `${f} must be one of ${allowed.join(', ')}`);
  return v;
}
function arr(v: unknown, f: string, max = 10_000): unknown[] {
  if (!Array.isArray(v)) fail(f, `${f} must be a list`);
  if (v.length > max) fail(f, `${f} has more than ${max} entries`);
  return v;
}
function unique(list: string[], f: string): void {
  if (list.length < 2) return;
  const seen = new Set<string>();
  list.forEach((s, i) => {
    if (seen.has(s)) fail(`${f}[${i}]`, `${f}[${i}] repeats "${s}"`);
    seen.add(s);
  });
}

/** On the enqueue hot path: field paths are only built when something is wrong. */
function requirements(v: unknown, f: string): void {
  const list = arr(v, f, 64);
  for (let i = 0; i < list.length; i++) {
    const r = list[i] as { skill?: unknown; minLevel?: unknown } | null;
    if (typeof r !== 'object' || r === null || Array.isArray(r)) obj(r, `${f}[${i}]`);
    const o = r as { skill?: unknown; minLevel?: unknown };
    const sk = o.skill;
    if (typeof sk !== 'string' || sk.length === 0 || sk.length > MAX_ID) id(sk, `${f}[${i}].skill`);
    const lv = o.minLevel;
    if (typeof lv !== 'number' || !Number.isInteger(lv) || lv < 1 || lv > 10)
      int(lv, `${f}[${i}].minLevel`, 1, 10);
    for (let j = 0; j < i; j++) {
      if ((list[j] as { skill: string }).skill === sk)
        fail(`${f}[${i}]`, `${f}[${i}] repeats "${String(sk)}"`);
    }
  }
}

function agent(v: unknown): void {
  const a = obj(v, 'agent');
  id(a.id, 'agent.id');
  str(a.displayName, 'agent.displayName');
  const skills = arr(a.skills, 'agent.skills', 256);
  const names: string[] = [];
  skills.forEach((s, i) => {
    const o = obj(s, `agent.skills[${i}]`);
    names.push(id(o.skill, `agent.skills[${i}].skill`));
    int(o.level, `agent.skills[${i}].level`, 1, 10);
  });
  unique(names, 'agent.skills');
  arr(a.teams, 'agent.teams', 64).forEach((t, i) => {
    id(t, `agent.teams[${i}]`);
  });
  int(a.tier, 'agent.tier', 1, 10);
  oneOf(a.seniority, 'agent.seniority', SENIORITIES);
  const cap = obj(a.capacity, 'agent.capacity');
  for (const k of Object.keys(cap)) {
    if (!(CHANNELS as readonly string[]).includes(k)) fail(`agent.capacity.${k}`, `unknown channel "${k}"`);
    if (cap[k] !== undefined) int(cap[k], `agent.capacity.${k}`, 0, 1000);
  }
  int(a.wrapUpSeconds, 'agent.wrapUpSeconds', 0, 86_400);
  const qs = arr(a.queues, 'agent.queues', 1000);
  qs.forEach((q, i) => {
    id(q, `agent.queues[${i}]`);
  });
}

function queue(v: unknown): void {
  const q = obj(v, 'queue');
  id(q.id, 'queue.id');
  str(q.name, 'queue.name');
  oneOf(q.channel, 'queue.channel', CHANNELS);
  requirements(q.requiredSkills, 'queue.requiredSkills');
  oneOf(q.strategy, 'queue.strategy', STRATEGY_NAMES);
  bool(q.onlineOnly, 'queue.onlineOnly');
  int(q.broadcastWidth, 'queue.broadcastWidth', 0, 1000);
  int(q.priority, 'queue.priority', 0, 10);
  const sl = obj(q.serviceLevel, 'queue.serviceLevel');
  num(sl.target, 'queue.serviceLevel.target', 0, 1);
  num(sl.thresholdSeconds, 'queue.serviceLevel.thresholdSeconds', 1, 30 * 86_400);
  num(sl.windowSeconds, 'queue.serviceLevel.windowSeconds', 60, 30 * 86_400);
  if (q.businessHours !== undefined) {
    const bh = obj(q.businessHours, 'queue.businessHours');
    const tz = str(bh.timeZone, 'queue.businessHours.timeZone');
    if (!validTimeZone(tz)) fail('queue.businessHours.timeZone', `unknown IANA time zone "${tz}"`);
    arr(bh.windows, 'queue.businessHours.windows', 100).forEach((w, i) => {
      const f = `queue.businessHours.windows[${i}]`;
      const o = obj(w, f);
      int(o.day, `${f}.day`, 0, 6);
      const open = str(o.open, `${f}.open`);
      const close = str(o.close, `${f}.close`);
      if (!HHMM.test(open) || open === '24:00') fail(`${f}.open`, `${f}.open must be "HH:MM"`);
      if (!HHMM.test(close)) fail(`${f}.close`, `${f}.close must be "HH:MM" or "24:00"`);
      if (close <= open) fail(`${f}.close`, `${f}.close must be after open (split windows at midnight)`);
    });
    arr(bh.holidays, 'queue.businessHours.holidays', 1000).forEach((d, i) => {
      if (typeof d !== 'string' || !DATE.test(d))
        fail(`queue.businessHours.holidays[${i}]`, 'holidays are "YYYY-MM-DD"');
    });
  }
  int(q.maxSize, 'queue.maxSize', 0, 100_000_000);
  int(q.offerTimeoutSeconds, 'queue.offerTimeoutSeconds', 0, 86_400);
  let prev = 0;
  arr(q.overflow, 'queue.overflow', MAX_OVERFLOW_STEPS).forEach((s, i) => {
    const f = `queue.overflow[${i}]`;
    const o = obj(s, f);
    const after = int(o.afterSeconds, `${f}.afterSeconds`, 0, 30 * 86_400);
    if (after < prev) fail(`${f}.afterSeconds`, 'overflow steps must be in increasing afterSeconds order');
    prev = after;
    const act = obj(o.action, `${f}.action`);
    const kind = oneOf(act.kind, `${f}.action.kind`, [
      'relax_skills',
      'drop_skills',
      'widen_to_queue',
      'escalate_tier',
    ]);
    if (kind === 'relax_skills') int(act.by, `${f}.action.by`, 1, 9);
    else if (kind === 'drop_skills')
      arr(act.skills, `${f}.action.skills`, 64).forEach((k, j) => {
        id(k, `${f}.action.skills[${j}]`);
      });
    else if (kind === 'widen_to_queue') {
      id(act.queueId, `${f}.action.queueId`);
      if (act.queueId === q.id) fail(`${f}.action.queueId`, 'a queue cannot overflow into itself');
    } else int(act.tier, `${f}.action.tier`, 1, 10);
  });
  int(q.previousAgentWaitSeconds, 'queue.previousAgentWaitSeconds', 0, 86_400);
  bool(q.newCustomersToNewAgents, 'queue.newCustomersToNewAgents');
}

function customer(v: unknown): void {
  const c = obj(v, 'customer');
  id(c.id, 'customer.id');
  oneOf(c.valueTier, 'customer.valueTier', VALUE_TIERS);
  arr(c.previousAgents, 'customer.previousAgents', 100).forEach((a, i) => {
    id(a, `customer.previousAgents[${i}]`);
  });
  if (c.dedicatedAgentId !== undefined) id(c.dedicatedAgentId, 'customer.dedicatedAgentId');
}

function routing(v: unknown): void {
  const c = obj(v, 'config');
  int(c.maxMissedOffers, 'config.maxMissedOffers', 0, 1000);
  num(c.agingPerMinute, 'config.agingPerMinute', 0, 1000);
  bool(c.slaDrivenPriority, 'config.slaDrivenPriority');
  num(c.slaAtRiskMargin, 'config.slaAtRiskMargin', 0, 1);
  arr(c.queueRules, 'config.queueRules', 1000).forEach((r, i) => {
    const f = `config.queueRules[${i}]`;
    const o = obj(r, f);
    if (o.channel !== undefined) oneOf(o.channel, `${f}.channel`, CHANNELS);
    if (o.topic !== undefined) str(o.topic, `${f}.topic`);
    if (o.skills !== undefined)
      arr(o.skills, `${f}.skills`, 64).forEach((s, j) => {
        id(s, `${f}.skills[${j}]`);
      });
    id(o.queueId, `${f}.queueId`);
  });
}

function conversation(v: unknown): void {
  const c = obj(v, 'conversation');
  id(c.id, 'conversation.id');
  oneOf(c.channel, 'conversation.channel', CHANNELS);
  const cu = obj(c.customer, 'conversation.customer');
  id(cu.id, 'conversation.customer.id');
  if (cu.valueTier !== undefined) oneOf(cu.valueTier, 'conversation.customer.valueTier', VALUE_TIERS);
  requirements(c.requiredSkills, 'conversation.requiredSkills');
  if (c.queueId !== undefined) id(c.queueId, 'conversation.queueId');
  if (c.topic !== undefined) str(c.topic, 'conversation.topic');
  int(c.priority, 'conversation.priority', 0, 10);
}

function command(cmd: Record<string, unknown>): void {
  switch (cmd.type as Command['type']) {
    case 'upsert_agent':
      agent(cmd.agent);
      return;
    case 'remove_agent':
      id(cmd.agentId, 'agentId');
      return;
    case 'upsert_queue':
      queue(cmd.queue);
      return;
    case 'remove_queue':
      id(cmd.queueId, 'queueId');
      return;
    case 'upsert_customer':
      customer(cmd.customer);
      return;
    case 'remove_customer':
      id(cmd.customerId, 'customerId');
      return;
    case 'set_routing_config':
      routing(cmd.config);
      return;
    case 'set_presence':
      id(cmd.agentId, 'agentId');
      oneOf(cmd.presence, 'presence', PRESENCES);
      return;
    case 'accept_offer':
    case 'reject_offer':
    case 'assign':
      id(cmd.agentId, 'agentId');
      id(cmd.conversationId, 'conversationId');
      return;
    case 'enqueue':
      conversation(cmd.conversation);
      return;
    case 'cancel':
      id(cmd.conversationId, 'conversationId');
      return;
    case 'transfer':
      id(cmd.conversationId, 'conversationId');
      if (cmd.toQueueId === undefined && cmd.toAgentId === undefined)
        fail('toQueueId', 'transfer needs toQueueId or toAgentId');
      if (cmd.toQueueId !== undefined) id(cmd.toQueueId, 'toQueueId');
      if (cmd.toAgentId !== undefined) id(cmd.toAgentId, 'toAgentId');
      return;
    case 'escalate':
      id(cmd.conversationId, 'conversationId');
      if (cmd.toAgentId === undefined && cmd.toTier === undefined)
        fail('toAgentId', 'escalate needs toAgentId or toTier');
      if (cmd.toAgentId !== undefined) id(cmd.toAgentId, 'toAgentId');
      if (cmd.toTier !== undefined) int(cmd.toTier, 'toTier', 1, 10);
      return;
    case 'end_conversation':
      id(cmd.conversationId, 'conversationId');
      oneOf(cmd.outcome, 'outcome', OUTCOMES);
      return;
    case 'finish_wrap_up':
      id(cmd.agentId, 'agentId');
      return;
    case 'tick':
      return;
    default:
      fail('cmd.type', `unknown command type "${String(cmd.type)}"`);
  }
}

/** Validates an envelope's shape; returns the first problem or null. Never throws. */
export function validateEnvelope(env: unknown): EngineError | null {
  try {
    const e = obj(env, 'envelope');
    id(e.id, 'id');
    if (typeof e.at !== 'number' || !Number.isFinite(e.at) || e.at < 0)
      fail('at', 'at must be epoch milliseconds');
    if (e.limit !== undefined) int(e.limit, 'limit', 0, 1_000_000_000);
    const cmd = obj(e.cmd, 'cmd');
    command(cmd);
    return null;
  } catch (x) {
    if (x instanceof Invalid) return { code: x.code, message: x.message, field: x.field };
    return { code: 'SB_ERR_INVALID_ARGUMENT', message: 'malformed command' };
  }
}

export type { CommandEnvelope };

/**
 * Field checks shared by every area. Each check throws `SB_ERR_INVALID_ARGUMENT` naming the field by its
 * proto3 JSON path (`agent.skills[1].level`), so gRPC and HTTP callers see the same path.
 *
 * Decoded requests are not trusted to be well-typed: ts-proto's `fromJSON` coerces with `Number()` and
 * `String()`, so a JSON `1.5` or `"abc"` reaches us as a non-integer or NaN. Every number is re-checked.
 */
import type { Channel, SkillLevel, SkillRequirement } from '../../engine/types.js';
import { SwitchboardError } from '../../errors/catalogue.js';
import { Channel as PbChannel } from '../../gen/switchboard/v1/common.js';

/** Ids of tenants, agents, queues, conversations, customers: safe in URL path segments and log lines. */
export const ID_RE = /^[A-Za-z0-9_][A-Za-z0-9._:@+-]*$/;
/** Skill names like `billing`, `lang:fr`, `tier:2`, `support/network`. */
const SKILL_RE = /^[A-Za-z0-9_][A-Za-z0-9._:@+/-]*$/;
/** Request ids: printable ASCII without spaces (UUIDs, ULIDs, "gw1-42"...). */
const REQUEST_ID_RE = /^[\x21-\x7e]+$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

export const MAX_ID = 128;
export const MAX_TENANT = 64;
export const MAX_SKILL = 64;
export const MAX_TEXT = 200;
export const MAX_LIST = 100;

/** Throws the catalogue's invalid-argument error for `field`. */
export function invalid(field: string, message: string): never {
  throw new SwitchboardError('SB_ERR_INVALID_ARGUMENT', `${field}: ${message}`, field);
}

export function checkId(value: unknown, field: string, max = MAX_ID): string {
  if (typeof value !== 'string' || value.length === 0) invalid(field, 'is required');
  if (value.length > max) invalid(field, `must be at most ${max} characters`);
  if (!ID_RE.test(value)) invalid(field, 'may contain only letters, digits and . _ : @ + -');
  return value;
}

export function checkOptionalId(value: string | undefined, field: string): string | undefined {
  return value === undefined || value === '' ? undefined : checkId(value, field);
}

export function checkTenant(value: unknown): string {
  return checkId(value, 'tenant', MAX_TENANT);
}

/** Empty = no request id. */
export function checkRequestId(value: unknown): string {
  if (value === undefined || value === '') return '';
  if (typeof value !== 'string') invalid('requestId', 'must be a string');
  if (value.length > MAX_ID) invalid('requestId', `must be at most ${MAX_ID} characters`);
  if (!REQUEST_ID_RE.test(value)) invalid('requestId', 'must be printable ASCII without spaces');
  return value;
}

export function checkSkillName(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) invalid(field, 'is required');
  if (value.length > MAX_SKILL) invalid(field, `must be at most ${MAX_SKILL} characters`);
  if (!SKILL_RE.test(value)) invalid(field, 'may contain only letters, digits and . _ : @ + / -');
  return value;
}

/** Free text shown to people (display names, queue names). */
export function checkText(value: unknown, field: string, max = MAX_TEXT): string {
  if (typeof value !== 'string' || value.trim().length === 0) invalid(field, 'is required');
  if (value.length > max) invalid(field, `must be at most ${max} characters`);
  if (CONTROL_RE.test(value)) invalid(field, 'must not contain control characters');
  return value;
}

export function checkInt(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) invalid(field, 'must be an integer');
  if (value < min || value > max) invalid(field, `must be between ${min} and ${max}`);
  return value;
}

export function checkNumber(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) invalid(field, 'must be a finite number');
  if (value < min || value > max) invalid(field, `must be between ${min} and ${max}`);
  return value;
}

export function checkBool(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') invalid(field, 'must be true or false');
  return value;
}

export function checkList<T>(value: T[] | undefined, field: string, max = MAX_LIST): T[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) invalid(field, 'must be a list');
  if (value.length > max) invalid(field, `must have at most ${max} entries`);
  return value;
}

/** A list of ids without duplicates. */
export function checkIdList(value: string[] | undefined, field: string, max = MAX_LIST): string[] {
  const list = checkList(value, field, max);
  const seen = new Set<string>();
  for (let i = 0; i < list.length; i++) {
    const id = checkId(list[i], `${field}[${i}]`);
    if (seen.has(id)) invalid(`${field}[${i}]`, `duplicate "${id}"`);
    seen.add(id);
  }
  return list.slice();
}

export function checkSkillNames(value: string[] | undefined, field: string, max = MAX_LIST): string[] {
  const list = checkList(value, field, max);
  const seen = new Set<string>();
  for (let i = 0; i < list.length; i++) {
    const s = checkSkillName(list[i], `${field}[${i}]`);
    if (seen.has(s)) invalid(`${field}[${i}]`, `duplicate skill "${s}"`);
    seen.add(s);
  }
  return list.slice();
}

export function checkSkillLevels(value: SkillLevel[] | undefined, field: string): SkillLevel[] {
  return checkSkillEntries(value, field, 'level', MAX_LIST);
}

export function checkSkillRequirements(
  value: SkillRequirement[] | undefined,
  field: string,
): SkillRequirement[] {
  return checkSkillEntries(value, field, 'minLevel', 50);
}

/** A list of `{ skill, <level key> }`: valid, unique skill names, levels 1–10; returns fresh objects. */
function checkSkillEntries<K extends 'level' | 'minLevel'>(
  value: ({ skill: string } & Record<K, number>)[] | undefined,
  field: string,
  levelKey: K,
  max: number,
): ({ skill: string } & Record<K, number>)[] {
  const list = checkList(value, field, max);
  const out = new Array<{ skill: string } & Record<K, number>>(list.length);
  // Field paths are built only for an error: this runs on every Enqueue (its required skills).
  for (let i = 0; i < list.length; i++) {
    const s = list[i];
    if (typeof s !== 'object' || s === null) invalid(`${field}[${i}]`, 'must be an object');
    const skill = isSkillName(s.skill) ? s.skill : checkSkillName(s.skill, `${field}[${i}].skill`);
    for (let j = 0; j < i; j++) {
      if (out[j]?.skill === skill) invalid(`${field}[${i}].skill`, `duplicate skill "${skill}"`);
    }
    const level = s[levelKey];
    const ok = Number.isInteger(level) && level >= 1 && level <= 10;
    out[i] = {
      skill,
      [levelKey]: ok ? level : checkInt(level, `${field}[${i}].${levelKey}`, 1, 10),
    } as { skill: string } & Record<K, number>;
  }
  return out;
}

/** Exactly what `checkSkillName` accepts, without a field path (built only when it does not). */
function isSkillName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_SKILL && SKILL_RE.test(value);
}

/**
 * Proto enum value → engine string, by index (`names`); a value without a name is invalid, and so is 0
 * (UNSPECIFIED) unless `names[0]` gives it a meaning. `pb` is the generated proto enum, for the message.
 */
export function checkEnum<T extends string>(
  value: unknown,
  names: readonly (T | undefined)[],
  field: string,
  pb: Readonly<Record<string, string | number>>,
): T {
  const name = typeof value === 'number' ? names[value] : undefined;
  if (name === undefined) invalid(field, enumChoices(Object.entries(pb)));
  return name;
}

/**
 * "must be one of A, B, C": an enum's values to offer, by proto name, in both the service's checks and the
 * HTTP JSON type check. Never the zero value: UNSPECIFIED means "not given", so offering it invites a
 * request that is then refused as missing.
 */
export function enumChoices(values: Iterable<readonly [string, unknown]>): string {
  const offered: string[] = [];
  for (const [name, n] of values) if (typeof n === 'number' && n > 0) offered.push(name);
  return `must be one of ${offered.join(', ')}`;
}

/** Engine channel names indexed by the proto `Channel` enum value. */
export const CHANNEL_BY_PB: readonly (Channel | undefined)[] = [
  undefined,
  'chat',
  'voice',
  'email',
  'sms',
  'social',
];

export function checkChannel(value: unknown, field: string): Channel {
  return checkEnum(value, CHANNEL_BY_PB, field, PbChannel);
}

/** For optional channel fields: UNSPECIFIED = absent. */
export function checkOptionalChannel(value: unknown, field: string): Channel | undefined {
  return value === PbChannel.CHANNEL_UNSPECIFIED || value === undefined
    ? undefined
    : checkChannel(value, field);
}

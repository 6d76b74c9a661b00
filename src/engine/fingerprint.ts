/**
 * A 32-bit fingerprint of a command's content, stored with its remembered reply so that a repeated
 * command id carrying a different command is told apart from a retry (see `RoutingEngine.apply`).
 *
 * Structural, so the same content always gives the same value whatever built the object: the API now,
 * the log's JSON on a replay after a restart (which drops `undefined` fields and keeps key order — but
 * object keys are combined order-independently anyway). No JSON text of the command is built (a
 * `JSON.stringify` per command would cost more than the routing decision), and integers are hashed
 * without a string. Never 0, which marks "no fingerprint" (entries restored from snapshots written before
 * fingerprints).
 */
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

function text(s: string, h: number): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return h;
}

/** Murmur3's finaliser: spreads every input bit over the output. */
function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function value(v: unknown): number {
  switch (typeof v) {
    case 'string':
      return mix(text(v, FNV_OFFSET) ^ 0x01);
    case 'number':
      // Integers (levels, priorities, capacities, times: nearly every number) straight from their two
      // 32-bit halves, with no string; others by JSON's spelling, which is what a replay parses back.
      if (Number.isSafeInteger(v)) return mix(mix((v / 4294967296) | 0) ^ (v >>> 0) ^ 0x02);
      return mix(text(JSON.stringify(v), FNV_OFFSET) ^ 0x03);
    case 'boolean':
      return v ? 0x1b873593 : 0x2c1b3c6d;
    case 'object': {
      if (v === null) return 0x5bd1e995;
      if (Array.isArray(v)) {
        let h = mix(0x3c6ef372 ^ v.length);
        for (const x of v) h = mix(Math.imul(h, 31) + value(x));
        return h;
      }
      // Keys in any order: a sum of per-key hashes. Undefined fields are absent, as in JSON.
      let sum = 0x27d4eb2f;
      for (const k in v as Record<string, unknown>) {
        const x = (v as Record<string, unknown>)[k];
        if (x === undefined) continue;
        sum = (sum + mix(text(k, FNV_OFFSET) ^ value(x))) | 0;
      }
      return mix(sum);
    }
    default:
      return 0;
  }
}

/**
 * The fingerprint remembered with a command. An enqueue's required skills are a set (a gateway building
 * them from a map sends them in any order), so they are hashed sorted by skill: a retry listing them
 * in another order is the same command. A list already sorted hashes exactly as it did before.
 */
export function fingerprint(cmd: unknown): number {
  return value(canonical(cmd)) || 1;
}

/** The fingerprint of a command exactly as listed: what versions before `canonical` remembered. */
export function fingerprintAsListed(cmd: unknown): number {
  return value(cmd) || 1;
}

/**
 * Does a remembered fingerprint (non-zero) match `cmd`? Snapshots written before required skills were a
 * set remember an unsorted list as listed; a gateway retry across that upgrade (a restart is when
 * gateways retry) must still be recognised, so the as-listed value is accepted too. It is computed only
 * when the first comparison fails.
 */
export function matchesFingerprint(tag: number | undefined, cmd: unknown): boolean {
  return tag === fingerprint(cmd) || tag === fingerprintAsListed(cmd);
}

function canonical(cmd: unknown): unknown {
  const c = cmd as { type?: unknown; conversation?: { requiredSkills?: unknown } } | null;
  if (c === null || typeof c !== 'object' || c.type !== 'enqueue') return cmd;
  const conv = c.conversation;
  const reqs = conv?.requiredSkills;
  if (!Array.isArray(reqs) || reqs.length < 2) return cmd;
  let sorted = true;
  for (let i = 0; i < reqs.length; i++) {
    const skill = (reqs[i] as { skill?: unknown } | null)?.skill;
    // Not a valid list (validation will refuse it): fingerprinted as given.
    if (typeof skill !== 'string') return cmd;
    if (i > 0 && (reqs[i - 1] as { skill: string }).skill > skill) sorted = false;
  }
  if (sorted) return cmd;
  const bySkill = reqs
    .slice()
    .sort((x: { skill: string }, y: { skill: string }) =>
      x.skill < y.skill ? -1 : x.skill > y.skill ? 1 : 0,
    );
  return { ...c, conversation: { ...conv, requiredSkills: bySkill } };
}

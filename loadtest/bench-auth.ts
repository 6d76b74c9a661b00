/**
 * `npm run bench:auth`: what checking an API token costs per call. Tokens are looked up by their SHA-256
 * (src/api/auth.ts, so a lookup's timing says nothing about the token); this prints that check beside a
 * plain map lookup by token text, which is what it replaced, for `--tenants` tenants.
 * Last line: one JSON object.
 */
import { TenantAuth } from '../src/api/auth.js';
import { scriptArgs } from './lib/args.js';

const args = scriptArgs({
  usage: 'npm run bench:auth -- [options]',
  options: {
    tenants: { type: 'int', default: 1000, min: 1, help: 'tenants, one token each' },
    calls: { type: 'int', default: 300_000, min: 1000, help: 'checks per round (3 rounds)' },
  },
});

const tokens = Array.from({ length: args.tenants }, (_, i) => `tok-${i}-${'x'.repeat(32)}`);
const tenants = tokens.map((_, i) => `tenant-${i}`);
const auth = new TenantAuth({
  tokens: Object.fromEntries(tenants.map((t, i) => [t, tokens[i] as string])),
  adminToken: `admin-${'y'.repeat(32)}`,
});
const byText = new Map(tokens.map((t, i) => [t, tenants[i]]));

/** Nanoseconds per call of `f` over `args.calls` calls. */
function perCall(f: (i: number) => void): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < args.calls; i++) f(i);
  return Number(process.hrtime.bigint() - t0) / args.calls;
}

const rows: { check_ns: number; map_by_text_ns: number }[] = [];
let sink = 0;
for (let round = 0; round < 3; round++) {
  const check_ns = perCall((i) =>
    auth.check(tokens[i % tokens.length], tenants[i % tenants.length] as string),
  );
  const map_by_text_ns = perCall((i) => {
    if (byText.get(tokens[i % tokens.length] as string) !== undefined) sink++;
  });
  rows.push({ check_ns: Math.round(check_ns), map_by_text_ns: Math.round(map_by_text_ns) });
  console.log(
    `round ${round + 1}: TenantAuth.check ${rows.at(-1)?.check_ns} ns, map lookup by token text ${rows.at(-1)?.map_by_text_ns} ns`,
  );
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1] as number;
console.log(
  JSON.stringify({
    tenants: args.tenants,
    check_ns: median(rows.map((r) => r.check_ns)),
    map_by_text_ns: median(rows.map((r) => r.map_by_text_ns)),
    rounds: rows,
    sink: sink > 0,
  }),
);

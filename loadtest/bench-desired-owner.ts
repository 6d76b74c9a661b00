/**
 * What `KvOwnership.desiredOwner(partition)` costs for a partition the node's view does not hold (a stray
 * call naming an unknown tenant, or a new tenant's first call), before and after `BoundedSpread.oneMore`:
 * no NATS, the view's computation alone, both ways in one run on the same ids.
 *
 *   node dist/loadtest/bench-desired-owner.js [--known 5000] [--nodes 5] [--strays 10000] [--seed 1]
 *
 * - before: what `wanted(extra)` did per such call — the view's key string with the stray in it (always
 *   a cache miss, since the stray is part of it), then the whole bounded spread of the known partitions
 *   plus the stray (one `BoundedSpread` kept across calls, as the node kept it: its caches grow with the
 *   strays and are cleared when they outgrow the view);
 * - after: the view cached until it changes (its nodes' key joined per call, O(nodes)), the known
 *   partitions placed once with the cap of one more (`oneMore`, timed on its own), then per stray only
 *   its place in the order, its scores and each node's load before it (`ownerOf`).
 * Every stray's answer is compared: the run fails if one differs. Per-call times: median, p99, mean (µs).
 */
import { BoundedSpread } from '../src/cluster/nats/rendezvous.js';
import { mulberry32 } from './lib/prng.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

const rnd = mulberry32(arg('seed', 1));
const id = (prefix: string) => `${prefix}-${Math.floor(rnd() * 2 ** 48).toString(16)}`;
const known = Array.from({ length: arg('known', 5000) }, () => id('tenant'));
const nodes = Array.from({ length: arg('nodes', 5) }, () => id('node')).sort();
const strays = Array.from({ length: arg('strays', 10000) }, () => id('stray'));

function stats(us: number[]): string {
  const s = [...us].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return `median ${at(0.5).toFixed(2)} µs, p99 ${at(0.99).toFixed(2)} µs, mean ${mean.toFixed(2)} µs`;
}

// Before: per call, the key with the stray in it (a miss), then the spread of all of them.
const before: (string | null)[] = [];
const beforeUs: number[] = [];
{
  const spread = new BoundedSpread();
  spread.assign(known, nodes); // the rebalance's own spread had warmed the caches
  for (const x of strays) {
    const t0 = performance.now();
    const parts = [...known];
    parts.push(x);
    const key = `${nodes.join('\0')}\n${parts.join('\0')}`;
    if (key.length === 0) throw new Error('unreachable');
    before.push(spread.assign(parts, nodes).get(x) ?? null);
    beforeUs.push((performance.now() - t0) * 1000);
  }
}

// After: the view's spread once, then `ownerOf` per stray.
const after: (string | null)[] = [];
const afterUs: number[] = [];
let buildMs = 0;
{
  const spread = new BoundedSpread();
  spread.assign(known, nodes);
  const t0 = performance.now();
  const oneMore = spread.oneMore(known, nodes);
  buildMs = performance.now() - t0;
  let cachedKey = nodes.join('\0');
  for (const x of strays) {
    const t1 = performance.now();
    const key = nodes.join('\0'); // the view's nodes, checked per call
    if (key !== cachedKey) cachedKey = key;
    after.push(oneMore.ownerOf(x));
    afterUs.push((performance.now() - t1) * 1000);
  }
}

const differ = strays.filter((_, i) => before[i] !== after[i]).length;
console.log(
  `desiredOwner of a partition outside the view: ${known.length} known partitions, ${nodes.length} nodes, ${strays.length} stray ids`,
);
console.log(`  before (whole spread per call): ${stats(beforeUs)}`);
console.log(`  after  (oneMore.ownerOf):       ${stats(afterUs)}`);
console.log(`  after: the view's oneMore, once per view change: ${buildMs.toFixed(2)} ms`);
console.log(`  answers that differ: ${differ} of ${strays.length}`);
if (differ > 0) process.exitCode = 1;

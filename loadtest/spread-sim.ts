/**
 * How tenants spread over nodes, plain rendezvous hashing against the bounded-load spread
 * (`src/cluster/nats/rendezvous.ts`), in numbers: no NATS, only the assignment function.
 *
 *   node dist/loadtest/spread-sim.js [--sets 10000] [--runs 200] [--steps 60] [--seed 1]
 *
 * 1. Max load per node for P tenants on N nodes (default 20 on 3) over `--sets` random tenant-id sets:
 *    the distribution of the busiest node's count, plain vs bounded with several load factors c.
 * 2. Moves: `--runs` random sequences of `--steps` events from `--start-nodes` (3) nodes and no tenants (a tenant created
 *    70 %, a node joins 15 %, a node leaves 15 % while more than 2 are left): after each event, how many
 *    tenants that existed before it changed owner (a hand-over each), by kind of event.
 * Deterministic for a given seed.
 */
import { BoundedSpread, type LoadFactor, rendezvousOwner } from '../src/cluster/nats/rendezvous.js';
import { mulberry32 } from './lib/prng.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

const rnd = mulberry32(arg('seed', 1));
const id = (prefix: string) => `${prefix}-${Math.floor(rnd() * 2 ** 32).toString(16)}`;

type Spread = { name: string; assign: (ps: string[], ns: string[]) => Map<string, string> };
const plain: Spread = {
  name: 'plain',
  assign: (ps, ns) => new Map(ps.map((p) => [p, rendezvousOwner(p, ns) as string])),
};
const bounded = (c: LoadFactor): Spread => {
  const spread = new BoundedSpread(c);
  return { name: `c=${c.num / c.den}`, assign: (ps, ns) => spread.assign(ps, ns) };
};
const spreads: Spread[] = [
  plain,
  bounded({ num: 1, den: 1 }),
  bounded({ num: 11, den: 10 }),
  bounded({ num: 6, den: 5 }),
  bounded({ num: 5, den: 4 }),
  bounded({ num: 3, den: 2 }),
];

function maxLoad(a: Map<string, string>): number {
  const c = new Map<string, number>();
  for (const n of a.values()) c.set(n, (c.get(n) ?? 0) + 1);
  return Math.max(0, ...c.values());
}

// ---- 1. max load ------------------------------------------------------------------------------------
const P = arg('tenants', 20);
const N = arg('nodes', 3);
const sets = arg('sets', 10000);
const hist = new Map<string, Map<number, number>>(spreads.map((s) => [s.name, new Map()]));
const nodes = Array.from({ length: N }, () => id('switchboard'));
for (let r = 0; r < sets; r++) {
  const ps = Array.from({ length: P }, () => id('tenant'));
  for (const s of spreads) {
    const m = maxLoad(s.assign(ps, nodes));
    const h = hist.get(s.name) as Map<number, number>;
    h.set(m, (h.get(m) ?? 0) + 1);
  }
}
console.log(`max tenants on one node, ${P} tenants on ${N} nodes, ${sets} random tenant-id sets`);
const loads = [...new Set([...hist.values()].flatMap((h) => [...h.keys()]))].sort((a, b) => a - b);
console.log(['max', ...loads.map(String)].join('\t'));
for (const s of spreads) {
  const h = hist.get(s.name) as Map<number, number>;
  const pct = loads.map((l) => (((h.get(l) ?? 0) / sets) * 100).toFixed(1));
  const mean = [...h].reduce((acc, [l, k]) => acc + l * k, 0) / sets;
  console.log([s.name, ...pct].join('\t'), `\tmean ${mean.toFixed(2)} (% of sets)`);
}

// ---- 2. moves ---------------------------------------------------------------------------------------
const runs = arg('runs', 200);
const steps = arg('steps', 60);
type Tally = { events: number; moves: number };
const kinds = ['create', 'join', 'leave'] as const;
const tally = new Map<string, Record<(typeof kinds)[number], Tally>>(
  spreads.map((s) => [
    s.name,
    {
      create: { events: 0, moves: 0 },
      join: { events: 0, moves: 0 },
      leave: { events: 0, moves: 0 },
    },
  ]),
);
const worstRatio = new Map<string, number>(spreads.map((s) => [s.name, 0]));
let tenantsAtEnd = 0;
for (let r = 0; r < runs; r++) {
  let ns = Array.from({ length: arg('start-nodes', 3) }, () => id('switchboard'));
  let ps: string[] = [];
  const before = new Map<string, Map<string, string>>(spreads.map((s) => [s.name, new Map()]));
  for (let k = 0; k < steps; k++) {
    const x = rnd();
    let kind: (typeof kinds)[number];
    if (x < 0.7 || ps.length === 0) {
      kind = 'create';
      ps = [...ps, id('tenant')];
    } else if (x < 0.85 || ns.length <= 2) {
      kind = 'join';
      ns = [...ns, id('switchboard')];
    } else {
      kind = 'leave';
      const i = Math.floor(rnd() * ns.length);
      ns = ns.filter((_, j) => j !== i);
    }
    for (const s of spreads) {
      const prev = before.get(s.name) as Map<string, string>;
      const next = s.assign(ps, ns);
      let moved = 0;
      for (const [p, n] of prev) if (next.get(p) !== n) moved++;
      const t = (tally.get(s.name) as Record<string, Tally>)[kind] as Tally;
      t.events++;
      t.moves += moved;
      before.set(s.name, next);
      if (ps.length >= 2 * ns.length) {
        const ratio = maxLoad(next) / (ps.length / ns.length);
        if (ratio > (worstRatio.get(s.name) as number)) worstRatio.set(s.name, ratio);
      }
    }
  }
  tenantsAtEnd += ps.length;
}
console.log(
  `\nmoves of existing tenants, ${runs} runs of ${steps} random events from ${arg('start-nodes', 3)} nodes (~${Math.round(tenantsAtEnd / runs)} tenants at the end)`,
);
console.log(['spread', ...kinds.map((k) => `${k}/event`), 'total', 'vs plain', 'worst max/mean'].join('\t'));
const total = (s: string) => kinds.reduce((a, k) => a + (tally.get(s) as Record<string, Tally>)[k].moves, 0);
for (const s of spreads) {
  const t = tally.get(s.name) as Record<string, Tally>;
  console.log(
    [
      s.name,
      ...kinds.map((k) => (t[k].moves / Math.max(1, t[k].events)).toFixed(2)),
      String(total(s.name)),
      `${(total(s.name) / total('plain')).toFixed(2)}x`,
      (worstRatio.get(s.name) as number).toFixed(2),
    ].join('\t'),
  );
}

// ---- 3. rolling upgrades ----------------------------------------------------------------------------
// Every node replaced one by one (a new pod joins, then an old one leaves), P tenants on N nodes.
const upgrades = arg('upgrades', 500);
const rolled = new Map<string, number>(spreads.map((s) => [s.name, 0]));
for (let r = 0; r < upgrades; r++) {
  const ps = Array.from({ length: P }, () => id('tenant'));
  let ns = Array.from({ length: N }, () => id('switchboard'));
  const old = [...ns];
  const prev = new Map<string, Map<string, string>>(spreads.map((s) => [s.name, s.assign(ps, ns)]));
  for (const o of old) {
    for (const change of ['join', 'leave']) {
      ns = change === 'join' ? [...ns, id('switchboard')] : ns.filter((n) => n !== o);
      for (const s of spreads) {
        const next = s.assign(ps, ns);
        let moved = 0;
        for (const [p, n] of prev.get(s.name) as Map<string, string>) if (next.get(p) !== n) moved++;
        rolled.set(s.name, (rolled.get(s.name) as number) + moved);
        prev.set(s.name, next);
      }
    }
  }
}
console.log(
  `\nrolling upgrade of ${N} nodes with ${P} tenants (${upgrades} random tenant sets): hand-overs per upgrade`,
);
for (const s of spreads) {
  const m = (rolled.get(s.name) as number) / upgrades;
  console.log(
    `${s.name}\t${m.toFixed(1)}\t${(m / ((rolled.get('plain') as number) / upgrades)).toFixed(2)}x`,
  );
}

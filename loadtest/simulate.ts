/**
 * `npm run simulate` — a contact-center day through the real routing engine in virtual time.
 *
 *   npm run simulate                                   # small-support-desk, one day
 *   npm run simulate -- multichannel-multilingual      # a shipped scenario by name, or a path to a JSON file
 *   npm run simulate -- small-support-desk --what-if '{"agents":+2}'
 *   npm run simulate -- small-support-desk --compare loadtest/scenarios/small-support-desk-round-robin.json
 *   npm run simulate -- --erlang-check                 # single-skill queue vs Erlang C
 *
 * Prints a table per queue, writes JSON + HTML under loadtest/results/, and ends with one JSON line.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { scriptArgs } from './lib/args.js';
import { repoRoot } from './lib/machine.js';
import { writeReport } from './lib/report.js';
import { erlangCAverageWait, erlangCServiceLevel } from './sim/erlang.js';
import { round } from './sim/measures.js';
import { meanOf } from './sim/random.js';
import { type SimResult, simulate } from './sim/run.js';
import { applyWhatIf, loadScenario, parseWhatIf, type Scenario, withStaffingOf } from './sim/scenario.js';
import { simulationReport } from './sim/sim-report.js';
import { generateArrivals } from './sim/traffic.js';

const SPEC = {
  usage: 'npm run simulate -- [scenario] [options]',
  positionals: true,
  options: {
    seed: { type: 'int', min: 0, help: "override the scenario's seed" },
    days: { type: 'int', min: 1, max: 366, help: 'override the number of simulated days' },
    'what-if': {
      type: 'string',
      value: 'JSON',
      help: 'same day, changed configuration: {"agents":+5} {"group":{"chat-en":2}}\n{"strategy":"round_robin"} {"wrapUpSeconds":0} {"volume":1.2}',
    },
    compare: {
      type: 'string',
      value: 'FILE',
      help: "same day (seed and traffic of the base scenario) with FILE's queues and agents",
    },
    'erlang-check': {
      type: 'boolean',
      help: 'single-skill queue at ~85 % occupancy vs Erlang C (must agree within 2 points)',
    },
    seeds: { type: 'int', default: 12, min: 1, help: 'seeds pooled by --erlang-check' },
    'no-report': { type: 'boolean', help: 'skip the HTML/JSON files' },
  },
  epilog: 'scenario: a name in loadtest/scenarios/ or a path (default small-support-desk)',
} as const;

function resolveScenario(arg: string): string {
  if (existsSync(arg)) return arg;
  const byName = join(repoRoot(), 'loadtest', 'scenarios', arg.endsWith('.json') ? arg : `${arg}.json`);
  if (existsSync(byName)) return byName;
  throw new Error(`scenario not found: ${arg} (looked for ${byName})`);
}

function pad(v: string | number, w: number): string {
  const s = String(v);
  return s.length >= w ? s : ' '.repeat(w - s.length) + s;
}

function printQueues(label: string, r: SimResult): void {
  console.log(
    `\n${label}: ${r.scenario}, seed ${r.seed}, ${r.days} day(s), ${r.arrivals} conversations, ${r.commands} engine commands in ${r.wallMs} ms (${r.commandsPerSecond} cmd/s)`,
  );
  console.log(
    `${'queue'.padEnd(18)}${pad('agents', 7)}${pad('offered', 9)}${pad('answered', 9)}${pad('abandon', 9)}${pad('SL', 8)}${pad('target', 12)}${pad('ASA s', 10)}${pad('p90 s', 10)}${pad('occup', 7)}${pad('gini', 7)}`,
  );
  for (const q of r.queues) {
    console.log(
      `${q.id.padEnd(18)}${pad(q.agents, 7)}${pad(q.offered, 9)}${pad(q.answered, 9)}${pad(`${(q.abandonRate * 100).toFixed(1)}%`, 9)}${pad(`${(q.serviceLevel * 100).toFixed(1)}%`, 8)}${pad(`${q.serviceLevelTarget * 100}%/${q.thresholdSeconds}s`, 12)}${pad(q.asaSeconds, 10)}${pad(q.p90WaitSeconds, 10)}${pad(q.occupancy.toFixed(2), 7)}${pad(q.gini.toFixed(2), 7)}`,
    );
  }
  console.log(
    `${'all'.padEnd(18)}${pad('', 7)}${pad('', 9)}${pad('', 9)}${pad(`${(r.abandonRate * 100).toFixed(1)}%`, 9)}${pad(`${(r.serviceLevel * 100).toFixed(1)}%`, 8)}${pad('', 12)}${pad(r.asaSeconds, 10)}${pad('', 10)}${pad(r.occupancy.toFixed(2), 7)}${pad(r.gini.toFixed(2), 7)}`,
  );
  const errs = Object.entries(r.engineErrors);
  if (errs.length > 0) console.log(`engine refused: ${errs.map(([k, v]) => `${k}×${v}`).join(', ')}`);
  console.log(
    `assignment rules: ${Object.entries(r.rules)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}`,
  );
}

function summaryLine(r: SimResult): Record<string, unknown> {
  return {
    scenario: r.scenario,
    service_level: r.serviceLevel,
    asa_s: r.asaSeconds,
    abandon_rate: r.abandonRate,
    occupancy: r.occupancy,
    gini: r.gini,
    conversations: r.arrivals,
    queues: Object.fromEntries(r.queues.map((q) => [q.id, q.serviceLevel])),
  };
}

/** Pools several seeds of a single-queue scenario and compares with Erlang C. */
function erlangCheck(base: Scenario, seeds: number) {
  const q = base.queues[0]!;
  const t = base.traffic[0]!;
  const g = base.agents;
  const problems: string[] = [];
  if (base.queues.length !== 1 || base.traffic.length !== 1)
    problems.push('needs exactly one queue and one stream');
  if (t.handleTime.dist !== 'exponential') problems.push('handle times must be exponential');
  if (t.patience) problems.push('customers must have infinite patience');
  if (g.some((a) => (a.capacity[q.channel] ?? 0) !== 1 || a.wrapUpSeconds !== 0 || a.breaks.length > 0))
    problems.push('agents need capacity 1, no wrap-up, no breaks');
  if (t.hourlyProfile && new Set(t.hourlyProfile).size > 1) problems.push('arrival rate must be flat');
  if (problems.length > 0) throw new Error(`--erlang-check: scenario ${base.name}: ${problems.join('; ')}`);
  const agents = g.reduce((n, a) => n + a.count, 0);
  const input = { agents, arrivalRate: t.perDay / 86_400, handleSeconds: meanOf(t.handleTime) };
  const expected = erlangCServiceLevel(input, q.serviceLevel.thresholdSeconds);
  const runs: SimResult[] = [];
  let within = 0;
  let countedN = 0;
  let waitMs = 0;
  let answered = 0;
  for (let i = 0; i < seeds; i++) {
    const r = simulate({ ...base, seed: base.seed + i });
    runs.push(r);
    within += r.totals.within;
    countedN += r.totals.counted;
    waitMs += r.totals.waitMsSum;
    answered += r.totals.answered;
    console.log(
      `seed ${r.seed}: ${r.totals.counted} answered after warm-up, SL ${(r.serviceLevel * 100).toFixed(2)}%, occupancy ${r.occupancy.toFixed(3)}, ${r.wallMs} ms`,
    );
  }
  const simulated = within / countedN;
  return {
    runs,
    agents,
    offeredLoad: input.arrivalRate * input.handleSeconds,
    occupancy: (input.arrivalRate * input.handleSeconds) / agents,
    simulated: round(simulated),
    expected: round(expected),
    diffPoints: round((simulated - expected) * 100, 2),
    asaSimulated: round(waitMs / answered / 1000, 2),
    asaErlang: round(erlangCAverageWait(input), 2),
    conversations: countedN,
  };
}

function main(): number {
  const values = scriptArgs(SPEC);
  const positionals = values.positionals;
  const erlang = values['erlang-check'];
  const name = positionals[0] ?? (erlang ? 'erlang-single-queue' : 'small-support-desk');
  let base = loadScenario(resolveScenario(name));
  if (values.seed !== undefined) base = { ...base, seed: values.seed };
  if (values.days !== undefined) base = { ...base, days: values.days };

  if (erlang) {
    const e = erlangCheck(base, values.seeds);
    const ok = Math.abs(e.diffPoints) <= 2;
    console.log(
      `\nErlang C check: ${e.agents} agents, offered load ${e.offeredLoad.toFixed(2)} Erlangs (occupancy ${(e.occupancy * 100).toFixed(1)}%), ${e.conversations} conversations pooled`,
    );
    console.log(
      `  service level: simulated ${(e.simulated * 100).toFixed(2)}%  Erlang C ${(e.expected * 100).toFixed(2)}%  difference ${e.diffPoints} points → ${ok ? 'AGREE (within 2 points)' : 'DISAGREE'}`,
    );
    console.log(`  average speed of answer: simulated ${e.asaSimulated} s  Erlang C ${e.asaErlang} s`);
    let report: string | undefined;
    if (!values['no-report']) {
      report = writeReport(simulationReport({ base: e.runs[0]!, erlang: e })).html;
      console.log(`report: ${report}`);
    }
    console.log(
      JSON.stringify({
        ...summaryLine(e.runs[0]!),
        service_level: e.simulated,
        queues: { [base.queues[0]!.id]: e.simulated },
        erlang_c_service_level: e.expected,
        diff_points: e.diffPoints,
        asa_s: e.asaSimulated,
        erlang_c_asa_s: e.asaErlang,
        occupancy: round(e.runs.reduce((n, r) => n + r.occupancy, 0) / e.runs.length),
        conversations: e.conversations,
        agree: ok,
        ...(report ? { report } : {}),
      }),
    );
    return ok ? 0 : 1;
  }

  let variant: Scenario | undefined;
  let variantLabel = '';
  if (values['what-if'] !== undefined) {
    variant = applyWhatIf(base, parseWhatIf(values['what-if']));
    variantLabel = `what-if ${values['what-if']}`;
  } else if (values.compare !== undefined) {
    variant = withStaffingOf(base, loadScenario(resolveScenario(values.compare)));
    variantLabel = `compare ${variant.name}`;
  }
  const arrivals = generateArrivals(base);
  const r = simulate(base, arrivals);
  printQueues('base', r);
  let v: SimResult | undefined;
  if (variant) {
    // Same customers unless the what-if changed the traffic itself (volume).
    const sameTraffic =
      JSON.stringify(variant.traffic) === JSON.stringify(base.traffic) && variant.seed === base.seed;
    v = simulate(variant, sameTraffic ? arrivals : generateArrivals(variant));
    printQueues(variantLabel, v);
    console.log('\nside by side (service level / ASA s / abandon):');
    for (const q of r.queues) {
      const w = v.queues.find((x) => x.id === q.id);
      console.log(
        `  ${q.id.padEnd(18)} ${(q.serviceLevel * 100).toFixed(1)}% / ${q.asaSeconds} / ${(q.abandonRate * 100).toFixed(1)}%  →  ${w ? `${(w.serviceLevel * 100).toFixed(1)}% / ${w.asaSeconds} / ${(w.abandonRate * 100).toFixed(1)}%` : 'absent'}`,
      );
    }
  }
  let report: string | undefined;
  if (!values['no-report']) {
    report = writeReport(simulationReport({ base: r, ...(v ? { variant: v, variantLabel } : {}) })).html;
    console.log(`report: ${report}`);
  }
  console.log(
    JSON.stringify({
      ...summaryLine(r),
      ...(v ? { variant: variantLabel, variant_result: summaryLine(v) } : {}),
      ...(report ? { report } : {}),
    }),
  );
  return 0;
}

try {
  process.exitCode = main();
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 2;
}

/**
 * Golden day: a recorded contact-center day (test/golden/day.commands.jsonl) must replay to exactly the
 * recorded routing decisions (day.decisions.txt) and digest (day.digest.json). A failure names the first
 * decision that changed.
 *
 * Regenerate after an intended decision change (explain it in the commit):
 *   SB_GOLDEN_UPDATE=1 npx vitest run test/golden
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CommandEnvelope } from '../../src/engine/index.js';
import { createEngine, restoreEngine } from '../../src/engine/index.js';
import { GOLDEN_PARTITION, GOLDEN_SEED, generateDay, toJsonl } from './generate.js';
import { expectationOf, firstChangedDecision, type GoldenExpectation, replayGolden } from './golden-day.js';

const file = (name: string) => fileURLToPath(new URL(name, import.meta.url));
const LOG = file('./day.commands.jsonl');
const DIGEST = file('./day.digest.json');
const DECISIONS = file('./day.decisions.txt');

let envs: CommandEnvelope[] = [];
let expected: GoldenExpectation;
let decisions: string[] = [];

beforeAll(() => {
  if (process.env.SB_GOLDEN_UPDATE === '1') {
    const log = generateDay(createEngine(GOLDEN_PARTITION));
    const r = replayGolden(createEngine(GOLDEN_PARTITION), log);
    writeFileSync(LOG, toJsonl(log));
    writeFileSync(
      DIGEST,
      `${JSON.stringify(expectationOf(GOLDEN_PARTITION, GOLDEN_SEED, log, r), null, 2)}\n`,
    );
    writeFileSync(DECISIONS, `${r.lines.join('\n')}\n`);
    console.warn(`golden day regenerated: ${log.length} commands, ${r.lines.length} decisions`);
  }
  for (const f of [LOG, DIGEST, DECISIONS]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: run SB_GOLDEN_UPDATE=1 npx vitest run test/golden`);
  }
  envs = readFileSync(LOG, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as CommandEnvelope);
  expected = JSON.parse(readFileSync(DIGEST, 'utf8')) as GoldenExpectation;
  decisions = readFileSync(DECISIONS, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0);
});

describe('golden contact-center day', () => {
  it('the recorded day is a realistic few-thousand-command log', () => {
    expect(envs.length).toBe(expected.commands);
    expect(envs.length).toBeGreaterThan(2000);
    expect(expected.counts.assigned ?? 0).toBeGreaterThan(200);
  });

  it('replaying the recorded day makes exactly the recorded routing decisions and reaches the recorded digest', () => {
    const r = replayGolden(createEngine(expected.partition), envs);
    const changed = firstChangedDecision(decisions, r.lines);
    if (changed) throw new Error(`golden day diverged — ${changed}`);
    const cp = r.checkpoints.findIndex((d, i) => d !== expected.checkpoints[i]);
    if (cp >= 0) {
      const from = cp * expected.checkpointEvery;
      throw new Error(
        `state diverged between commands ${from} and ${from + expected.checkpointEvery} with identical decisions`,
      );
    }
    expect(r.counts).toEqual(expected.counts);
    expect(r.digest).toBe(expected.digest);
  });

  it('a deliberately changed decision is caught and named', () => {
    // Turn the sales queue from round robin to least busy: same commands, other agents chosen.
    const tampered = envs.map((e) =>
      e.cmd.type === 'upsert_queue' && e.cmd.queue.id === 'sales_chat'
        ? { ...e, cmd: { ...e.cmd, queue: { ...e.cmd.queue, strategy: 'most_skilled' as const } } }
        : e,
    );
    const r = replayGolden(createEngine(expected.partition), tampered);
    const changed = firstChangedDecision(decisions, r.lines);
    expect(changed).toMatch(/^decision #\d+ changed:\n {2}expected: .*\n {2}actual: /);
    expect(r.digest).not.toBe(expected.digest);
  });

  it('the day restored from a midday snapshot ends in the recorded state', () => {
    const half = Math.floor(envs.length / 2);
    const morning = createEngine(expected.partition);
    for (const e of envs.slice(0, half)) morning.apply(e);
    const restored = restoreEngine(JSON.parse(JSON.stringify(morning.snapshot())));
    for (const e of envs.slice(half)) restored.apply(e);
    expect(restored.digest()).toBe(expected.digest);
  });
});

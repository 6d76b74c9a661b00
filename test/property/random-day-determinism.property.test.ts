/**
 * Snapshot → JSON → restore → continue equals never snapshotting, on random days with reconfiguration,
 * removals and erasure between the calls (`test/support/random-day.ts`): at three random cuts per day the
 * restored engine must have the same digest and `nextTimerAt` as the original, then give the same replies
 * and events to the rest of the day, end with the same digest and answer the statistics queries alike.
 * Statistics stay in range after every command. Seeds: `runsFor(0.01)` days of 160–350 commands
 * (`SB_PROPERTY_RUNS`); `SB_RANDOM_DAY_SEED` starts elsewhere to replay a reported seed.
 */
import { describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine/api.js';
import { createEngine, restoreEngine } from '../../src/engine/index.js';
import { runsFor, timeoutFor } from '../support/engine-gen.js';
import { DEFAULT_OPTS, rng, runDay } from '../support/random-day.js';

const SEEDS = runsFor(0.01);
const START = Number(process.env.SB_RANDOM_DAY_SEED ?? '1');

function statsProblems(e: Engine, at: number, i: number, out: string[]): void {
  const qs = e.query({ type: 'all_queue_stats' }, at);
  if (qs.type === 'all_queue_stats')
    for (const s of qs.stats) {
      const bad =
        !(s.abandonmentRate >= 0 && s.abandonmentRate <= 1) ||
        !(s.serviceLevel === null || (s.serviceLevel >= 0 && s.serviceLevel <= 1)) ||
        !(s.waiting >= 0) ||
        !(s.waitingPastThreshold >= 0 && s.waitingPastThreshold <= s.waiting) ||
        !(Number.isFinite(s.averageHandleMs) && s.averageHandleMs >= 0) ||
        !(Number.isFinite(s.averageWaitMs) && s.averageWaitMs >= 0) ||
        !(s.longestWaitMs >= 0);
      if (bad) out.push(`stats at step ${i}: ${JSON.stringify(s)}`);
    }
}

/**
 * A reconfiguration (agent or queue) withdraws only the offers an agent can no longer take: an offer it
 * may keep rings on as it was. Withdrawing an offer and ringing the same desk again in one command is
 * the signature of the opposite (a fresh timeout and a repeated `offered` for an offer that never had to
 * go).
 */
function reRung(day: ReturnType<typeof runDay>): string[] {
  const out: string[] = [];
  day.envs.forEach((env, i) => {
    const r = day.results[i]!;
    if (!r.ok || (env.cmd.type !== 'upsert_agent' && env.cmd.type !== 'upsert_queue')) return;
    const rescinded = new Set<string>();
    for (const e of r.events)
      if (e.type === 'offer_rescinded') rescinded.add(`${e.conversationId}→${e.agentId}`);
      else if (e.type === 'offered' && rescinded.has(`${e.conversationId}→${e.agentId}`))
        out.push(`step ${i} ${env.cmd.type}: ${e.conversationId}→${e.agentId} withdrawn and rung again`);
  });
  return out;
}

describe('random days: snapshot → restore → continue', () => {
  it(
    `reproduces replies, events, digest and nextTimerAt (${SEEDS} days)`,
    () => {
      const failures: string[] = [];
      for (let seed = START; seed < START + SEEDS && failures.length < 5; seed++) {
        const steps = 160 + (seed % 191);
        const day = runDay(seed, { ...DEFAULT_OPTS, steps }, statsProblems);
        for (const p of day.problems.slice(0, 2)) failures.push(`seed ${seed}: ${p}`);
        if (day.engine.halted) continue;
        for (const p of reRung(day).slice(0, 2)) failures.push(`seed ${seed}: ${p}`);
        const r = rng(seed * 7919);
        for (let k = 0; k < 3; k++) {
          const cut = r.int(day.envs.length);
          const e1 = createEngine('p');
          for (let j = 0; j < cut; j++) e1.apply(day.envs[j]!);
          const e2 = restoreEngine(JSON.parse(JSON.stringify(e1.snapshot())));
          const where = `seed ${seed} cut ${cut}`;
          if (e2.digest() !== e1.digest()) failures.push(`${where}: digest after restore differs`);
          if (e2.nextTimerAt() !== e1.nextTimerAt())
            failures.push(`${where}: nextTimerAt ${e1.nextTimerAt()} vs restored ${e2.nextTimerAt()}`);
          let diverged = false;
          for (let j = cut; j < day.envs.length && !diverged; j++) {
            const a = JSON.stringify(day.results[j]);
            const b = JSON.stringify(e2.apply(day.envs[j]!));
            if (a !== b) {
              diverged = true;
              failures.push(
                `${where}: step ${j} ${JSON.stringify(day.envs[j]!.cmd)}\n  orig ${a}\n  rest ${b}`,
              );
            }
          }
          if (diverged) break;
          if (e2.digest() !== day.engine.digest()) failures.push(`${where}: final digest differs`);
          if (e2.nextTimerAt() !== day.engine.nextTimerAt())
            failures.push(`${where}: final nextTimerAt differs`);
          const at = day.envs.at(-1)!.at;
          for (const q of [{ type: 'all_queue_stats' }, { type: 'all_agent_stats' }] as const) {
            const a = JSON.stringify(day.engine.query(q, at));
            const b = JSON.stringify(e2.query(q, at));
            if (a !== b) failures.push(`${where}: query ${q.type} differs\n  orig ${a}\n  rest ${b}`);
          }
        }
      }
      expect(failures).toEqual([]);
    },
    timeoutFor(SEEDS * 50),
  );
});

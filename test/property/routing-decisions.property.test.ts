/**
 * Safety of every routing decision over random contact-center days: capacity, single ownership, eligibility,
 * and agreement between the events a gateway receives and the conversation read model.
 * Run counts scale with SB_PROPERTY_RUNS (share of the suite-wide total; nightly sets 200 000).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine/index.js';
import { readModelMismatches } from '../support/engine-checks.js';
import { FULL, runScenario, runsFor, scenarioArb, timeoutFor } from '../support/engine-gen.js';
import type { ViolationKind } from '../support/engine-model.js';

function holds(kind: ViolationKind, share: number) {
  const numRuns = runsFor(share);
  return [
    () =>
      fc.assert(
        fc.property(scenarioArb(FULL), (s) => {
          const { model } = runScenario(createEngine('tenant-prop'), FULL, s);
          expect(model.of(kind)).toEqual([]);
        }),
        { numRuns },
      ),
    timeoutFor(numRuns),
  ] as const;
}

describe('routing decisions over random days (model from events)', () => {
  it('an agent never exceeds capacity on any channel, counting pending offers', ...holds('capacity', 0.1));

  it('a conversation never has two accepted owners at once', ...holds('owner', 0.1));

  it(
    'offers and automatic assignments go only to online agents with the skills, capacity and no wrap-up',
    ...holds('eligibility', 0.1),
  );

  it(
    'every offer is rescinded or resolved and events never name unknown conversations',
    ...holds('consistency', 0.05),
  );

  const numRuns = runsFor(0.05);
  it(
    'the conversation read model agrees with the events after every command',
    () => {
      fc.assert(
        fc.property(scenarioArb(FULL), (s) => {
          const problems: string[] = [];
          runScenario(createEngine('tenant-prop'), FULL, s, {
            afterEach: (engine, model, step, i) => {
              if (problems.length > 0) return;
              for (const p of readModelMismatches(engine, model, step.env.at)) {
                problems.push(`after step ${i} (${step.env.cmd.type}): ${p}`);
              }
            },
          });
          expect(problems).toEqual([]);
        }),
        { numRuns },
      );
    },
    timeoutFor(numRuns),
  );
});

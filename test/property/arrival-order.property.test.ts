/**
 * Fairness: with equivalent agents (same skills, capacity and queue) and one priority, conversations of a
 * queue are first offered or assigned in the order they arrived, whatever the strategy.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine/index.js';
import { EQUIVALENT_AGENTS, runScenario, runsFor, scenarioArb, timeoutFor } from '../support/engine-gen.js';

describe('arrival order over random days', () => {
  const numRuns = runsFor(0.15);
  it(
    'equal-priority conversations in one queue are served in arrival order when agents are equivalent',
    () => {
      fc.assert(
        fc.property(scenarioArb(EQUIVALENT_AGENTS), (s) => {
          const { model } = runScenario(createEngine('tenant-prop'), EQUIVALENT_AGENTS, s, {
            checkArrivalOrder: true,
          });
          expect(model.of('arrival_order')).toEqual([]);
        }),
        { numRuns },
      );
    },
    timeoutFor(numRuns),
  );
});

/**
 * Work conservation: after every command, no conversation is left waiting while an eligible agent has free
 * capacity on its channel. Rules that wait on purpose (manual queues, returning-customer wait budgets,
 * dedicated agents, business hours) are left out of this profile.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine/index.js';
import { stuckConversations } from '../support/engine-checks.js';
import { NO_DELIBERATE_WAIT, runScenario, runsFor, scenarioArb, timeoutFor } from '../support/engine-gen.js';

describe('work conservation over random days', () => {
  const numRuns = runsFor(0.15);
  it(
    'no conversation waits while an eligible agent has free capacity',
    () => {
      fc.assert(
        fc.property(scenarioArb(NO_DELIBERATE_WAIT), (s) => {
          const stuck: string[] = [];
          runScenario(createEngine('tenant-prop'), NO_DELIBERATE_WAIT, s, {
            afterEach: (engine, model, step, i) => {
              if (stuck.length > 0) return;
              for (const p of stuckConversations(engine, model, step.env.at)) {
                stuck.push(`after step ${i} (${step.env.id} ${step.env.cmd.type}): ${p}`);
              }
            },
          });
          expect(stuck).toEqual([]);
        }),
        { numRuns },
      );
    },
    timeoutFor(numRuns),
  );
});

/**
 * The random days must actually exercise the routing rules the invariants are about; otherwise the property
 * tests could pass on days where nothing happens. Tallies events and replies over a fixed sample.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine/index.js';
import { FULL, runScenario, scenarioArb } from '../support/engine-gen.js';

describe('random days cover the routing rules', () => {
  it('offers, assignments, misses, rescinds, transfers, abandonments, wrap-ups and retries all occur', () => {
    const tally = new Map<string, number>();
    const bump = (k: string) => tally.set(k, (tally.get(k) ?? 0) + 1);
    let commands = 0;
    let accepted = 0;
    for (const s of fc.sample(scenarioArb(FULL), { numRuns: 300, seed: 20260105 })) {
      for (const st of runScenario(createEngine('tenant-cov'), FULL, s).steps) {
        commands++;
        if (st.duplicateOf !== undefined) bump('retry');
        if (!st.result.ok) {
          bump(`error:${st.env.cmd.type}`);
          continue;
        }
        accepted++;
        if (st.duplicateOf !== undefined) continue;
        for (const e of st.result.events) {
          bump(e.type);
          if (e.type === 'offer_missed') bump(`missed:${e.reason}`);
          if (e.type === 'assigned') bump(`rule:${e.explanation.rule}`);
        }
      }
    }
    const summary = Object.fromEntries([...tally].sort());
    console.info(`coverage over 300 days, ${commands} commands, ${accepted} accepted:`, summary);
    for (const k of [
      'offered',
      'assigned',
      'missed:rejected',
      'missed:timeout',
      'offer_rescinded',
      'transferred',
      'escalated',
      'abandoned',
      'conversation_ended',
      'wrap_up_started',
      'wrap_up_ended',
      'overflowed',
      'queued',
      'retry',
      'rule:strategy',
      'rule:manual_assign',
    ]) {
      expect(tally.get(k) ?? 0, `${k} never happened`).toBeGreaterThan(0);
    }
    expect(accepted / commands).toBeGreaterThan(0.6);
  });
});

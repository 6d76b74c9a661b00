import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type SimResult, simulate } from '../../loadtest/sim/run.js';
import { applyWhatIf, loadScenario, parseWhatIf } from '../../loadtest/sim/scenario.js';
import { generateArrivals } from '../../loadtest/sim/traffic.js';

const desk = loadScenario(join(import.meta.dirname, '../../loadtest/scenarios/small-support-desk.json'));
const outcome = (r: SimResult) => ({
  queues: r.queues,
  rules: r.rules,
  commands: r.commands,
  series: r.series,
});

describe('the contact-center day simulator', () => {
  const arrivals = generateArrivals(desk);
  const base = simulate(desk, arrivals);

  it('replays the same day to the conversation from the same seed', () => {
    expect(outcome(simulate(desk, generateArrivals(desk)))).toEqual(outcome(base));
  });

  it('routes every customer of the day: answered or abandoned, none left hanging', () => {
    expect(base.arrivals).toBe(arrivals.length);
    const chat = base.queues.find((q) => q.id === 'chat')!;
    const email = base.queues.find((q) => q.id === 'email')!;
    expect(chat.offered + email.offered).toBe(arrivals.length);
    expect(chat.answered + chat.abandoned).toBe(chat.offered);
    expect(email.answered).toBe(email.offered);
    expect(base.engineErrors).toEqual({});
  });

  it('sends impatient chat customers away when the desk is short-staffed at the morning peak', () => {
    const thin = simulate(applyWhatIf(desk, parseWhatIf('{"agents":-8}')), arrivals);
    const chat = thin.queues.find((q) => q.id === 'chat')!;
    expect(chat.abandoned).toBeGreaterThan(0);
    expect(chat.serviceLevel).toBeLessThan(base.queues.find((q) => q.id === 'chat')!.serviceLevel);
  });

  it('answers the same customers faster with five more agents (what-if)', () => {
    const more = simulate(applyWhatIf(desk, parseWhatIf('{"agents":+5}')), arrivals);
    expect(more.arrivals).toBe(base.arrivals);
    expect(more.asaSeconds).toBeLessThanOrEqual(base.asaSeconds);
    expect(more.serviceLevel).toBeGreaterThanOrEqual(base.serviceLevel);
    expect(more.occupancy).toBeLessThan(base.occupancy);
  });

  it('sends VIP customers to their dedicated senior agents and returning customers back to earlier agents', () => {
    expect(base.rules.dedicated_agent ?? 0).toBeGreaterThan(0);
    expect(base.rules.previous_agent ?? 0).toBeGreaterThan(0);
  });
});

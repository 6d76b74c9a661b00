import { describe, expect, it } from 'vitest';
import { diffHistogram, histogramQuantile, parseHistogram, parseSamples } from '../../loadtest/lib/prom.js';
import { erlangB, erlangC, erlangCAverageWait, erlangCServiceLevel } from '../../loadtest/sim/erlang.js';
import { gini } from '../../loadtest/sim/measures.js';

/**
 * Erlang C by the textbook closed form, as an independent reference (the implementation goes through the
 * Erlang B recurrence instead):
 *
 *   C(c, A) = (A^c/c! · c/(c−A)) / (Σ_{k=0}^{c−1} A^k/k! + A^c/c! · c/(c−A))
 *
 * The terms A^k/k! are built one from the last (no factorial overflow up to c ≈ 150 for A < c).
 */
function erlangCClosedForm(c: number, a: number): number {
  let term = 1; // A^0 / 0!
  let sum = 0;
  for (let k = 0; k < c; k++) {
    sum += term;
    term = (term * a) / (k + 1);
  }
  const waiting = (term * c) / (c - a); // term is now A^c / c!
  return waiting / (sum + waiting);
}

describe('Erlang C staffing yardstick', () => {
  it('gives the textbook probability of waiting for 3 agents offered 2 Erlangs (4/9)', () => {
    expect(erlangB(3, 2)).toBeCloseTo(4 / 19, 10);
    expect(erlangC(3, 2)).toBeCloseTo(4 / 9, 10);
  });

  it('matches values worked by hand for more agents', () => {
    // c = 4, A = 2: Σ_{k<4} 2^k/k! = 1 + 2 + 2 + 4/3 = 19/3; 2^4/4! · 4/2 = 4/3 → C = (4/3)/(23/3) = 4/23.
    expect(erlangC(4, 2)).toBeCloseTo(4 / 23, 12);
    // c = 5, A = 4: Σ_{k<5} 4^k/k! = 1 + 4 + 8 + 32/3 + 32/3 = 103/3; 4^5/5! · 5/1 = 128/3 → C = 128/231.
    expect(erlangC(5, 4)).toBeCloseTo(128 / 231, 12);
  });

  it('agrees with the closed form from 4 to 120 agents, at light, busy and near-saturated load', () => {
    for (const c of [4, 7, 10, 20, 50, 120]) {
      for (const load of [0.5, 0.85, 0.97]) {
        const a = c * load;
        const want = erlangCClosedForm(c, a);
        expect(want, `reference for c=${c}, A=${a}`).toBeGreaterThan(0);
        expect(erlangC(c, a) / want, `c=${c}, A=${a}`).toBeCloseTo(1, 9);
      }
    }
  });

  it('stays finite and sensible for a 1 000-agent contact center where factorials would overflow', () => {
    const c = erlangC(1000, 950);
    expect(Number.isFinite(c)).toBe(true);
    expect(c).toBeGreaterThan(0);
    expect(c).toBeLessThan(1);
  });

  it('says every customer waits when the offered load reaches the number of agents', () => {
    expect(erlangC(10, 10)).toBe(1);
    expect(erlangCServiceLevel({ agents: 10, arrivalRate: 1, handleSeconds: 10 }, 20)).toBe(0);
  });

  it('answers 80/20 service level and ASA consistent with the closed form for a voice queue', () => {
    // 20 agents, 17 Erlangs (85 % occupancy), AHT 120 s.
    const x = { agents: 20, arrivalRate: 17 / 120, handleSeconds: 120 };
    const pw = erlangCClosedForm(20, 17);
    expect(erlangCServiceLevel(x, 20)).toBeCloseTo(1 - pw * Math.exp(-(20 / 120 - 17 / 120) * 20), 12);
    expect(erlangCAverageWait(x)).toBeCloseTo(pw / (3 / 120), 9);
  });
});

describe('fairness and server histograms', () => {
  it('rates an even share of conversations 0 and one agent taking everything close to 1', () => {
    expect(gini([5, 5, 5, 5])).toBe(0);
    expect(gini([0, 0, 0, 12])).toBeCloseTo(0.75, 10);
  });

  it("reads the node's assignment histogram difference as microsecond percentiles", () => {
    const scrape = (a: number, b: number, c: number) =>
      parseHistogram(
        [
          `switchboard_assignment_latency_seconds_bucket{le="0.00005"} ${a}`,
          `switchboard_assignment_latency_seconds_bucket{le="0.0001"} ${b}`,
          `switchboard_assignment_latency_seconds_bucket{le="+Inf"} ${c}`,
          `switchboard_assignment_latency_seconds_count ${c}`,
        ].join('\n'),
        'switchboard_assignment_latency_seconds',
      )!;
    const d = diffHistogram(scrape(10, 10, 10), scrape(10, 110, 110));
    expect(d.count).toBe(100);
    // All 100 new decisions fell in (50 µs, 100 µs]: the median interpolates to 75 µs.
    expect(histogramQuantile(d, 0.5) * 1e6).toBeCloseTo(75, 6);
  });

  it("reads a counter's and a gauge's samples with their labels, and not those of a longer name", () => {
    const text = [
      '# TYPE switchboard_node_lease_lost_total counter',
      'switchboard_node_lease_lost_total{reason="fenced"} 2',
      'switchboard_node_lease_lost_total{reason="lapsed"} 0',
      'switchboard_partitions_owned 3',
      'switchboard_partitions_owned_extra 9',
    ].join('\n');
    expect(parseSamples(text, 'switchboard_node_lease_lost_total')).toEqual([
      { labels: { reason: 'fenced' }, value: 2 },
      { labels: { reason: 'lapsed' }, value: 0 },
    ]);
    expect(parseSamples(text, 'switchboard_partitions_owned')).toEqual([{ labels: {}, value: 3 }]);
  });
});

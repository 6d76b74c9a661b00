/**
 * Erlang C (M/M/c queue, infinite patience) — the textbook yardstick the simulator is checked against.
 *
 * The naive formula divides factorials and powers that overflow long before c = 200. Instead, Erlang B
 * is built by the stable recurrence B(0) = 1, B(k) = A·B(k−1) / (k + A·B(k−1)) (every term stays in
 * [0, 1]), and Erlang C follows from it: C = c·B / (c − A·(1 − B)).
 */

/** Erlang B blocking probability for `agents` servers offered `trafficErlangs` (A = λ/μ). */
export function erlangB(agents: number, trafficErlangs: number): number {
  let b = 1;
  for (let k = 1; k <= agents; k++) b = (trafficErlangs * b) / (k + trafficErlangs * b);
  return b;
}

/** Probability that an arriving customer has to wait (Erlang C). 1 when the queue is unstable (A ≥ c). */
export function erlangC(agents: number, trafficErlangs: number): number {
  if (trafficErlangs >= agents) return 1;
  const b = erlangB(agents, trafficErlangs);
  return (agents * b) / (agents - trafficErlangs * (1 - b));
}

export interface ErlangInput {
  agents: number;
  /** Arrivals per second. */
  arrivalRate: number;
  /** Mean handle time, seconds. */
  handleSeconds: number;
}

/** Fraction of customers answered within `thresholdSeconds`: 1 − C·e^{−(cμ − λ)t}. */
export function erlangCServiceLevel(x: ErlangInput, thresholdSeconds: number): number {
  const a = x.arrivalRate * x.handleSeconds;
  if (a >= x.agents) return 0;
  const c = erlangC(x.agents, a);
  const mu = 1 / x.handleSeconds;
  return 1 - c * Math.exp(-(x.agents * mu - x.arrivalRate) * thresholdSeconds);
}

/** Average speed of answer (mean wait over all customers), seconds: C / (cμ − λ). */
export function erlangCAverageWait(x: ErlangInput): number {
  const a = x.arrivalRate * x.handleSeconds;
  if (a >= x.agents) return Number.POSITIVE_INFINITY;
  return erlangC(x.agents, a) / (x.agents / x.handleSeconds - x.arrivalRate);
}

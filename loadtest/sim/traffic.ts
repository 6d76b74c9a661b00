/**
 * The customers of a simulated day, drawn up front from the scenario's seed: arrival times (a Poisson
 * process whose rate is piecewise constant per hour), queue, required skills, VIP or returning customer,
 * handle time and patience. Drawing them before the run means a what-if variant sees the very same
 * customers — only the staffing or routing differs.
 */
import type { SkillRequirement } from '../../src/engine/types.js';
import { Random, sample } from './random.js';
import type { Scenario } from './scenario.js';

export interface Arrival {
  /** Milliseconds since the start of the run. */
  at: number;
  stream: number;
  queueId: string;
  customerId: string;
  vip: boolean;
  returning: boolean;
  priority: number;
  requiredSkills: SkillRequirement[];
  handleMs: number;
  /** How long the customer waits before leaving; null = forever. */
  patienceMs: number | null;
}

const DAY_S = 86_400;

/** VIP customer ids, shared by every stream. */
export function vipCustomerId(i: number): string {
  return `vip-${i}`;
}

/** All arrivals of the run, sorted by time (ties keep stream order, so the order is deterministic). */
export function generateArrivals(s: Scenario): Arrival[] {
  const all: Arrival[] = [];
  s.traffic.forEach((t, stream) => {
    const rng = Random.derive(s.seed, `traffic:${stream}:${t.queue}`);
    const profile = t.hourlyProfile ?? new Array<number>(24).fill(1);
    const total = profile.reduce((a, b) => a + b, 0);
    const seen: string[] = [];
    let fresh = 0;
    for (let day = 0; day < s.days; day++) {
      for (let h = 0; h < 24; h++) {
        const perSecond = total > 0 ? (t.perDay * profile[h]!) / total / 3600 : 0;
        if (perSecond <= 0) continue;
        // Exponential gaps are memoryless, so restarting at each hour boundary keeps the process exact.
        const hourStart = day * DAY_S + h * 3600;
        let x = rng.exponential(1 / perSecond);
        while (x < 3600) {
          const vip = s.customers.vipCount > 0 && rng.chance(t.vipShare);
          const returning = !vip && seen.length > 0 && rng.chance(t.returningShare);
          let customerId: string;
          if (vip) customerId = vipCustomerId(rng.int(s.customers.vipCount));
          else if (returning) customerId = seen[rng.int(seen.length)]!;
          else {
            customerId = `s${stream}-c${fresh++}`;
            seen.push(customerId);
          }
          const mix =
            t.skillMix.length > 0 ? t.skillMix[rng.weighted(t.skillMix.map((m) => m.share))]! : null;
          all.push({
            at: Math.round((hourStart + x) * 1000),
            stream,
            queueId: t.queue,
            customerId,
            vip,
            returning,
            priority: Math.min(10, t.priority + (vip ? t.vipPriorityBoost : 0)),
            requiredSkills: mix ? mix.skills : [],
            handleMs: Math.max(1000, Math.round(sample(rng, t.handleTime) * 1000)),
            patienceMs: t.patience ? Math.round(sample(rng, t.patience) * 1000) : null,
          });
          x += rng.exponential(1 / perSecond);
        }
      }
    }
  });
  all.sort((a, b) => a.at - b.at || a.stream - b.stream);
  return all;
}

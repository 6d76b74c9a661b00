/**
 * Seeded randomness for the simulator: a xoshiro128** generator (seeded through splitmix32) and the
 * distributions a contact-center model needs. Everything here is reproducible from the seed, so two runs
 * of the same scenario — or a what-if variant of it — see exactly the same customers.
 */

/** A deterministic random source. `next()` is uniform on [0, 1). */
export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spareNormal: number | null = null;

  constructor(seed: number) {
    // splitmix32 spreads a small integer seed over the 128-bit state (xoshiro must not start at zero).
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
  }

  /** Uniform on [0, 1) with 32 bits of resolution. */
  next(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r / 4294967296;
  }

  /** Uniform on (0, 1]: safe under `Math.log`. */
  nextOpen(): number {
    return 1 - this.next();
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  exponential(mean: number): number {
    return -mean * Math.log(this.nextOpen());
  }

  /** Standard normal by Box–Muller; the second value of each pair is kept for the next call. */
  normal(): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return v;
    }
    const r = Math.sqrt(-2 * Math.log(this.nextOpen()));
    const theta = 2 * Math.PI * this.next();
    this.spareNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** Lognormal with the given arithmetic mean and standard deviation (how handle times are usually quoted). */
  lognormal(mean: number, sd: number): number {
    const sigma2 = Math.log(1 + (sd * sd) / (mean * mean));
    const mu = Math.log(mean) - sigma2 / 2;
    return Math.exp(mu + Math.sqrt(sigma2) * this.normal());
  }

  /** Picks an index with probability proportional to `weights[i]`. */
  weighted(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    let x = this.next() * total;
    for (let i = 0; i < weights.length; i++) {
      x -= weights[i]!;
      if (x < 0) return i;
    }
    return weights.length - 1;
  }

  /** An independent stream derived from this seed and a label, so adding a stream never shifts another. */
  static derive(seed: number, label: string): Random {
    let h = 2166136261 ^ seed;
    for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 16777619);
    return new Random(h >>> 0);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** A duration distribution as written in scenario files; values in seconds. */
export type Distribution =
  | { dist: 'exponential'; mean: number }
  | { dist: 'lognormal'; mean: number; sd: number }
  | { dist: 'fixed'; value: number }
  | { dist: 'uniform'; min: number; max: number };

/** Draws one value (seconds) from a scenario distribution. */
export function sample(rng: Random, d: Distribution): number {
  switch (d.dist) {
    case 'exponential':
      return rng.exponential(d.mean);
    case 'lognormal':
      return rng.lognormal(d.mean, d.sd);
    case 'fixed':
      return d.value;
    case 'uniform':
      return d.min + (d.max - d.min) * rng.next();
  }
}

/** Mean of a scenario distribution, seconds. */
export function meanOf(d: Distribution): number {
  switch (d.dist) {
    case 'exponential':
    case 'lognormal':
      return d.mean;
    case 'fixed':
      return d.value;
    case 'uniform':
      return (d.min + d.max) / 2;
  }
}

/**
 * mulberry32: a tiny seeded PRNG, identical on every platform. The one copy used by the engine bench
 * workload, the golden-day generator and the engine's random-day test, so a seed means the same stream
 * everywhere. (The simulator uses xoshiro128** in `loadtest/sim/random.ts` for its longer streams.)
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

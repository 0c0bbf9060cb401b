/*
 * Seeded random numbers for the benchmarks: a figure that cannot be reproduced cannot be argued
 * about, and Math.random cannot be seeded.
 */

/** A source of uniform numbers in [0, 1). */
export type Random = () => number;

/**
 * mulberry32: a 32-bit seeded PRNG, small enough to live here and good enough for Monte Carlo
 * at this scale (period 2^32; one true rate draws under 10^8 numbers).
 */
export function mulberry32(seed: number): Random {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Poisson(mean): Knuth's product of uniforms, exact, for small means (the judgement bench's 5
 * and 45); a normal approximation above 60, where the product would take too long.
 */
export function poisson(random: Random, mean: number): number {
  if (mean > 60) {
    const u = Math.max(random(), 1e-12);
    const gauss = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
    return Math.max(0, Math.round(mean + Math.sqrt(mean) * gauss));
  }
  const limit = Math.exp(-mean);
  let count = 0;
  let product = random();
  while (product > limit) {
    count++;
    product *= random();
  }
  return count;
}

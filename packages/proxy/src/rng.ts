/**
 * Random sources for the proxy. Production uses Math.random; tests and simulations use a seeded generator so
 * that balancing, jitter and sampling are reproducible run to run.
 */
import type { Rng } from './types.ts';

export const defaultRng: Rng = Math.random;

/** Mulberry32: a tiny 32-bit generator, good enough for load balancing and jitter, and deterministic per seed. */
export function mulberry32(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t = (t + Math.imul(t ^ (t >>> 7), t | 61)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * Retry backoff as in Envoy: exponential growth from `baseIntervalMs`, capped at `maxIntervalMs`, with full jitter
 * (a uniform draw below the cap) so that clients retrying after the same failure spread out instead of hitting the
 * recovering upstream in lock-step.
 */
import type { Rng } from '../types.ts';

export interface Backoff {
  baseIntervalMs: number;
  maxIntervalMs: number;
}

/** The delay in ms before retry number `retryIndex` (0 for the first retry): uniform in [0, cap). */
export function backoffDelay(retryIndex: number, backoff: Backoff, rng: Rng): number {
  const exponent = Math.max(0, Math.floor(retryIndex));
  const cap = Math.min(backoff.maxIntervalMs, backoff.baseIntervalMs * 2 ** exponent);
  return rng() * cap;
}

/**
 * Weighted random balancing: no shared state between proxies, so no coordination and no herding, at the cost of
 * a looser spread than round robin over short windows. Cumulative weights are built once per host list so that
 * a pick is one random number and a binary search, and equal weights skip even that.
 */
import type { Balancer, EndpointState, PickContext, Rng } from '../types.ts';

export class RandomBalancer implements Balancer {
  readonly #hosts: readonly EndpointState[];
  readonly #rng: Rng;
  /** cumulative[i] = sum of the weights of hosts 0..i; empty when all weights are equal. */
  readonly #cumulative: Float64Array;
  readonly #total: number;

  constructor(hosts: readonly EndpointState[], rng: Rng) {
    this.#hosts = hosts;
    this.#rng = rng;
    const weights = hosts.map(weightOf);
    const uniform = weights.every((w) => w === weights[0]);
    this.#cumulative = new Float64Array(uniform ? 0 : hosts.length);
    let total = 0;
    for (let i = 0; i < weights.length; i++) {
      total += weights[i] ?? 1;
      if (!uniform) this.#cumulative[i] = total;
    }
    this.#total = total;
  }

  pick(_ctx: PickContext): EndpointState | undefined {
    const n = this.#hosts.length;
    if (n === 0) return undefined;
    const cumulative = this.#cumulative;
    if (cumulative.length === 0) return this.#hosts[Math.floor(this.#rng() * n)];
    const i = upperBound(cumulative, this.#rng() * this.#total);
    return this.#hosts[i < n ? i : n - 1];
  }
}

/** The first index whose value is greater than `x` (length when none is). */
export function upperBound(sorted: Float64Array, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as number) > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Weights are validated upstream (integers 1–128); anything else counts as 1 rather than starving a host. */
export function weightOf(host: EndpointState): number {
  const w = host.weight;
  return Number.isFinite(w) && w > 0 ? w : 1;
}

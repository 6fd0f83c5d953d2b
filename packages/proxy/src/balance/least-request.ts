/**
 * Least request by the power of choices: draw `choiceCount` distinct candidates at random and send to the one
 * with the fewest requests in flight per unit of weight. Two choices already avoid most hot spots while every
 * proxy decides alone, from its own counts, with no herding onto the single least loaded host (Mitzenmacher;
 * Envoy's default). `active` is read from the live endpoint state at every pick.
 *
 * Candidates are drawn without replacement, so with two hosts and two choices the busier one is never chosen.
 * With equal weights a partial Fisher–Yates shuffle over a reusable permutation draws them. With unequal
 * weights each draw is proportional to weight among the hosts not drawn yet: the random point is taken on the
 * cumulative weights with the drawn hosts' intervals cut out, then binary searched. Picks allocate nothing.
 */
import type { Balancer, EndpointState, PickContext, Rng } from '../types.ts';
import { upperBound, weightOf } from './random.ts';

export class LeastRequestBalancer implements Balancer {
  readonly #hosts: readonly EndpointState[];
  readonly #rng: Rng;
  readonly #choices: number;
  readonly #weights: Float64Array;
  /** Equal weights: a permutation of host indices, shuffled in place by each pick. */
  readonly #permutation: Int32Array;
  /** Unequal weights: cumulative[i] = sum of the weights of hosts 0..i; empty when weights are equal. */
  readonly #cumulative: Float64Array;
  readonly #total: number;
  /** Unequal weights: the hosts drawn so far in this pick, ascending by index. */
  readonly #drawn: Int32Array;

  constructor(hosts: readonly EndpointState[], choiceCount: number, rng: Rng) {
    this.#hosts = hosts;
    this.#rng = rng;
    this.#choices = Math.max(1, Math.min(Math.floor(choiceCount), hosts.length));
    this.#weights = Float64Array.from(hosts, weightOf);
    const uniform = this.#weights.every((w) => w === this.#weights[0]);
    this.#permutation = uniform ? Int32Array.from(hosts, (_, i) => i) : new Int32Array(0);
    this.#cumulative = new Float64Array(uniform ? 0 : hosts.length);
    let total = 0;
    for (let i = 0; i < hosts.length; i++) {
      total += this.#weights[i] as number;
      if (!uniform) this.#cumulative[i] = total;
    }
    this.#total = total;
    this.#drawn = new Int32Array(uniform ? 0 : this.#choices);
  }

  pick(_ctx: PickContext): EndpointState | undefined {
    const n = this.#hosts.length;
    if (n === 0) return undefined;
    if (n === 1) return this.#hosts[0];
    return this.#hosts[this.#cumulative.length === 0 ? this.#pickUniform(n) : this.#pickWeighted(n)];
  }

  #pickUniform(n: number): number {
    const permutation = this.#permutation;
    const hosts = this.#hosts;
    let best = -1;
    let bestLoad = Number.POSITIVE_INFINITY;
    for (let j = 0; j < this.#choices; j++) {
      const k = j + Math.floor(this.#rng() * (n - j));
      const candidate = permutation[k] as number;
      permutation[k] = permutation[j] as number;
      permutation[j] = candidate;
      const load = (hosts[candidate] as EndpointState).active;
      if (load < bestLoad) {
        best = candidate;
        bestLoad = load;
      }
    }
    return best;
  }

  #pickWeighted(n: number): number {
    const cumulative = this.#cumulative;
    const weights = this.#weights;
    const drawn = this.#drawn;
    const hosts = this.#hosts;
    let remaining = this.#total;
    let best = -1;
    let bestLoad = Number.POSITIVE_INFINITY;
    for (let j = 0; j < this.#choices; j++) {
      let point = this.#rng() * remaining;
      for (let d = 0; d < j; d++) {
        const excluded = drawn[d] as number;
        if (point < (cumulative[excluded] as number) - (weights[excluded] as number)) break;
        point += weights[excluded] as number;
      }
      let candidate = upperBound(cumulative, point);
      if (candidate >= n) candidate = n - 1;
      let at = j;
      while (at > 0 && (drawn[at - 1] as number) > candidate) {
        drawn[at] = drawn[at - 1] as number;
        at--;
      }
      drawn[at] = candidate;
      const weight = weights[candidate] as number;
      remaining -= weight;
      const load = (hosts[candidate] as EndpointState).active / weight;
      if (load < bestLoad) {
        best = candidate;
        bestLoad = load;
      }
    }
    return best;
  }
}

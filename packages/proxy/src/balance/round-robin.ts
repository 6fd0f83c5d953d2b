/**
 * Smooth weighted round robin, nginx's algorithm: every pick adds each host's weight to its running score,
 * takes the highest score and subtracts the total weight from it. Over any full cycle (total weight picks)
 * each host gets exactly its weight's share, and heavy hosts are interleaved with light ones instead of being
 * served in bursts (weights 5:1:1 give a a b a c a a).
 *
 * Hosts of equal weight always have scores that differ only by whole multiples of the total, so within a
 * weight class the winner is simply the next host in round-robin order. The scores are therefore kept per
 * weight class, not per host: a pick costs O(distinct weights), at most 128 with the schema's weights and
 * usually 1, whatever the number of hosts. The result is the exact nginx sequence, ties included (the host
 * listed first wins).
 *
 * Proxies that start together would all send their first requests to the same host; the cycle is therefore
 * entered at a random phase (simulated at build time, capped at PHASE_LIMIT steps for huge cycles).
 */
import type { Balancer, EndpointState, PickContext, Rng } from '../types.ts';
import { weightOf } from './random.ts';

const PHASE_LIMIT = 65_536;

export class RoundRobinBalancer implements Balancer {
  readonly #hosts: readonly EndpointState[];
  /** Weight classes, heaviest first. */
  readonly #classWeight: Float64Array;
  /** Host indices of class c are members[start[c]] .. members[start[c + 1] - 1], in host-list order. */
  readonly #start: Int32Array;
  readonly #members: Int32Array;
  /** Member of each class that the class would offer next. */
  readonly #next: Int32Array;
  /** Times each class went through all its members in the current cycle. */
  readonly #rounds: Float64Array;
  /** Sum of the (gcd-reduced) weights: the cycle length. */
  readonly #total: number;
  /** Picks made in the current cycle. */
  #step = 0;

  constructor(hosts: readonly EndpointState[], rng: Rng) {
    this.#hosts = hosts;
    const raw = hosts.map((h) => Math.max(1, Math.round(weightOf(h))));
    const divisor = raw.reduce(gcd, 0) || 1;
    const weights = raw.map((w) => w / divisor);
    const classes = [...new Set(weights)].sort((a, b) => b - a);
    this.#classWeight = Float64Array.from(classes);
    this.#start = new Int32Array(classes.length + 1);
    this.#members = new Int32Array(hosts.length);
    let offset = 0;
    for (let c = 0; c < classes.length; c++) {
      this.#start[c] = offset;
      for (let i = 0; i < weights.length; i++) if (weights[i] === classes[c]) this.#members[offset++] = i;
    }
    this.#start[classes.length] = offset;
    this.#next = new Int32Array(classes.length);
    this.#rounds = new Float64Array(classes.length);
    this.#total = weights.reduce((a, b) => a + b, 0);
    const phase = Math.floor(rng() * Math.min(this.#total, PHASE_LIMIT));
    for (let i = 0; i < phase; i++) this.#advance();
  }

  pick(_ctx: PickContext): EndpointState | undefined {
    if (this.#hosts.length === 0) return undefined;
    return this.#hosts[this.#advance()];
  }

  /**
   * One nginx step. After `step` increments a host of weight w that was picked c times scores
   * step * w - total * c; in each class the member with the fewest picks (first listed on ties) scores highest.
   */
  #advance(): number {
    const classWeight = this.#classWeight;
    const start = this.#start;
    const members = this.#members;
    const next = this.#next;
    const rounds = this.#rounds;
    const total = this.#total;
    const step = ++this.#step;
    let bestClass = 0;
    let bestScore = Number.NEGATIVE_INFINITY;
    let bestHost = Number.MAX_SAFE_INTEGER;
    for (let c = 0; c < classWeight.length; c++) {
      const score = step * (classWeight[c] as number) - total * (rounds[c] as number);
      const host = members[(start[c] as number) + (next[c] as number)] as number;
      if (score > bestScore || (score === bestScore && host < bestHost)) {
        bestClass = c;
        bestScore = score;
        bestHost = host;
      }
    }
    const size = (start[bestClass + 1] as number) - (start[bestClass] as number);
    const following = (next[bestClass] as number) + 1;
    if (following === size) {
      next[bestClass] = 0;
      rounds[bestClass] = (rounds[bestClass] as number) + 1;
    } else {
      next[bestClass] = following;
    }
    if (step === total) {
      this.#step = 0;
      next.fill(0);
      rounds.fill(0);
    }
    return bestHost;
  }
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

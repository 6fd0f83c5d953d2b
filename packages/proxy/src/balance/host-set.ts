/**
 * The endpoints of one cluster (or subset) as the balance stage sees them: the balancer only ever runs over
 * the usable ones, healthy and not ejected. Health checks and outlier detection change hosts rarely and picks
 * are constant, so the usable list and its balancer are built lazily and cached until `invalidate()`.
 *
 * Panic mode, as in Envoy: when too few hosts are usable (below `panicThresholdPercent` of all of them), the
 * survivors would be crushed by the whole load, and health information is often what is wrong; traffic is then
 * spread over all hosts instead. A threshold of 0 turns panic mode off.
 */
import type { LoadBalancer } from '@trellis/schema';
import type { Balancer, EndpointState, PickContext, Rng } from '../types.ts';
import { createBalancer } from './index.ts';

export class HostSet {
  readonly #hosts: readonly EndpointState[];
  readonly #config: LoadBalancer;
  readonly #panicThresholdPercent: number;
  readonly #rng: Rng;
  #usable: readonly EndpointState[] = [];
  #panic = false;
  /** Undefined while stale. */
  #balancer: Balancer | undefined;

  constructor(hosts: EndpointState[], config: LoadBalancer, panicThresholdPercent: number, rng: Rng) {
    this.#hosts = [...hosts];
    this.#config = config;
    this.#panicThresholdPercent = panicThresholdPercent;
    this.#rng = rng;
  }

  /** Every host of the set, usable or not. */
  get hosts(): readonly EndpointState[] {
    return this.#hosts;
  }

  /** The hosts that are healthy and not ejected, as of the last refresh. */
  get usable(): readonly EndpointState[] {
    this.#refresh();
    return this.#usable;
  }

  /** Whether picks currently ignore health and ejections. */
  get panic(): boolean {
    this.#refresh();
    return this.#panic;
  }

  /** Call after changing a host's health or ejection: the next pick recomputes the usable hosts. */
  invalidate(): void {
    this.#balancer = undefined;
  }

  pick(ctx: PickContext): EndpointState | undefined {
    return this.#refresh().pick(ctx);
  }

  /**
   * A host other than those in `exclude`, at random among the ones picks run over; undefined when there is none.
   * For retries when the balancer keeps choosing a host already tried: least request over two hosts always
   * returns the one with fewer requests in flight, which is the host that fails fast.
   */
  pickOther(exclude: readonly EndpointState[]): EndpointState | undefined {
    this.#refresh();
    const candidates = (this.#panic ? this.#hosts : this.#usable).filter((h) => !exclude.includes(h));
    if (candidates.length === 0) return undefined;
    return candidates[Math.floor(this.#rng() * candidates.length)];
  }

  #refresh(): Balancer {
    if (this.#balancer) return this.#balancer;
    const usable = this.#hosts.filter(isUsable);
    this.#usable = usable;
    this.#panic = usable.length * 100 < this.#panicThresholdPercent * this.#hosts.length;
    this.#balancer = createBalancer(this.#panic ? this.#hosts : usable, this.#config, this.#rng);
    return this.#balancer;
  }
}

export function isUsable(host: EndpointState): boolean {
  return host.health === 'healthy' && host.ejectedUntil === 0;
}

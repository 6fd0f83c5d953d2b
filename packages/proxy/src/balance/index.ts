/**
 * Load-balancing strategies, registered by name as in Envoy, so that the policy's `loadBalancer.type` selects
 * one and a new strategy is one entry here. A balancer is built for one list of hosts and rebuilt (by the
 * HostSet) when that list changes; picking allocates nothing.
 */
import type { LoadBalancer } from '@trellis/schema';
import type { Balancer, EndpointState, Rng } from '../types.ts';
import { LeastRequestBalancer } from './least-request.ts';
import { RandomBalancer } from './random.ts';
import { RingHashBalancer } from './ring-hash.ts';
import { RoundRobinBalancer } from './round-robin.ts';

export type BalancerFactory = (hosts: readonly EndpointState[], config: LoadBalancer, rng: Rng) => Balancer;

const DEFAULT_CHOICE_COUNT = 2;
const DEFAULT_MINIMUM_RING_SIZE = 1024;
const DEFAULT_MAXIMUM_RING_SIZE = 8_388_608;

export const BALANCERS: Record<LoadBalancer['type'], BalancerFactory> = {
  round_robin: (hosts, _config, rng) => new RoundRobinBalancer(hosts, rng),
  least_request: (hosts, config, rng) =>
    new LeastRequestBalancer(
      hosts,
      config.type === 'least_request' ? config.choiceCount : DEFAULT_CHOICE_COUNT,
      rng,
    ),
  random: (hosts, _config, rng) => new RandomBalancer(hosts, rng),
  ring_hash: (hosts, config, rng) =>
    new RingHashBalancer(
      hosts,
      config.type === 'ring_hash'
        ? config
        : { minimumRingSize: DEFAULT_MINIMUM_RING_SIZE, maximumRingSize: DEFAULT_MAXIMUM_RING_SIZE },
      rng,
    ),
};

export function createBalancer(hosts: readonly EndpointState[], config: LoadBalancer, rng: Rng): Balancer {
  return BALANCERS[config.type](hosts, config, rng);
}

export { LeastRequestBalancer } from './least-request.ts';
export { RandomBalancer } from './random.ts';
export { murmur3, RingHashBalancer, type RingHashOptions } from './ring-hash.ts';
export { RoundRobinBalancer } from './round-robin.ts';

/**
 * Consistent hashing on a Ketama-style ring, for session affinity: a request's hash key goes to the first host
 * point at or after the key's hash, so the same key keeps reaching the same host, and a change in membership
 * only moves the keys of the host that left or joined.
 *
 * That last property needs the points of a host to depend on nothing but the host. Envoy sizes each host's
 * share of a ring of about minimumRingSize points, so every host's point count shifts when another host comes
 * or goes (an ejection included) and keys move between hosts that both stayed. Here every weight unit gets
 * minimumRingSize points, hashed from the host key with the replica index as the murmur3 seed: the ring is
 * never smaller than minimumRingSize, a host's points are the same in every ring it is part of, and removing a
 * host moves exactly the keys it owned. The price is a ring of minimumRingSize × total weight points (1024 per
 * default-weight host), built once per host list. Only when that would exceed maximumRingSize do the points per
 * weight unit shrink to fit (every host keeps at least one point), and then membership changes also move some
 * keys between the other hosts; because a host's points are a prefix of the same replica sequence, the ones that
 * remain do not move.
 *
 * Lookups hash the key once (murmur3 over its UTF-16 code units, nothing allocated) and binary search the
 * sorted points. Without a hash key the lookup uses a random point, which picks hosts in proportion to their
 * share of the ring, as Envoy does.
 */
import type { Balancer, EndpointState, PickContext, Rng } from '../types.ts';
import { weightOf } from './random.ts';

const KEY_SEED = 0;
const RADIX_BITS = 11;
const RADIX_MASK = (1 << RADIX_BITS) - 1;

export interface RingHashOptions {
  minimumRingSize: number;
  maximumRingSize: number;
}

export class RingHashBalancer implements Balancer {
  readonly #hosts: readonly EndpointState[];
  readonly #rng: Rng;
  /** Point hashes, ascending. */
  readonly #points: Uint32Array;
  /** owners[i] is the index of the host that placed points[i]. */
  readonly #owners: Uint32Array;

  constructor(hosts: readonly EndpointState[], options: RingHashOptions, rng: Rng) {
    this.#hosts = hosts;
    this.#rng = rng;
    const weights = hosts.map(weightOf);
    const totalWeight = weights.reduce((a, b) => a + b, 0);
    const minimum = Math.max(1, options.minimumRingSize);
    const perWeight =
      minimum * totalWeight <= options.maximumRingSize ? minimum : options.maximumRingSize / totalWeight;
    const counts = weights.map((w) => Math.max(1, Math.floor(w * perWeight)));
    const size = counts.reduce((a, b) => a + b, 0);
    const points = new Uint32Array(size);
    const owners = new Uint32Array(size);
    let at = 0;
    for (let h = 0; h < hosts.length; h++) {
      const hasher = new ReplicaHasher((hosts[h] as EndpointState).key);
      const count = counts[h] as number;
      for (let replica = 0; replica < count; replica++) {
        points[at] = hasher.hash(replica);
        owners[at++] = h;
      }
    }
    [this.#points, this.#owners] = radixSort(points, owners);
  }

  /** Points on the ring. */
  get size(): number {
    return this.#points.length;
  }

  pick(ctx: PickContext): EndpointState | undefined {
    const points = this.#points;
    if (points.length === 0) return undefined;
    const hash =
      ctx.hashKey === undefined ? Math.floor(this.#rng() * 4_294_967_296) : murmur3(ctx.hashKey, KEY_SEED);
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((points[mid] as number) < hash) lo = mid + 1;
      else hi = mid;
    }
    return this.#hosts[this.#owners[lo === points.length ? 0 : lo] as number];
  }
}

/** Stable LSD radix sort of the points (three 11-bit digits), carrying their owners: equal points keep host order. */
function radixSort(points: Uint32Array, owners: Uint32Array): [Uint32Array, Uint32Array] {
  const n = points.length;
  let fromPoints = points;
  let fromOwners = owners;
  let toPoints: Uint32Array = new Uint32Array(n);
  let toOwners: Uint32Array = new Uint32Array(n);
  const offsets = new Uint32Array(RADIX_MASK + 1);
  for (let shift = 0; shift < 32; shift += RADIX_BITS) {
    offsets.fill(0);
    for (let i = 0; i < n; i++) {
      const digit = ((fromPoints[i] as number) >>> shift) & RADIX_MASK;
      offsets[digit] = (offsets[digit] as number) + 1;
    }
    let sum = 0;
    for (let d = 0; d <= RADIX_MASK; d++) {
      const c = offsets[d] as number;
      offsets[d] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const point = fromPoints[i] as number;
      const digit = (point >>> shift) & RADIX_MASK;
      const to = offsets[digit] as number;
      offsets[digit] = to + 1;
      toPoints[to] = point;
      toOwners[to] = fromOwners[i] as number;
    }
    [fromPoints, toPoints, fromOwners, toOwners] = [toPoints, fromPoints, toOwners, fromOwners];
  }
  return [fromPoints, fromOwners];
}

/**
 * murmur3(key, seed) for one key and many seeds: the mixing of the key's blocks does not depend on the seed,
 * so it is done once per host rather than once per point.
 */
class ReplicaHasher {
  readonly #blocks: Int32Array;
  readonly #tail: number;
  readonly #length: number;

  constructor(key: string) {
    this.#length = key.length;
    this.#blocks = new Int32Array(key.length >> 1);
    for (let b = 0; b < this.#blocks.length; b++) {
      this.#blocks[b] = mixBlock((key.charCodeAt(2 * b) & 0xffff) | (key.charCodeAt(2 * b + 1) << 16));
    }
    this.#tail = key.length & 1 ? mixBlock(key.charCodeAt(key.length - 1)) : 0;
  }

  hash(seed: number): number {
    const blocks = this.#blocks;
    let h = seed | 0;
    for (let b = 0; b < blocks.length; b++) {
      h ^= blocks[b] as number;
      h = (h << 13) | (h >>> 19);
      h = (Math.imul(h, 5) + 0xe6546b64) | 0;
    }
    return finish(h ^ this.#tail, this.#length);
  }
}

/**
 * MurmurHash3 (x86, 32-bit) of the string's UTF-16LE bytes, read straight from the code units: two code units
 * make a 4-byte block, so nothing is encoded or allocated.
 */
export function murmur3(key: string, seed: number): number {
  const length = key.length;
  let h = seed | 0;
  let i = 0;
  for (; i + 1 < length; i += 2) {
    h ^= mixBlock((key.charCodeAt(i) & 0xffff) | (key.charCodeAt(i + 1) << 16));
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < length) h ^= mixBlock(key.charCodeAt(i));
  return finish(h, length);
}

function mixBlock(block: number): number {
  const k = Math.imul(block, 0xcc9e2d51);
  return Math.imul((k << 15) | (k >>> 17), 0x1b873593);
}

function finish(state: number, length: number): number {
  let h = state ^ (length * 2);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

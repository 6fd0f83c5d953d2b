/** Endpoint fixtures and pick tallies shared by the balancer tests. */
import { type EndpointState, newEndpointState, type PickContext } from '../../src/types.ts';

export function endpoint(key: string, fields: Partial<Omit<EndpointState, 'key'>> = {}): EndpointState {
  return { ...newEndpointState('svc', `10.0.0.${key.length}`, 8080), key, ...fields };
}

/** Hosts named h0, h1, … with the given weights. */
export function weighted(...weights: number[]): EndpointState[] {
  return weights.map((weight, i) => endpoint(`h${i}`, { weight }));
}

/** Hosts named h0 … h(n-1), weight 1. */
export function hosts(n: number): EndpointState[] {
  return Array.from({ length: n }, (_, i) => endpoint(`h${i}`));
}

/** Picks `n` times and returns each host key's share of the picks (0–1); undefined picks count as 'none'. */
export function shares(
  picker: { pick(ctx: PickContext): EndpointState | undefined },
  n: number,
  ctx: PickContext = {},
): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const key = picker.pick(ctx)?.key ?? 'none';
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return new Map([...counts].map(([key, count]) => [key, count / n]));
}

/** Picks `n` times and returns the host keys in order. */
export function sequence(picker: { pick(ctx: PickContext): EndpointState | undefined }, n: number): string[] {
  return Array.from({ length: n }, () => picker.pick({})?.key ?? 'none');
}

/** A clock the test moves by hand. */
export function fakeClock(start = 1_000_000) {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
}

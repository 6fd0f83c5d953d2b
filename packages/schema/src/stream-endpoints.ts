/**
 * How a proxy applies an endpoints message, without zod: the proxy runs it on every endpoint change, and a built
 * sidecar loads zod only to validate (packages/proxy/src/schemas.ts).
 */
import type { z } from 'zod';
import type { ProxyEndpoint } from './proxy.ts';
import type { EndpointKey, EndpointsMessage } from './stream.ts';

/** The endpoints a proxy holds after applying an endpoints message to `endpoints`. */
export function applyEndpointsMessage(
  endpoints: readonly ProxyEndpoint[],
  message: Pick<z.infer<typeof EndpointsMessage>, 'services' | 'changes'>,
): ProxyEndpoint[] {
  const key = (service: string, e: EndpointKey) => `${service} ${e.address} ${e.port}`;
  const replaced = new Set(Object.keys(message.services));
  const dropped = new Set<string>();
  for (const [service, change] of Object.entries(message.changes)) {
    for (const e of [...change.remove, ...change.set]) dropped.add(key(service, e));
  }
  return [
    ...endpoints.filter((e) => !replaced.has(e.service) && !dropped.has(key(e.service, e))),
    ...Object.values(message.services).flat(),
    ...Object.values(message.changes).flatMap((c) => c.set),
  ];
}

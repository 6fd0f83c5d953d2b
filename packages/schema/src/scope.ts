/**
 * Which services a proxy is sent, in one place for the control plane (what it pushes) and the console (which
 * proxies a change reaches): a service that declares its `dependencies` gets those services and itself; one that
 * declares none gets the whole mesh.
 */

/** What scoping reads of a service. */
export interface ScopedService {
  name: string;
  dependencies?: readonly string[] | undefined;
}

/** The names of the services a proxy of `service` is sent; nothing for a service that does not exist. */
export function serviceScope(services: readonly ScopedService[], service: string): ReadonlySet<string> {
  const own = services.find((s) => s.name === service);
  // A proxy whose service was deleted is about to be closed; until then it is owed nothing, not the whole mesh.
  if (!own) return new Set();
  if (own.dependencies === undefined) return new Set(services.map((s) => s.name));
  return new Set([service, ...own.dependencies]);
}

/** The services whose proxies are sent a change to the rules of `target`, sorted by name. */
export function servicesReceiving(services: readonly ScopedService[], target: string): string[] {
  return services
    .filter((s) => serviceScope(services, s.name).has(target))
    .map((s) => s.name)
    .sort();
}

/**
 * The services whose proxies enforce an authorization policy for `destination` (a service, or "*" for all), sorted:
 * authorization is enforced by the destination's own inbound proxies only, whatever the services' dependencies.
 */
export function authorizationReceivers(services: readonly ScopedService[], destination: string): string[] {
  return services
    .filter((s) => destination === '*' || s.name === destination)
    .map((s) => s.name)
    .sort();
}

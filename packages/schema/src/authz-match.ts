/**
 * Authorization as the proxy evaluates it on every request: principals, and which policies apply to a service.
 * In a file without zod: a built sidecar loads zod only to validate (packages/proxy/src/schemas.ts).
 */
import { spiffeId } from './identity.ts';

const SPIFFE_EXACT = /^spiffe:\/\/[a-z0-9.-]{1,253}(\/[-A-Za-z0-9._~]+)*$/;
const SPIFFE_PREFIX = /^spiffe:\/\/([a-z0-9.-]{1,253}(\/[-A-Za-z0-9._~]+)*\/?[-A-Za-z0-9._~]*)?\*$/;
const SERVICE_PRINCIPAL = /^service:([a-z0-9]([-a-z0-9]*[a-z0-9])?)$/;

export const SERVICE_PRINCIPAL_PREFIX = 'service:';

/** True for the principal forms a rule may name. */
export function isPrincipal(value: string): boolean {
  if (value === '*') return true;
  if (value.length > 512) return false;
  if (SERVICE_PRINCIPAL.test(value)) return value.length <= SERVICE_PRINCIPAL_PREFIX.length + 63;
  return SPIFFE_EXACT.test(value) || SPIFFE_PREFIX.test(value);
}

/** `service:<name>` as the SPIFFE ID it stands for in `trustDomain`; every other principal as it is. */
export function expandPrincipal(principal: string, trustDomain: string): string {
  const m = SERVICE_PRINCIPAL.exec(principal);
  return m ? spiffeId(trustDomain, m[1] as string) : principal;
}

/** "*": every service of the mesh. */
export const MESH_WIDE = '*';

/** The authorization policies a proxy of `service` enforces: its own and the mesh-wide ones. */
export function appliesTo(policy: { destination: string }, service: string): boolean {
  return policy.destination === MESH_WIDE || policy.destination === service;
}

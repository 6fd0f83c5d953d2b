/**
 * Workload identity, as SPIFFE names it: `spiffe://<trust-domain>/ns/<namespace>/sa/<service>`, the form Istio
 * and Linkerd use, carried as the URI SAN of each proxy's certificate. Trellis has one namespace for now,
 * "default"; the name keeps room for more.
 */
export const DEFAULT_TRUST_DOMAIN = 'trellis.local';
export const DEFAULT_NAMESPACE = 'default';

export interface WorkloadIdentity {
  trustDomain: string;
  namespace: string;
  service: string;
}

export function spiffeId(trustDomain: string, service: string, namespace = DEFAULT_NAMESPACE): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${service}`;
}

const SPIFFE = /^spiffe:\/\/([a-z0-9.-]{1,253})\/ns\/([a-z0-9-]{1,63})\/sa\/([a-z0-9-]{1,63})$/;

/** The parts of a SPIFFE ID in Trellis's form; null for anything else. */
export function parseSpiffeId(uri: string): WorkloadIdentity | null {
  const m = SPIFFE.exec(uri);
  if (!m) return null;
  return { trustDomain: m[1] as string, namespace: m[2] as string, service: m[3] as string };
}

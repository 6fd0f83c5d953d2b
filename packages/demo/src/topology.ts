/**
 * The demo mesh's shape, in one place for `npm start` and the tests: the seeded example mesh
 * (apps/control/src/seed.ts) brought to life. service-a calls service-b, which runs v1 and v2 for the seeded 90/10
 * canary route; service-b calls service-c, which runs three instances, one of them flaky so that the seeded
 * retry-on-5xx route and outlier detection have something to do. The ingress gateway sits in front of service-a.
 */
import type { Flakiness } from './app.ts';

export interface InstanceSpec {
  /** The mesh service it is an instance of (must exist in the control plane). */
  service: string;
  /** Registered as the endpoint label `version`, which route subsets select on. */
  version: string;
  /** Unique in the mesh; names its proxy in GET /api/v1/proxies. */
  instance: string;
  /** The service its app calls, through its sidecar. */
  downstream?: string;
  flaky?: Flakiness;
  zone?: string;
}

export interface IngressSpec {
  /** The mesh service the gateway registers as. */
  service: string;
  instance: string;
  /** Where it sends every request. */
  target: string;
}

/** 20 % of requests fail with 500 and 10 % take 250 ms: well within the seeded routes' per-try timeouts. */
export const FLAKY: Flakiness = { errorPercent: 20, slowPercent: 10, slowMs: 250 };

export const DEMO_INSTANCES: InstanceSpec[] = [
  { service: 'service-a', version: 'v1', instance: 'a-1', downstream: 'service-b', zone: 'zone-1' },
  { service: 'service-b', version: 'v1', instance: 'b-v1-1', downstream: 'service-c', zone: 'zone-1' },
  { service: 'service-b', version: 'v2', instance: 'b-v2-1', downstream: 'service-c', zone: 'zone-2' },
  { service: 'service-c', version: 'v1', instance: 'c-1', zone: 'zone-1' },
  { service: 'service-c', version: 'v1', instance: 'c-2', zone: 'zone-2' },
  { service: 'service-c', version: 'v1', instance: 'c-3', zone: 'zone-1', flaky: FLAKY },
];

export const DEMO_INGRESS: IngressSpec = { service: 'ingress', instance: 'ingress-1', target: 'service-a' };

/**
 * The example mesh that a first run starts with: an ingress gateway in front of service-a, which calls service-b,
 * which calls service-c. service-b runs two versions and a route sends 10 % of its traffic to v2 (a canary);
 * service-c's calls are retried on 5xx and its policy ejects an instance after 3 consecutive 5xx, so the live demo
 * mesh (packages/demo, with one flaky service-c instance) shows retries and outlier detection at work.
 *
 * No endpoints: every instance registers its own through its proxy when it joins (the demo mesh does), so nothing
 * in the mesh points at addresses where nothing runs.
 */
import type { RouteRuleSpecInput, ServiceSpecInput, TrafficPolicySpecInput } from '@trellis/schema';
import { RouteRuleSpec, ServiceSpec, TrafficPolicySpec } from '@trellis/schema';
import { currentRevision, type StoreDeps } from './store/change.ts';
import { createPolicy } from './store/policies.ts';
import { createRoute } from './store/routes.ts';
import { createService } from './store/services.ts';

export const SEED_ACTOR = 'system:seed';

const services: ServiceSpecInput[] = [
  {
    name: 'ingress',
    port: 8080,
    labels: { tier: 'edge' },
    description: 'Ingress gateway: the edge proxy in front of service-a',
    dependencies: ['service-a'],
  },
  {
    name: 'service-a',
    port: 8080,
    labels: { tier: 'frontend' },
    description: 'Entry service; calls service-b',
    dependencies: ['service-b'],
  },
  {
    name: 'service-b',
    port: 8080,
    labels: { tier: 'backend' },
    description: 'Calls service-c; v1 and a v2 canary',
    dependencies: ['service-c'],
  },
  {
    name: 'service-c',
    port: 8080,
    labels: { tier: 'data' },
    description: 'Leaf service',
    dependencies: [],
  },
];

const routes: RouteRuleSpecInput[] = [
  {
    name: 'service-b-canary',
    service: 'service-b',
    destinations: [
      { subset: { version: 'v1' }, weight: 90 },
      { subset: { version: 'v2' }, weight: 10 },
    ],
    timeoutMs: 2000,
    retries: { attempts: 2, perTryTimeoutMs: 500, retryOn: ['connect-failure', 'reset', 'gateway-error'] },
  },
  {
    name: 'service-c-retries',
    service: 'service-c',
    destinations: [{ subset: {}, weight: 100 }],
    timeoutMs: 1500,
    retries: { attempts: 2, perTryTimeoutMs: 400, retryOn: ['5xx', 'connect-failure', 'reset'] },
  },
];

const policies: TrafficPolicySpecInput[] = [
  {
    name: 'service-c-defaults',
    service: 'service-c',
    loadBalancer: { type: 'least_request' },
    // Retries in flight at once: Envoy's default of 3 refuses most retries of the requests a dying instance fails
    // in its first half second at 100 req/s on a busy machine; the retry budget (20 % on top of the traffic) still
    // keeps a retry storm out. Requests in flight and waiting keep Envoy's defaults (1,024): a breaker is the last
    // guard, sized for the traffic. At 1,000 req/s a limit of 200 in flight sheds load whenever latency passes
    // 0.2 s for a moment, as it does on a busy machine when an instance dies and the others take its share.
    connectionPool: { maxConnections: 100, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 50 },
    // Up to two of service-c's three instances may be out at once: with Envoy's default of 10 %, one ejected
    // flaky instance would keep a dead one in service until its ejection ran out.
    outlierDetection: {
      consecutive5xx: 3,
      baseEjectionTimeMs: 10_000,
      maxEjectionTimeMs: 60_000,
      maxEjectionPercent: 67,
    },
    // With two of three ejected, one in three is healthy: Envoy's panic threshold of 50 % would then send traffic
    // to the ejected ones again (the dead one included), undoing the ejections the line above allows.
    panicThresholdPercent: 25,
  },
];

/** Seeds the example mesh if the mesh has never changed; returns whether it did. */
export async function seedExampleMesh(store: StoreDeps): Promise<boolean> {
  if ((await currentRevision(store.db)) > 0) return false;
  for (const s of services) await createService(store, SEED_ACTOR, ServiceSpec.parse(s));
  for (const r of routes) await createRoute(store, SEED_ACTOR, RouteRuleSpec.parse(r));
  for (const p of policies) await createPolicy(store, SEED_ACTOR, TrafficPolicySpec.parse(p));
  return true;
}

/**
 * The example mesh that a first run starts with: service-a calls service-b, which calls service-c. service-b
 * runs two versions and a route sends 10 % of its traffic to v2 (a canary); service-c has a traffic policy.
 */
import type {
  EndpointSpecInput,
  RouteRuleSpecInput,
  ServiceSpecInput,
  TrafficPolicySpecInput,
} from '@trellis/schema';
import { EndpointSpec, RouteRuleSpec, ServiceSpec, TrafficPolicySpec } from '@trellis/schema';
import { currentRevision, type StoreDeps } from './store/change.ts';
import { createEndpoint } from './store/endpoints.ts';
import { createPolicy } from './store/policies.ts';
import { createRoute } from './store/routes.ts';
import { createService } from './store/services.ts';

export const SEED_ACTOR = 'system:seed';

const services: ServiceSpecInput[] = [
  {
    name: 'service-a',
    port: 8080,
    labels: { tier: 'frontend' },
    description: 'Entry service; calls service-b',
  },
  {
    name: 'service-b',
    port: 8080,
    labels: { tier: 'backend' },
    description: 'Calls service-c; v1 and a v2 canary',
  },
  { name: 'service-c', port: 8080, labels: { tier: 'data' }, description: 'Leaf service' },
];

const endpoints: [string, EndpointSpecInput][] = [
  [
    'service-a',
    { address: '127.0.0.1', port: 9101, labels: { version: 'v1' }, zone: 'zone-1', source: 'static' },
  ],
  [
    'service-b',
    { address: '127.0.0.1', port: 9201, labels: { version: 'v1' }, zone: 'zone-1', source: 'static' },
  ],
  [
    'service-b',
    { address: '127.0.0.1', port: 9202, labels: { version: 'v2' }, zone: 'zone-2', source: 'static' },
  ],
  [
    'service-c',
    { address: '127.0.0.1', port: 9301, labels: { version: 'v1' }, zone: 'zone-1', source: 'static' },
  ],
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
];

const policies: TrafficPolicySpecInput[] = [
  {
    name: 'service-c-defaults',
    service: 'service-c',
    loadBalancer: { type: 'least_request' },
    connectionPool: { maxConnections: 100, maxPendingRequests: 100, maxRequests: 200 },
  },
];

/** Seeds the example mesh if the mesh has never changed; returns whether it did. */
export async function seedExampleMesh(store: StoreDeps): Promise<boolean> {
  if ((await currentRevision(store.db)) > 0) return false;
  for (const s of services) await createService(store, SEED_ACTOR, ServiceSpec.parse(s));
  for (const [service, e] of endpoints)
    await createEndpoint(store, SEED_ACTOR, service, EndpointSpec.parse(e));
  for (const r of routes) await createRoute(store, SEED_ACTOR, RouteRuleSpec.parse(r));
  for (const p of policies) await createPolicy(store, SEED_ACTOR, TrafficPolicySpec.parse(p));
  return true;
}

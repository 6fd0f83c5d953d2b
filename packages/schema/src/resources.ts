/**
 * Stored resources: a spec plus the metadata the control plane keeps (id, optimistic-concurrency version,
 * timestamps). A replace (PUT) carries the `version` the writer read; a stale version is refused with 409.
 */
import { z } from 'zod';
import { AuthorizationPolicySpec } from './authz.ts';
import { count, DnsLabel } from './common.ts';
import { EndpointSpec } from './endpoint.ts';
import { TrafficPolicySpec } from './policy.ts';
import { checkRouteRule, RouteRuleFields } from './route.ts';
import { ServiceSpec } from './service.ts';

export const ResourceVersion = count(1, 2_147_483_647);

export const ResourceMeta = z.strictObject({
  id: z.string(),
  version: ResourceVersion,
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});
export type ResourceMeta = z.infer<typeof ResourceMeta>;

export const Service = z.strictObject({ ...ServiceSpec.shape, ...ResourceMeta.shape });
export type Service = z.infer<typeof Service>;

export const Endpoint = z.strictObject({
  ...EndpointSpec.shape,
  ...ResourceMeta.shape,
  service: DnsLabel,
  lastSeen: z.iso.datetime(),
  /** When an API-registered endpoint expires unless a heartbeat renews it; null for other sources. */
  expiresAt: z.iso.datetime().nullable(),
});
export type Endpoint = z.infer<typeof Endpoint>;

export const RouteRule = z
  .strictObject({ ...RouteRuleFields.shape, ...ResourceMeta.shape })
  .superRefine(checkRouteRule);
export type RouteRule = z.infer<typeof RouteRule>;

export const TrafficPolicy = z.strictObject({ ...TrafficPolicySpec.shape, ...ResourceMeta.shape });
export type TrafficPolicy = z.infer<typeof TrafficPolicy>;

export const AuthorizationPolicy = z.strictObject({
  ...AuthorizationPolicySpec.shape,
  ...ResourceMeta.shape,
});
export type AuthorizationPolicy = z.infer<typeof AuthorizationPolicy>;

const versioned = { version: ResourceVersion };

/** PUT bodies: the full spec plus the version the writer read. */
export const ServiceReplace = z.strictObject({ ...ServiceSpec.shape, ...versioned });
export type ServiceReplace = z.infer<typeof ServiceReplace>;
export const EndpointReplace = z.strictObject({ ...EndpointSpec.shape, ...versioned });
export type EndpointReplace = z.infer<typeof EndpointReplace>;
export const RouteRuleReplace = z
  .strictObject({ ...RouteRuleFields.shape, ...versioned })
  .superRefine(checkRouteRule);
export const TrafficPolicyReplace = z.strictObject({ ...TrafficPolicySpec.shape, ...versioned });

export const AuthorizationPolicyReplace = z.strictObject({ ...AuthorizationPolicySpec.shape, ...versioned });

export const ResourceKind = z.enum([
  'service',
  'endpoint',
  'route',
  'policy',
  'authorization-policy',
  'mesh-settings',
]);
export type ResourceKind = z.infer<typeof ResourceKind>;

/** Rows to API resources: the shapes declared in packages/schema. Specs were validated on the way in. */
import {
  type AuthorizationPolicy,
  AuthorizationPolicySpec,
  type DnsDiscovery,
  type Endpoint,
  type EndpointHealth,
  type EndpointSource,
  type Labels,
  type Protocol,
  type RouteRule,
  RouteRuleSpec,
  type Service,
  type TrafficPolicy,
  TrafficPolicySpec,
} from '@trellis/schema';
import type {
  AuthorizationPolicy as AuthorizationPolicyRow,
  Endpoint as EndpointRow,
  RouteRule as RouteRuleRow,
  Service as ServiceRow,
  TrafficPolicy as TrafficPolicyRow,
} from '../../generated/prisma/client.ts';

function meta(row: { id: string; version: number; createdAt: Date; updatedAt: Date }) {
  return {
    id: row.id,
    version: row.version,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export function serviceFromRow(row: ServiceRow): Service {
  return {
    name: row.name,
    protocol: row.protocol as Protocol,
    port: row.port,
    labels: row.labels as Labels,
    description: row.description,
    ...(Array.isArray(row.dependencies) ? { dependencies: row.dependencies as string[] } : {}),
    ...(row.dns !== null && typeof row.dns === 'object' ? { dns: row.dns as unknown as DnsDiscovery } : {}),
    ...meta(row),
  };
}

export function endpointFromRow(row: EndpointRow, service: string): Endpoint {
  return {
    service,
    address: row.address,
    port: row.port,
    labels: row.labels as Labels,
    zone: row.zone,
    weight: row.weight,
    health: row.health as EndpointHealth,
    source: row.source as EndpointSource,
    ttlSeconds: row.ttlSeconds,
    lastSeen: row.lastSeen.toISOString(),
    expiresAt: row.expiresAt ? row.expiresAt.toISOString() : null,
    ...meta(row),
  };
}

type RouteSpecColumn = Omit<
  RouteRule,
  'name' | 'service' | 'priority' | 'id' | 'version' | 'createdAt' | 'updatedAt'
>;
type PolicySpecColumn = Omit<
  TrafficPolicy,
  'name' | 'service' | 'id' | 'version' | 'createdAt' | 'updatedAt'
>;

/** Splits a route into its columns and the JSON `spec` column. */
export function routeSpecColumn(route: RouteRuleSpec): RouteSpecColumn {
  const { name: _name, service: _service, priority: _priority, ...spec } = route;
  return spec;
}

/**
 * Stored specs are read back through the schema: fields come out in their declared order (jsonb does not keep
 * key order) and fields added to the schema since the row was written get their defaults.
 */
function normalise<T>(
  schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } },
  value: T,
): T {
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : value;
}

export function routeFromRow(row: RouteRuleRow, service: string): RouteRule {
  const spec = normalise(RouteRuleSpec, {
    name: row.name,
    service,
    priority: row.priority,
    ...(row.spec as RouteSpecColumn),
  });
  return { ...spec, ...meta(row) };
}

export function policySpecColumn(policy: TrafficPolicySpec): PolicySpecColumn {
  const { name: _name, service: _service, ...spec } = policy;
  return spec;
}

export function policyFromRow(row: TrafficPolicyRow, service: string): TrafficPolicy {
  const spec = normalise(TrafficPolicySpec, { name: row.name, service, ...(row.spec as PolicySpecColumn) });
  return { ...spec, ...meta(row) };
}

type AuthorizationSpecColumn = Omit<
  AuthorizationPolicy,
  'name' | 'destination' | 'id' | 'version' | 'createdAt' | 'updatedAt'
>;

export function authorizationSpecColumn(policy: AuthorizationPolicySpec): AuthorizationSpecColumn {
  const { name: _name, destination: _destination, ...spec } = policy;
  return spec;
}

export function authorizationFromRow(row: AuthorizationPolicyRow): AuthorizationPolicy {
  const spec = normalise(AuthorizationPolicySpec, {
    name: row.name,
    destination: row.destination,
    ...(row.spec as AuthorizationSpecColumn),
  });
  return { ...spec, ...meta(row) };
}

/**
 * The resource kinds a manifest can hold and how each maps onto the REST API: where it lives, which shared schema
 * validates its spec and its stored form, and the order `apply` writes them in (services first, since routes and
 * policies, traffic or authorization, refer to them).
 */
import {
  AuthorizationPolicy,
  AuthorizationPolicySpec,
  RouteRule,
  RouteRuleSpec,
  Service,
  ServiceSpec,
  TrafficPolicy,
  TrafficPolicySpec,
} from '@trellis/schema';
import type { z } from 'zod';

export const API_VERSION = 'trellis.dev/v1';

/** A spec as the API takes it: the name plus the kind's fields, after the schema's defaults. */
export type Spec = { name: string } & Record<string, unknown>;
/** A stored resource: the spec plus id, version and timestamps. */
export type Stored = Spec & { id: string; version: number; createdAt: string; updatedAt: string };

export interface Kind {
  kind: 'Service' | 'RouteRule' | 'TrafficPolicy' | 'AuthorizationPolicy';
  /** The prefix of `kind/name` in what the CLI prints, as kubectl prints `deployment/web`. */
  label: string;
  /** Collection path under /api/v1. */
  path: string;
  spec: z.ZodType<Spec>;
  stored: z.ZodType<Stored>;
  order: number;
}

export const KINDS: readonly Kind[] = [
  {
    kind: 'Service',
    label: 'service',
    path: '/services',
    spec: ServiceSpec as unknown as z.ZodType<Spec>,
    stored: Service as unknown as z.ZodType<Stored>,
    order: 0,
  },
  {
    kind: 'RouteRule',
    label: 'routerule',
    path: '/routes',
    spec: RouteRuleSpec as unknown as z.ZodType<Spec>,
    stored: RouteRule as unknown as z.ZodType<Stored>,
    order: 1,
  },
  {
    kind: 'TrafficPolicy',
    label: 'trafficpolicy',
    path: '/policies',
    spec: TrafficPolicySpec as unknown as z.ZodType<Spec>,
    stored: TrafficPolicy as unknown as z.ZodType<Stored>,
    order: 2,
  },
  {
    kind: 'AuthorizationPolicy',
    label: 'authorizationpolicy',
    path: '/authorization-policies',
    spec: AuthorizationPolicySpec as unknown as z.ZodType<Spec>,
    stored: AuthorizationPolicy as unknown as z.ZodType<Stored>,
    order: 3,
  },
];

export function kindNamed(kind: string): Kind | undefined {
  return KINDS.find((k) => k.kind === kind);
}

/** The spec of a stored resource, through the schema like a manifest's, so the two compare field by field. */
export function specOf(kind: Kind, stored: Stored): Spec {
  const { id: _id, version: _version, createdAt: _c, updatedAt: _u, ...spec } = stored;
  return kind.spec.parse(spec);
}

/** A manifest document for a spec: the form `apply` reads and `get -o yaml` writes. */
export function toManifest(kind: Kind, spec: Spec, version?: number): Record<string, unknown> {
  const { name, ...fields } = spec;
  return {
    apiVersion: API_VERSION,
    kind: kind.kind,
    metadata: version === undefined ? { name } : { name, version },
    spec: fields,
  };
}

/** JSON with object keys sorted, so that two specs compare equal whatever order their fields came in. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(
        Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      );
    }
    return v;
  });
}

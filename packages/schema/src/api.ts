/** Shapes of the REST API that are not resources themselves: pages, query parameters, revisions, audit entries. */
import { z } from 'zod';
import { count, DnsLabel, text } from './common.ts';
import {
  AuthorizationPolicy,
  Endpoint,
  ResourceKind,
  RouteRule,
  Service,
  TrafficPolicy,
} from './resources.ts';
import { MeshSettingsUpdate } from './settings.ts';

export const API_PREFIX = '/api/v1';

export const PageQuery = z.strictObject({
  limit: z.coerce
    .number({ error: 'must be a number' })
    .int({ error: 'must be an integer' })
    .min(1, { error: 'must be between 1 and 500' })
    .max(500, { error: 'must be between 1 and 500' })
    .default(100),
  cursor: text(512).optional(),
});
export type PageQuery = z.infer<typeof PageQuery>;

export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable() });
}
export type Page<T> = { items: T[]; nextCursor: string | null };

/**
 * The mesh configuration at one revision: services, routes and policies, what rollback restores. Endpoints are
 * runtime state (registrations, health) and travel in endpoint revisions, not here.
 */
export const MeshConfig = z.object({
  revision: count(0, 2_147_483_647),
  services: z.array(Service),
  routes: z.array(RouteRule),
  policies: z.array(TrafficPolicy),
  /** Left out by revisions stored before authorization policies existed (and by older builders): none. */
  authorizationPolicies: z.array(AuthorizationPolicy).optional(),
  /**
   * Left out by revisions stored before mesh settings existed, and `http` by those stored before it: a proxy is sent
   * DEFAULT_MESH_SETTINGS' (what the database then held), a rollback keeps the mesh's current ones.
   */
  settings: MeshSettingsUpdate.optional(),
});
export type MeshConfig = z.infer<typeof MeshConfig>;

/** The whole mesh at one revision: its configuration and its endpoints. */
export const MeshSnapshot = MeshConfig.extend({ endpoints: z.array(Endpoint) });
export type MeshSnapshot = z.infer<typeof MeshSnapshot>;

export const AuditAction = z.enum(['create', 'update', 'delete']);
export type AuditAction = z.infer<typeof AuditAction>;

/** "config": anything but endpoints changed, and the revision holds the whole mesh; "endpoints": only endpoints. */
export const RevisionKind = z.enum(['config', 'endpoints']);
export type RevisionKind = z.infer<typeof RevisionKind>;

export const RevisionSummary = z.object({
  revision: z.number().int(),
  createdAt: z.iso.datetime(),
  actor: z.string(),
  summary: z.string(),
  kind: RevisionKind,
});
export type RevisionSummary = z.infer<typeof RevisionSummary>;

/** The endpoint lists, after the change, of the services an "endpoints" revision touched. */
export const EndpointLists = z.record(z.string(), z.array(Endpoint));
export type EndpointLists = z.infer<typeof EndpointLists>;

export const Revision = RevisionSummary.extend({
  /** The mesh configuration as of this revision (config revisions). */
  snapshot: MeshConfig.nullable(),
  /** The endpoint lists the revision changed (endpoints revisions). */
  endpoints: EndpointLists.nullable(),
});
export type Revision = z.infer<typeof Revision>;

/** GET /revisions: newest first; `kind` narrows the list to config or endpoint revisions. */
export const RevisionListQuery = PageQuery.extend({ kind: RevisionKind.optional() });

/**
 * POST /revisions/:revision/rollback: the optional body. With `expectedRevision`, the rollback is refused (409) when
 * the mesh is no longer at that revision.
 */
export const RollbackRequest = z.strictObject({
  expectedRevision: count(0, 2_147_483_647).optional(),
});
export type RollbackRequest = z.infer<typeof RollbackRequest>;

/** The resources a config revision holds, as named in a rollback's list of changes. */
export const ConfigResourceKind = z.enum([
  'service',
  'route',
  'policy',
  'authorization-policy',
  'mesh-settings',
]);
export type ConfigResourceKind = z.infer<typeof ConfigResourceKind>;

/**
 * The answer of a rollback: the revision it created (null when the configuration already matched), the revision
 * whose configuration was restored, each resource it created, updated or deleted, and the services created after
 * that revision that it kept (they may have live endpoints and proxies).
 */
export const RollbackResult = z.object({
  revision: z.number().int().nullable(),
  restoredFrom: z.number().int(),
  changes: z.array(z.object({ kind: ConfigResourceKind, name: z.string(), action: AuditAction })),
  kept: z.array(z.string()),
});
export type RollbackResult = z.infer<typeof RollbackResult>;

export const AuditEntry = z.object({
  id: z.string(),
  revision: z.number().int(),
  at: z.iso.datetime(),
  actor: z.string(),
  action: AuditAction,
  kind: ResourceKind,
  resourceId: z.string(),
  resourceName: z.string(),
  before: z.unknown().nullable(),
  after: z.unknown().nullable(),
});
export type AuditEntry = z.infer<typeof AuditEntry>;

export const AuditQuery = PageQuery.extend({
  kind: ResourceKind.optional(),
  resourceName: text(253).optional(),
  revision: z.coerce.number().int().min(1).optional(),
});

export const ServiceNameParams = z.strictObject({ name: DnsLabel });

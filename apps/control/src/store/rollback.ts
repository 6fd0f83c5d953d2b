/**
 * Rollback: makes the mesh configuration what it was at an earlier revision, as one new revision (so it is
 * audited and pushed to the proxies like any other change, and can itself be rolled back).
 *
 * For an "endpoints" revision the configuration in force then is that of the latest config revision at or before
 * it. Route rules and traffic policies are restored exactly: created, updated or deleted to match. Services get
 * their configuration back, and those deleted since are recreated (without endpoints: instances register their
 * own); services created since are kept, because live instances and proxies may belong to them, and the answer
 * names them. Endpoints are never touched: they are runtime state, not configuration. The mesh settings are restored
 * whole (the mTLS mode and the path settings), as one "mesh-settings" change that needs an admin like a PUT.
 *
 * The operations run in an order that keeps every rule valid: rules that go are deleted first, then services are
 * recreated and restored, then rules are updated and created, each bound to a service that exists by then.
 */

import {
  type AuditAction,
  AuthorizationPolicySpec,
  type ConfigResourceKind,
  MeshConfig,
  type MeshSettingsUpdate,
  type RollbackResult,
  RouteRuleSpec,
  type Service,
  ServiceSpec,
  subsetKey,
  TrafficPolicySpec,
} from '@trellis/schema';
import type { z } from 'zod';
import type { Service as ServiceRow } from '../../generated/prisma/client.ts';
import { TrellisError, validationError } from '../errors.ts';
import { type ChangeContext, change, json, nullableJson, type StoreDeps } from './change.ts';
import { notFound, sameSpec, unknownReference } from './common.ts';
import {
  authorizationFromRow,
  authorizationSpecColumn,
  policyFromRow,
  policySpecColumn,
  routeFromRow,
  routeSpecColumn,
  serviceFromRow,
} from './convert.ts';
import { writeSettings } from './settings.ts';

type Spec<S extends z.ZodType> = z.output<S>;

interface TargetConfig {
  services: Spec<typeof ServiceSpec>[];
  routes: Spec<typeof RouteRuleSpec>[];
  policies: Spec<typeof TrafficPolicySpec>[];
  authorizationPolicies: Spec<typeof AuthorizationPolicySpec>[];
  /**
   * Absent in revisions stored before mesh settings existed: the current ones are kept; so is the current `http`
   * when a revision stored before it leaves it out (writeSettings).
   */
  settings?: MeshSettingsUpdate;
}

const EMPTY: TargetConfig = { services: [], routes: [], policies: [], authorizationPolicies: [] };

function withoutMeta(resource: object): Record<string, unknown> {
  const { id: _i, version: _v, createdAt: _c, updatedAt: _u, ...rest } = resource as Record<string, unknown>;
  return rest;
}

/**
 * A stored configuration read back through today's schemas, so fields added since get their defaults. A stored
 * snapshot that today's schemas refuse cannot be restored; the answer says which of its fields.
 */
function parseTarget(revision: number, snapshot: unknown): TargetConfig {
  const config = MeshConfig.safeParse(snapshot);
  if (!config.success) throw validationError(config.error, ['snapshot']);
  const each = <S extends z.ZodType>(schema: S, items: object[], field: string): Spec<S>[] =>
    items.map((item, i) => {
      const parsed = schema.safeParse(withoutMeta(item));
      if (!parsed.success) {
        const error = validationError(parsed.error, ['snapshot', field, i]);
        throw new TrellisError(
          'TRELLIS_ERR_VALIDATION',
          `revision ${revision} cannot be restored: ${error.message}`,
          { errors: error.errors ?? [] },
        );
      }
      return parsed.data as Spec<S>;
    });
  return {
    services: each(ServiceSpec, config.data.services, 'services'),
    routes: each(RouteRuleSpec, config.data.routes, 'routes'),
    policies: each(TrafficPolicySpec, config.data.policies, 'policies'),
    authorizationPolicies: each(
      AuthorizationPolicySpec,
      config.data.authorizationPolicies ?? [],
      'authorizationPolicies',
    ),
    ...(config.data.settings ? { settings: config.data.settings } : {}),
  };
}

/** The configuration in force at `revision`: its own for a config revision, else the latest config before it. */
async function configAt(deps: StoreDeps, revision: number): Promise<TargetConfig> {
  const row = await deps.db.revision.findUnique({
    where: { revision },
    select: { kind: true, snapshot: true },
  });
  if (!row) throw notFound('revision', revision);
  if (row.kind === 'config') return parseTarget(revision, row.snapshot);
  const config = await deps.db.revision.findFirst({
    where: { kind: 'config', revision: { lt: revision } },
    orderBy: { revision: 'desc' },
    select: { revision: true, snapshot: true },
  });
  return config ? parseTarget(config.revision, config.snapshot) : EMPTY;
}

function serviceColumns(spec: Spec<typeof ServiceSpec>) {
  return {
    protocol: spec.protocol,
    port: spec.port,
    labels: json(spec.labels),
    description: spec.description,
    dependencies: nullableJson(spec.dependencies),
    dns: nullableJson(spec.dns),
  };
}

/** Applies the changes inside `ctx`, recording each; returns what changed and which services were kept. */
async function restore(ctx: ChangeContext, target: TargetConfig) {
  const { tx } = ctx;
  const changes: RollbackResult['changes'] = [];
  const note = (
    kind: ConfigResourceKind,
    action: AuditAction,
    row: { id: string; name: string },
    before: unknown,
    after: unknown,
  ) => {
    changes.push({ kind, name: row.name, action });
    ctx.record({ action, kind, resourceId: row.id, resourceName: row.name, before, after });
  };

  const serviceRows = await tx.service.findMany();
  const routeRows = await tx.routeRule.findMany({ include: { service: { select: { name: true } } } });
  const policyRows = await tx.trafficPolicy.findMany({ include: { service: { select: { name: true } } } });
  const targetRoutes = new Map(target.routes.map((r) => [r.name, r]));
  const targetPolicies = new Map(target.policies.map((p) => [p.name, p]));
  const targetServices = new Set(target.services.map((s) => s.name));

  // 1. Rules that did not exist then go first, so nothing still refers to what changes below.
  for (const row of routeRows) {
    if (targetRoutes.has(row.name)) continue;
    await tx.routeRule.delete({ where: { id: row.id } });
    note('route', 'delete', row, routeFromRow(row, row.service.name), null);
  }
  for (const row of policyRows) {
    if (targetPolicies.has(row.name)) continue;
    await tx.trafficPolicy.delete({ where: { id: row.id } });
    note('policy', 'delete', row, policyFromRow(row, row.service.name), null);
  }
  // Policies that move to another service or subset give up their slot first: two of them may swap slots, and
  // one policy per service and subset holds at every step.
  for (const row of policyRows) {
    const spec = targetPolicies.get(row.name);
    if (!spec) continue;
    if (spec.service !== row.service.name || subsetKey(spec.subset ?? {}) !== row.subsetKey) {
      await tx.trafficPolicy.update({ where: { id: row.id }, data: { subsetKey: `rollback:${row.id}` } });
    }
  }

  // 2. Services: recreate those deleted since, restore the configuration of the others, keep the newer ones.
  const services = new Map<string, ServiceRow>(serviceRows.map((s) => [s.name, s]));
  for (const spec of target.services) {
    const row = services.get(spec.name);
    if (!row) {
      const created = await tx.service.create({
        data: {
          id: ctx.newId(),
          name: spec.name,
          ...serviceColumns(spec),
          createdAt: ctx.now,
          updatedAt: ctx.now,
        },
      });
      services.set(spec.name, created);
      note('service', 'create', created, null, serviceFromRow(created));
      continue;
    }
    const before: Service = serviceFromRow(row);
    if (sameSpec(before, spec)) continue;
    const updated = await tx.service.update({
      where: { id: row.id },
      data: { ...serviceColumns(spec), version: row.version + 1, updatedAt: ctx.now },
    });
    services.set(spec.name, updated);
    note('service', 'update', updated, before, serviceFromRow(updated));
  }
  const kept = serviceRows
    .map((s) => s.name)
    .filter((name) => !targetServices.has(name))
    .sort();

  const serviceFor = (name: string, kind: 'route' | 'policy'): ServiceRow => {
    const service = services.get(name);
    if (!service) throw unknownReference('service', `service "${name}" does not exist`);
    if (kind === 'route' && service.protocol !== 'http') {
      throw unknownReference(
        'service',
        `service "${name}" speaks ${service.protocol}; route rules apply to http services`,
      );
    }
    return service;
  };

  // 3. Rules: update those that exist, create those deleted since.
  const routesNow = new Map(routeRows.map((r) => [r.name, r]));
  for (const spec of target.routes) {
    const service = serviceFor(spec.service, 'route');
    const data = { serviceId: service.id, priority: spec.priority, spec: json(routeSpecColumn(spec)) };
    const row = routesNow.get(spec.name);
    if (!row) {
      const created = await tx.routeRule.create({
        data: { id: ctx.newId(), name: spec.name, ...data, createdAt: ctx.now, updatedAt: ctx.now },
      });
      note('route', 'create', created, null, routeFromRow(created, service.name));
      continue;
    }
    const before = routeFromRow(row, row.service.name);
    if (sameSpec(before, spec)) continue;
    const updated = await tx.routeRule.update({
      where: { id: row.id },
      data: { ...data, version: row.version + 1, updatedAt: ctx.now },
    });
    note('route', 'update', updated, before, routeFromRow(updated, service.name));
  }
  const policiesNow = new Map(policyRows.map((p) => [p.name, p]));
  for (const spec of target.policies) {
    const service = serviceFor(spec.service, 'policy');
    const data = {
      serviceId: service.id,
      subsetKey: subsetKey(spec.subset ?? {}),
      spec: json(policySpecColumn(spec)),
    };
    const row = policiesNow.get(spec.name);
    if (!row) {
      const created = await tx.trafficPolicy.create({
        data: { id: ctx.newId(), name: spec.name, ...data, createdAt: ctx.now, updatedAt: ctx.now },
      });
      note('policy', 'create', created, null, policyFromRow(created, service.name));
      continue;
    }
    const before = policyFromRow(row, row.service.name);
    if (sameSpec(before, spec)) continue;
    const updated = await tx.trafficPolicy.update({
      where: { id: row.id },
      data: { ...data, version: row.version + 1, updatedAt: ctx.now },
    });
    note('policy', 'update', updated, before, policyFromRow(updated, service.name));
  }
  // Authorization policies name their destination by text (no foreign key): restored exactly, in any order.
  const authorizationRows = await tx.authorizationPolicy.findMany();
  const targetAuthorization = new Map(target.authorizationPolicies.map((p) => [p.name, p]));
  for (const row of authorizationRows) {
    if (targetAuthorization.has(row.name)) continue;
    await tx.authorizationPolicy.delete({ where: { id: row.id } });
    note('authorization-policy', 'delete', row, authorizationFromRow(row), null);
  }
  const authorizationNow = new Map(authorizationRows.map((p) => [p.name, p]));
  for (const spec of target.authorizationPolicies) {
    const data = { destination: spec.destination, spec: json(authorizationSpecColumn(spec)) };
    const row = authorizationNow.get(spec.name);
    if (!row) {
      const created = await tx.authorizationPolicy.create({
        data: { id: ctx.newId(), name: spec.name, ...data, createdAt: ctx.now, updatedAt: ctx.now },
      });
      note('authorization-policy', 'create', created, null, authorizationFromRow(created));
      continue;
    }
    const before = authorizationFromRow(row);
    if (sameSpec(before, spec)) continue;
    const updated = await tx.authorizationPolicy.update({
      where: { id: row.id },
      data: { ...data, version: row.version + 1, updatedAt: ctx.now },
    });
    note('authorization-policy', 'update', updated, before, authorizationFromRow(updated));
  }
  if (target.settings && (await writeSettings(ctx, target.settings)).changed) {
    changes.push({ kind: 'mesh-settings', name: 'mesh', action: 'update' });
  }
  return { changes, kept };
}

/**
 * Restores the configuration of `revision` as one new revision. With `expectedRevision`, refuses (409) when the
 * mesh is no longer at that revision, checked inside the transaction that would make the change. `authorize` is
 * shown the changes before they are committed; what it throws undoes them all.
 */
export async function rollback(
  deps: StoreDeps,
  actor: string,
  revision: number,
  expectedRevision?: number,
  authorize: (changes: RollbackResult['changes']) => void = () => {},
): Promise<RollbackResult> {
  const target = await configAt(deps, revision);
  const result = await change(
    deps,
    actor,
    async (ctx) => {
      const current = ctx.revision - 1;
      if (expectedRevision !== undefined && expectedRevision !== current) {
        throw new TrellisError(
          'TRELLIS_ERR_REVISION_CONFLICT',
          `the mesh is at revision ${current}, not ${expectedRevision}: it changed since you looked; review the difference again before rolling back`,
          { errors: [{ path: 'expectedRevision', message: `the mesh is at revision ${current}` }] },
        );
      }
      const restored = await restore(ctx, target);
      authorize(restored.changes);
      return restored;
    },
    { summary: `rollback to revision ${revision}` },
  );
  return { revision: result.revision, restoredFrom: revision, ...result.value };
}

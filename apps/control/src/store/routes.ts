/** Route rules: HTTP only, each bound to an existing http service. */
import type { Page, PageQuery, RouteRule, RouteRuleSpec } from '@trellis/schema';
import type { Service as ServiceRow } from '../../generated/prisma/client.ts';
import { TrellisError } from '../errors.ts';
import { type ChangeContext, change, json, type StoreDeps } from './change.ts';
import { assertFound, assertVersion, nameMustMatch, sameSpec, unknownReference } from './common.ts';
import { routeFromRow, routeSpecColumn } from './convert.ts';
import { decodeCursor, paginate } from './paging.ts';

type RouteReplace = RouteRuleSpec & { version: number };

async function targetService(ctx: ChangeContext, name: string): Promise<ServiceRow> {
  const service = await ctx.tx.service.findUnique({ where: { name } });
  if (!service) throw unknownReference('service', `service "${name}" does not exist`);
  if (service.protocol !== 'http') {
    throw unknownReference(
      'service',
      `service "${name}" speaks ${service.protocol}; route rules apply to http services`,
    );
  }
  return service;
}

export async function listRoutes(
  deps: StoreDeps,
  query: PageQuery & { service?: string },
): Promise<Page<RouteRule>> {
  const after = decodeCursor(query.cursor, 'string');
  const rows = await deps.db.routeRule.findMany({
    where: {
      ...(after === undefined ? {} : { name: { gt: after } }),
      ...(query.service === undefined ? {} : { service: { name: query.service } }),
    },
    include: { service: { select: { name: true } } },
    orderBy: { name: 'asc' },
    take: query.limit + 1,
  });
  return paginate(
    rows.map((r) => routeFromRow(r, r.service.name)),
    query.limit,
    (r) => r.name,
  );
}

export async function getRoute(deps: StoreDeps, name: string): Promise<RouteRule> {
  const row = assertFound(
    await deps.db.routeRule.findUnique({ where: { name }, include: { service: { select: { name: true } } } }),
    'route',
    name,
  );
  return routeFromRow(row, row.service.name);
}

export async function createRoute(deps: StoreDeps, actor: string, spec: RouteRuleSpec) {
  return change(deps, actor, async (ctx) => {
    if (await ctx.tx.routeRule.findUnique({ where: { name: spec.name } })) {
      throw new TrellisError('TRELLIS_ERR_ALREADY_EXISTS', `route "${spec.name}" already exists`, {
        errors: [{ path: 'name', message: 'is already taken' }],
      });
    }
    const service = await targetService(ctx, spec.service);
    const row = await ctx.tx.routeRule.create({
      data: {
        id: ctx.newId(),
        name: spec.name,
        serviceId: service.id,
        priority: spec.priority,
        spec: json(routeSpecColumn(spec)),
        createdAt: ctx.now,
        updatedAt: ctx.now,
      },
    });
    const after = routeFromRow(row, service.name);
    ctx.record({
      action: 'create',
      kind: 'route',
      resourceId: row.id,
      resourceName: row.name,
      before: null,
      after,
    });
    return after;
  });
}

export async function replaceRoute(deps: StoreDeps, actor: string, name: string, body: RouteReplace) {
  nameMustMatch(name, body.name);
  const { version, ...spec } = body;
  return change(deps, actor, async (ctx) => {
    const row = assertFound(
      await ctx.tx.routeRule.findUnique({
        where: { name },
        include: { service: { select: { name: true } } },
      }),
      'route',
      name,
    );
    const before = routeFromRow(row, row.service.name);
    assertVersion('route', name, version, row, before);
    if (sameSpec(before, spec)) return before;
    const service = await targetService(ctx, spec.service);
    const updated = await ctx.tx.routeRule.update({
      where: { id: row.id },
      data: {
        serviceId: service.id,
        priority: spec.priority,
        spec: json(routeSpecColumn(spec)),
        version: row.version + 1,
        updatedAt: ctx.now,
      },
    });
    const after = routeFromRow(updated, service.name);
    ctx.record({ action: 'update', kind: 'route', resourceId: row.id, resourceName: name, before, after });
    return after;
  });
}

export async function deleteRoute(deps: StoreDeps, actor: string, name: string, version?: number) {
  return change(deps, actor, async (ctx) => {
    const row = assertFound(
      await ctx.tx.routeRule.findUnique({
        where: { name },
        include: { service: { select: { name: true } } },
      }),
      'route',
      name,
    );
    const before = routeFromRow(row, row.service.name);
    assertVersion('route', name, version, row, before);
    await ctx.tx.routeRule.delete({ where: { id: row.id } });
    ctx.record({
      action: 'delete',
      kind: 'route',
      resourceId: row.id,
      resourceName: name,
      before,
      after: null,
    });
    return before;
  });
}

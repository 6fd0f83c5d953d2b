/** Services: stored by name; deleting one removes its endpoints but is refused while rules refer to it. */
import type { Page, PageQuery, Service, ServiceReplace, ServiceSpec } from '@trellis/schema';
import { TrellisError } from '../errors.ts';
import { change, nullableJson, type StoreDeps } from './change.ts';
import { assertFound, assertVersion, nameMustMatch, sameSpec } from './common.ts';
import { endpointFromRow, serviceFromRow } from './convert.ts';
import { decodeCursor, paginate } from './paging.ts';

/**
 * Column values for a spec; a spec without dependencies clears them (SQL NULL: the service sees every service),
 * one without dns turns DNS discovery off.
 */
function serviceData(spec: ServiceSpec) {
  return { ...spec, dependencies: nullableJson(spec.dependencies), dns: nullableJson(spec.dns) };
}

export async function listServices(deps: StoreDeps, query: PageQuery): Promise<Page<Service>> {
  const after = decodeCursor(query.cursor, 'string');
  const rows = await deps.db.service.findMany({
    where: after === undefined ? {} : { name: { gt: after } },
    orderBy: { name: 'asc' },
    take: query.limit + 1,
  });
  return paginate(rows.map(serviceFromRow), query.limit, (s) => s.name);
}

export async function getService(deps: StoreDeps, name: string): Promise<Service> {
  return serviceFromRow(assertFound(await deps.db.service.findUnique({ where: { name } }), 'service', name));
}

export async function createService(deps: StoreDeps, actor: string, spec: ServiceSpec) {
  return change(deps, actor, async (ctx) => {
    if (await ctx.tx.service.findUnique({ where: { name: spec.name } })) {
      throw new TrellisError('TRELLIS_ERR_ALREADY_EXISTS', `service "${spec.name}" already exists`, {
        errors: [{ path: 'name', message: 'is already taken' }],
      });
    }
    const row = await ctx.tx.service.create({
      data: { id: ctx.newId(), ...serviceData(spec), createdAt: ctx.now, updatedAt: ctx.now },
    });
    const service = serviceFromRow(row);
    ctx.record({
      action: 'create',
      kind: 'service',
      resourceId: row.id,
      resourceName: row.name,
      before: null,
      after: service,
    });
    return service;
  });
}

export async function replaceService(deps: StoreDeps, actor: string, name: string, body: ServiceReplace) {
  nameMustMatch(name, body.name);
  const { version, ...spec } = body;
  return change(deps, actor, async (ctx) => {
    const row = assertFound(await ctx.tx.service.findUnique({ where: { name } }), 'service', name);
    const before = serviceFromRow(row);
    assertVersion('service', name, version, row, before);
    if (sameSpec(before, spec)) return before;
    if (spec.protocol === 'tcp' && row.protocol !== 'tcp') {
      const routes = await ctx.tx.routeRule.findMany({
        where: { serviceId: row.id },
        select: { name: true },
      });
      if (routes.length > 0) {
        throw new TrellisError(
          'TRELLIS_ERR_IN_USE',
          `service "${name}" has HTTP route rules (${routes.map((r) => r.name).join(', ')}); delete them before switching it to tcp`,
          {
            errors: [
              { path: 'protocol', message: 'cannot become tcp while HTTP route rules apply to the service' },
            ],
          },
        );
      }
    }
    const updated = await ctx.tx.service.update({
      where: { id: row.id },
      data: { ...serviceData(spec), version: row.version + 1, updatedAt: ctx.now },
    });
    const after = serviceFromRow(updated);
    ctx.record({ action: 'update', kind: 'service', resourceId: row.id, resourceName: name, before, after });
    return after;
  });
}

export async function deleteService(deps: StoreDeps, actor: string, name: string, version?: number) {
  return change(deps, actor, async (ctx) => {
    const row = assertFound(await ctx.tx.service.findUnique({ where: { name } }), 'service', name);
    const before = serviceFromRow(row);
    assertVersion('service', name, version, row, before);
    const [routes, policies] = await Promise.all([
      ctx.tx.routeRule.findMany({ where: { serviceId: row.id }, select: { name: true } }),
      ctx.tx.trafficPolicy.findMany({ where: { serviceId: row.id }, select: { name: true } }),
    ]);
    if (routes.length + policies.length > 0) {
      const users = [...routes.map((r) => `route ${r.name}`), ...policies.map((p) => `policy ${p.name}`)];
      throw new TrellisError(
        'TRELLIS_ERR_IN_USE',
        `service "${name}" is referred to by ${users.join(', ')}; delete those first`,
      );
    }
    const endpoints = await ctx.tx.endpoint.findMany({ where: { serviceId: row.id } });
    for (const e of endpoints) {
      ctx.record({
        action: 'delete',
        kind: 'endpoint',
        resourceId: e.id,
        resourceName: `${name}/${e.address}:${e.port}`,
        before: endpointFromRow(e, name),
        after: null,
      });
    }
    await ctx.tx.service.delete({ where: { id: row.id } });
    ctx.record({
      action: 'delete',
      kind: 'service',
      resourceId: row.id,
      resourceName: name,
      before,
      after: null,
    });
    return before;
  });
}

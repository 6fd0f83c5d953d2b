/** Traffic policies: at most one per service and subset (a missing subset means the whole service). */
import {
  type Page,
  type PageQuery,
  subsetKey,
  type TrafficPolicy,
  type TrafficPolicySpec,
} from '@trellis/schema';
import { TrellisError } from '../errors.ts';
import { type ChangeContext, change, json, type StoreDeps } from './change.ts';
import { assertFound, assertVersion, nameMustMatch, sameSpec, unknownReference } from './common.ts';
import { policyFromRow, policySpecColumn } from './convert.ts';
import { decodeCursor, paginate } from './paging.ts';

type PolicyReplace = TrafficPolicySpec & { version: number };

const withService = { service: { select: { name: true } } } as const;

async function resolveTarget(ctx: ChangeContext, spec: TrafficPolicySpec, self?: string) {
  const service = await ctx.tx.service.findUnique({ where: { name: spec.service } });
  if (!service) throw unknownReference('service', `service "${spec.service}" does not exist`);
  const key = subsetKey(spec.subset ?? {});
  const clash = await ctx.tx.trafficPolicy.findFirst({
    where: { serviceId: service.id, subsetKey: key, ...(self ? { id: { not: self } } : {}) },
  });
  if (clash) {
    const target = key === '' ? `service "${spec.service}"` : `subset {${key}} of service "${spec.service}"`;
    throw new TrellisError(
      'TRELLIS_ERR_ALREADY_EXISTS',
      `policy "${clash.name}" already applies to ${target}`,
      {
        errors: [
          { path: key === '' ? 'service' : 'subset', message: `already covered by policy "${clash.name}"` },
        ],
      },
    );
  }
  return { service, key };
}

export async function listPolicies(
  deps: StoreDeps,
  query: PageQuery & { service?: string },
): Promise<Page<TrafficPolicy>> {
  const after = decodeCursor(query.cursor, 'string');
  const rows = await deps.db.trafficPolicy.findMany({
    where: {
      ...(after === undefined ? {} : { name: { gt: after } }),
      ...(query.service === undefined ? {} : { service: { name: query.service } }),
    },
    include: withService,
    orderBy: { name: 'asc' },
    take: query.limit + 1,
  });
  return paginate(
    rows.map((r) => policyFromRow(r, r.service.name)),
    query.limit,
    (p) => p.name,
  );
}

export async function getPolicy(deps: StoreDeps, name: string): Promise<TrafficPolicy> {
  const row = assertFound(
    await deps.db.trafficPolicy.findUnique({ where: { name }, include: withService }),
    'policy',
    name,
  );
  return policyFromRow(row, row.service.name);
}

export async function createPolicy(deps: StoreDeps, actor: string, spec: TrafficPolicySpec) {
  return change(deps, actor, async (ctx) => {
    if (await ctx.tx.trafficPolicy.findUnique({ where: { name: spec.name } })) {
      throw new TrellisError('TRELLIS_ERR_ALREADY_EXISTS', `policy "${spec.name}" already exists`, {
        errors: [{ path: 'name', message: 'is already taken' }],
      });
    }
    const { service, key } = await resolveTarget(ctx, spec);
    const row = await ctx.tx.trafficPolicy.create({
      data: {
        id: ctx.newId(),
        name: spec.name,
        serviceId: service.id,
        subsetKey: key,
        spec: json(policySpecColumn(spec)),
        createdAt: ctx.now,
        updatedAt: ctx.now,
      },
    });
    const after = policyFromRow(row, service.name);
    ctx.record({
      action: 'create',
      kind: 'policy',
      resourceId: row.id,
      resourceName: row.name,
      before: null,
      after,
    });
    return after;
  });
}

export async function replacePolicy(deps: StoreDeps, actor: string, name: string, body: PolicyReplace) {
  nameMustMatch(name, body.name);
  const { version, ...spec } = body;
  return change(deps, actor, async (ctx) => {
    const row = assertFound(
      await ctx.tx.trafficPolicy.findUnique({ where: { name }, include: withService }),
      'policy',
      name,
    );
    const before = policyFromRow(row, row.service.name);
    assertVersion('policy', name, version, row, before);
    if (sameSpec(before, spec)) return before;
    const { service, key } = await resolveTarget(ctx, spec, row.id);
    const updated = await ctx.tx.trafficPolicy.update({
      where: { id: row.id },
      data: {
        serviceId: service.id,
        subsetKey: key,
        spec: json(policySpecColumn(spec)),
        version: row.version + 1,
        updatedAt: ctx.now,
      },
    });
    const after = policyFromRow(updated, service.name);
    ctx.record({ action: 'update', kind: 'policy', resourceId: row.id, resourceName: name, before, after });
    return after;
  });
}

export async function deletePolicy(deps: StoreDeps, actor: string, name: string, version?: number) {
  return change(deps, actor, async (ctx) => {
    const row = assertFound(
      await ctx.tx.trafficPolicy.findUnique({ where: { name }, include: withService }),
      'policy',
      name,
    );
    const before = policyFromRow(row, row.service.name);
    assertVersion('policy', name, version, row, before);
    await ctx.tx.trafficPolicy.delete({ where: { id: row.id } });
    ctx.record({
      action: 'delete',
      kind: 'policy',
      resourceId: row.id,
      resourceName: name,
      before,
      after: null,
    });
    return before;
  });
}

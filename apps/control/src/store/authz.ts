/**
 * Authorization policies: stored, versioned and audited like traffic policies, so that every write is a mesh
 * revision (pushed to the proxies that enforce it, shown in history, restored by rollback). The destination must be
 * "*" or a service that exists when the policy is written.
 */
import {
  type AuthorizationPolicy,
  type AuthorizationPolicySpec,
  MESH_WIDE,
  type Page,
  type PageQuery,
} from '@trellis/schema';
import { TrellisError } from '../errors.ts';
import { type ChangeContext, change, json, type StoreDeps } from './change.ts';
import { assertFound, assertVersion, nameMustMatch, sameSpec, unknownReference } from './common.ts';
import { authorizationFromRow, authorizationSpecColumn } from './convert.ts';
import { decodeCursor, paginate } from './paging.ts';

const KIND = 'authorization-policy';

type AuthorizationReplace = AuthorizationPolicySpec & { version: number };

async function assertDestination(ctx: ChangeContext, spec: AuthorizationPolicySpec): Promise<void> {
  if (spec.destination === MESH_WIDE) return;
  const service = await ctx.tx.service.findUnique({ where: { name: spec.destination } });
  if (!service) {
    throw unknownReference(
      'destination',
      `service "${spec.destination}" does not exist (use "*" for every service)`,
    );
  }
}

export async function listAuthorizationPolicies(
  deps: StoreDeps,
  query: PageQuery & { destination?: string },
): Promise<Page<AuthorizationPolicy>> {
  const after = decodeCursor(query.cursor, 'string');
  const rows = await deps.db.authorizationPolicy.findMany({
    where: {
      ...(after === undefined ? {} : { name: { gt: after } }),
      ...(query.destination === undefined ? {} : { destination: query.destination }),
    },
    orderBy: { name: 'asc' },
    take: query.limit + 1,
  });
  return paginate(rows.map(authorizationFromRow), query.limit, (p) => p.name);
}

export async function getAuthorizationPolicy(deps: StoreDeps, name: string): Promise<AuthorizationPolicy> {
  const row = assertFound(await deps.db.authorizationPolicy.findUnique({ where: { name } }), KIND, name);
  return authorizationFromRow(row);
}

export async function createAuthorizationPolicy(
  deps: StoreDeps,
  actor: string,
  spec: AuthorizationPolicySpec,
) {
  return change(deps, actor, async (ctx) => {
    if (await ctx.tx.authorizationPolicy.findUnique({ where: { name: spec.name } })) {
      throw new TrellisError(
        'TRELLIS_ERR_ALREADY_EXISTS',
        `authorization policy "${spec.name}" already exists`,
        { errors: [{ path: 'name', message: 'is already taken' }] },
      );
    }
    await assertDestination(ctx, spec);
    const row = await ctx.tx.authorizationPolicy.create({
      data: {
        id: ctx.newId(),
        name: spec.name,
        destination: spec.destination,
        spec: json(authorizationSpecColumn(spec)),
        createdAt: ctx.now,
        updatedAt: ctx.now,
      },
    });
    const after = authorizationFromRow(row);
    ctx.record({
      action: 'create',
      kind: KIND,
      resourceId: row.id,
      resourceName: row.name,
      before: null,
      after,
    });
    return after;
  });
}

export async function replaceAuthorizationPolicy(
  deps: StoreDeps,
  actor: string,
  name: string,
  body: AuthorizationReplace,
) {
  nameMustMatch(name, body.name);
  const { version, ...spec } = body;
  return change(deps, actor, async (ctx) => {
    const row = assertFound(await ctx.tx.authorizationPolicy.findUnique({ where: { name } }), KIND, name);
    const before = authorizationFromRow(row);
    assertVersion(KIND, name, version, row, before);
    if (sameSpec(before, spec)) return before;
    await assertDestination(ctx, spec);
    const updated = await ctx.tx.authorizationPolicy.update({
      where: { id: row.id },
      data: {
        destination: spec.destination,
        spec: json(authorizationSpecColumn(spec)),
        version: row.version + 1,
        updatedAt: ctx.now,
      },
    });
    const after = authorizationFromRow(updated);
    ctx.record({ action: 'update', kind: KIND, resourceId: row.id, resourceName: name, before, after });
    return after;
  });
}

export async function deleteAuthorizationPolicy(
  deps: StoreDeps,
  actor: string,
  name: string,
  version?: number,
) {
  return change(deps, actor, async (ctx) => {
    const row = assertFound(await ctx.tx.authorizationPolicy.findUnique({ where: { name } }), KIND, name);
    const before = authorizationFromRow(row);
    assertVersion(KIND, name, version, row, before);
    await ctx.tx.authorizationPolicy.delete({ where: { id: row.id } });
    ctx.record({ action: 'delete', kind: KIND, resourceId: row.id, resourceName: name, before, after: null });
    return before;
  });
}

/**
 * Endpoints of a service. API-registered endpoints expire `ttlSeconds` after their last heartbeat, like a
 * Consul TTL check; heartbeats only move lastSeen/expiresAt (no revision), expiry removes the endpoint (a revision).
 */
import type { Endpoint, EndpointReplace, EndpointSpec, Page, PageQuery } from '@trellis/schema';
import type { Endpoint as EndpointRow } from '../../generated/prisma/client.ts';
import { TrellisError } from '../errors.ts';
import { type ChangeContext, change, type StoreDeps, type Tx } from './change.ts';
import { assertVersion, notFound, sameSpec } from './common.ts';
import { endpointFromRow } from './convert.ts';
import { decodeCursor, paginate } from './paging.ts';

export const TTL_ACTOR = 'system:endpoint-ttl';

function expiry(spec: Pick<EndpointSpec, 'source' | 'ttlSeconds'>, now: Date): Date | null {
  return spec.source === 'api' ? new Date(now.getTime() + spec.ttlSeconds * 1000) : null;
}

/** The audit name of an endpoint: `service/address:port` (IPv6 in brackets). */
export function endpointName(service: string, e: { address: string; port: number }): string {
  return `${service}/${e.address.includes(':') ? `[${e.address}]` : e.address}:${e.port}`;
}

/** A new endpoint row for `spec` in the change in progress (to create, alone or in a batch). */
export function newEndpointRow(
  ctx: ChangeContext,
  serviceId: string,
  spec: EndpointSpec,
  owner: string | null = null,
): EndpointRow & Pick<EndpointSpec, 'labels'> {
  return {
    id: ctx.newId(),
    serviceId,
    ...spec,
    lastSeen: ctx.now,
    expiresAt: expiry(spec, ctx.now),
    version: 1,
    createdAt: ctx.now,
    updatedAt: ctx.now,
    owner,
  };
}

/** True when `spec` is what endpoint `current` already holds (no write, no revision needed). */
export function sameEndpointSpec(current: Endpoint, spec: EndpointSpec): boolean {
  const { service: _s, lastSeen: _l, expiresAt: _e, ...currentSpec } = current;
  return sameSpec(currentSpec, spec);
}

/** Rewrites endpoint `row` with `spec` in the change in progress, as a new version seen now. */
export function updateEndpointRow(
  ctx: ChangeContext,
  row: EndpointRow,
  spec: EndpointSpec,
  owner?: string,
): Promise<EndpointRow> {
  return ctx.tx.endpoint.update({
    where: { id: row.id },
    data: {
      ...spec,
      ...(owner === undefined ? {} : { owner }),
      lastSeen: ctx.now,
      expiresAt: expiry(spec, ctx.now),
      version: row.version + 1,
      updatedAt: ctx.now,
    },
  });
}

async function serviceId(db: Pick<Tx, 'service'>, service: string): Promise<string> {
  const row = await db.service.findUnique({ where: { name: service }, select: { id: true } });
  if (!row) throw notFound('service', service);
  return row.id;
}

async function findEndpoint(
  db: Pick<Tx, 'service' | 'endpoint'>,
  service: string,
  id: string,
): Promise<EndpointRow> {
  const sid = await serviceId(db, service);
  const row = await db.endpoint.findFirst({ where: { id, serviceId: sid } });
  if (!row) throw notFound('endpoint', `${service}/${id}`);
  return row;
}

/** Records an endpoint change in the audit log of the change in progress. */
export function auditEndpoint(
  ctx: ChangeContext,
  action: 'create' | 'update' | 'delete',
  row: { id: string; address: string; port: number },
  service: string,
  before: unknown,
  after: unknown,
  actor?: string,
): void {
  ctx.record({
    action,
    kind: 'endpoint',
    resourceId: row.id,
    resourceName: endpointName(service, row),
    before,
    after,
    service,
    ...(actor === undefined ? {} : { actor }),
  });
}

export async function listEndpoints(
  deps: StoreDeps,
  service: string,
  query: PageQuery,
): Promise<Page<Endpoint>> {
  const sid = await serviceId(deps.db, service);
  const after = decodeCursor(query.cursor, 'string');
  const rows = await deps.db.endpoint.findMany({
    where: after === undefined ? { serviceId: sid } : { serviceId: sid, id: { gt: after } },
    orderBy: { id: 'asc' },
    take: query.limit + 1,
  });
  return paginate(
    rows.map((r) => endpointFromRow(r, service)),
    query.limit,
    (e) => e.id,
  );
}

export async function getEndpoint(deps: StoreDeps, service: string, id: string): Promise<Endpoint> {
  return endpointFromRow(await findEndpoint(deps.db, service, id), service);
}

async function assertAddressFree(
  ctx: ChangeContext,
  sid: string,
  service: string,
  spec: EndpointSpec,
  self?: string,
) {
  const clash = await ctx.tx.endpoint.findFirst({
    where: { serviceId: sid, address: spec.address, port: spec.port, ...(self ? { id: { not: self } } : {}) },
  });
  if (clash) {
    throw new TrellisError(
      'TRELLIS_ERR_ALREADY_EXISTS',
      `service "${service}" already has an endpoint at ${endpointName(service, spec)} (id ${clash.id})`,
      { errors: [{ path: 'address', message: 'this address and port are already registered' }] },
    );
  }
}

export async function createEndpoint(deps: StoreDeps, actor: string, service: string, spec: EndpointSpec) {
  return change(deps, actor, async (ctx) => {
    const sid = await serviceId(ctx.tx, service);
    await assertAddressFree(ctx, sid, service, spec);
    const row = await ctx.tx.endpoint.create({ data: newEndpointRow(ctx, sid, spec) });
    const after = endpointFromRow(row, service);
    auditEndpoint(ctx, 'create', row, service, null, after);
    return after;
  });
}

export async function replaceEndpoint(
  deps: StoreDeps,
  actor: string,
  service: string,
  id: string,
  body: EndpointReplace,
) {
  const { version, ...spec } = body;
  return change(deps, actor, async (ctx) => {
    const row = await findEndpoint(ctx.tx, service, id);
    const before = endpointFromRow(row, service);
    assertVersion('endpoint', `${service}/${id}`, version, row, before);
    if (sameEndpointSpec(before, spec)) return before;
    await assertAddressFree(ctx, row.serviceId, service, spec, row.id);
    const updated = await updateEndpointRow(ctx, row, spec);
    const after = endpointFromRow(updated, service);
    auditEndpoint(ctx, 'update', row, service, before, after);
    return after;
  });
}

export async function deleteEndpoint(
  deps: StoreDeps,
  actor: string,
  service: string,
  id: string,
  version?: number,
) {
  return change(deps, actor, async (ctx) => {
    const row = await findEndpoint(ctx.tx, service, id);
    const before = endpointFromRow(row, service);
    assertVersion('endpoint', `${service}/${id}`, version, row, before);
    await ctx.tx.endpoint.delete({ where: { id: row.id } });
    auditEndpoint(ctx, 'delete', row, service, before, null);
    return before;
  });
}

/** Renews an endpoint's TTL. An endpoint already past its expiry is gone and must register again. */
export async function heartbeatEndpoint(deps: StoreDeps, service: string, id: string): Promise<Endpoint> {
  const now = deps.clock();
  const row = await findEndpoint(deps.db, service, id);
  const expiresAt = expiry({ source: row.source as EndpointSpec['source'], ttlSeconds: row.ttlSeconds }, now);
  // Conditional on not having expired, so a heartbeat cannot revive an endpoint the reaper is removing.
  const { count } = await deps.db.endpoint.updateMany({
    where: { id: row.id, OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] },
    data: { lastSeen: now, expiresAt },
  });
  if (count === 0) throw notFound('endpoint', `${service}/${id}`);
  return endpointFromRow({ ...row, lastSeen: now, expiresAt }, service);
}

/** Removes every endpoint whose TTL has run out, in one revision. Returns how many went. */
export async function reapExpiredEndpoints(deps: StoreDeps): Promise<number> {
  const now = deps.clock();
  const due = await deps.db.endpoint.count({ where: { expiresAt: { lte: now } } });
  if (due === 0) return 0;
  const result = await change(deps, TTL_ACTOR, async (ctx) => {
    const expired = await ctx.tx.endpoint.findMany({
      where: { expiresAt: { lte: now } },
      include: { service: { select: { name: true } } },
    });
    let removed = 0;
    for (const row of expired) {
      // Re-checked at delete time: a heartbeat that committed meanwhile keeps the endpoint.
      const { count } = await ctx.tx.endpoint.deleteMany({ where: { id: row.id, expiresAt: { lte: now } } });
      if (count === 0) continue;
      removed += 1;
      auditEndpoint(ctx, 'delete', row, row.service.name, endpointFromRow(row, row.service.name), null);
    }
    return removed;
  });
  return result.value;
}

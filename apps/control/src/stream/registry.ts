/**
 * Endpoints that proxies register for themselves over the stream (source "proxy"), written through `change` so
 * each registration, health change and removal is a normal audited revision.
 *
 * Liveness is kept in the database, not in timers: while a proxy is connected, the control plane holding its
 * stream refreshes the endpoint's `lastSeen` (no revision) well within the grace period. Any control-plane process
 * then sweeps proxy endpoints that nobody has refreshed: unhealthy after the grace period, removed after the TTL.
 * So a proxy that reconnects to another control-plane process keeps its endpoint, and endpoints of proxies whose
 * control plane died are still swept by the survivors.
 */
import {
  DEFAULT_ENDPOINT_TTL_SECONDS,
  type Endpoint,
  type EndpointSpec,
  type ProxyIdentity,
} from '@trellis/schema';
import type { Prisma } from '../db/client.ts';
import { change, currentRevision, type StoreDeps } from '../store/change.ts';
import { notFound, sameSpec } from '../store/common.ts';
import { endpointFromRow } from '../store/convert.ts';
import { auditEndpoint } from '../store/endpoints.ts';

/** The audit actor for endpoint health changes and removals decided by proxy liveness. */
export const LIVENESS_ACTOR = 'system:proxy-liveness';

/** The audit actor for a proxy's own registration. */
export function proxyActor(node: Pick<ProxyIdentity, 'service' | 'instance'>): string {
  return `proxy:${node.service}/${node.instance}`;
}

export interface Registration {
  endpoint: Endpoint;
  /** The mesh revision that includes this registration (the new one, or the current one if nothing changed). */
  revision: number;
}

/**
 * Creates or updates the proxy's endpoint at its address and port, healthy and with the labels and zone it
 * announced; weight and TTL set by an operator are kept. An endpoint already registered at that address by other
 * means is taken over (the proxy in front of the instance is the better authority on it).
 * Throws TRELLIS_ERR_NOT_FOUND when the service does not exist.
 */
export async function registerProxyEndpoint(deps: StoreDeps, node: ProxyIdentity): Promise<Registration> {
  const result = await change(deps, proxyActor(node), async (ctx) => {
    const service = await ctx.tx.service.findUnique({ where: { name: node.service }, select: { id: true } });
    if (!service) throw notFound('service', node.service);
    const row = await ctx.tx.endpoint.findUnique({
      where: { serviceId_address_port: { serviceId: service.id, address: node.address, port: node.port } },
    });
    const spec: EndpointSpec = {
      address: node.address,
      port: node.port,
      labels: node.labels,
      zone: node.zone,
      weight: row?.weight ?? 1,
      health: 'healthy',
      source: 'proxy',
      ttlSeconds: row?.ttlSeconds ?? DEFAULT_ENDPOINT_TTL_SECONDS,
    };
    if (row) {
      const before = endpointFromRow(row, node.service);
      const { service: _s, lastSeen: _l, expiresAt: _e, ...beforeSpec } = before;
      if (sameSpec(beforeSpec, spec)) return before;
      const updated = await ctx.tx.endpoint.update({
        where: { id: row.id },
        data: { ...spec, lastSeen: ctx.now, expiresAt: null, version: row.version + 1, updatedAt: ctx.now },
      });
      const after = endpointFromRow(updated, node.service);
      auditEndpoint(ctx, 'update', row, node.service, before, after);
      return after;
    }
    const created = await ctx.tx.endpoint.create({
      data: {
        id: ctx.newId(),
        serviceId: service.id,
        ...spec,
        lastSeen: ctx.now,
        expiresAt: null,
        createdAt: ctx.now,
        updatedAt: ctx.now,
      },
    });
    const after = endpointFromRow(created, node.service);
    auditEndpoint(ctx, 'create', created, node.service, null, after);
    return after;
  });
  if (result.revision !== null) return { endpoint: result.value, revision: result.revision };
  // Unchanged: no revision, but the proxy was just seen.
  const now = deps.clock();
  await deps.db.endpoint.updateMany({ where: { id: result.value.id }, data: { lastSeen: now } });
  return {
    endpoint: { ...result.value, lastSeen: now.toISOString() },
    revision: await currentRevision(deps.db),
  };
}

/**
 * Marks connected proxies' endpoints as seen now (no revision). Returns the ids among them that are gone or
 * unhealthy, for the caller to register again.
 */
export async function touchProxyEndpoints(deps: StoreDeps, ids: readonly string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const now = deps.clock();
  await deps.db.endpoint.updateMany({ where: { id: { in: [...ids] } }, data: { lastSeen: now } });
  const rows = await deps.db.endpoint.findMany({
    where: { id: { in: [...ids] }, health: { not: 'unhealthy' } },
    select: { id: true },
  });
  const fine = new Set(rows.map((r) => r.id));
  return ids.filter((id) => !fine.has(id));
}

export interface SweepOptions {
  graceMs: number;
  ttlMs: number;
  /** Endpoints of proxies connected to this process: never swept here. */
  keep: ReadonlySet<string>;
}

/**
 * Marks proxy endpoints not seen for `graceMs` unhealthy and removes those not seen for `ttlMs`, all in one
 * revision (none when there is nothing to do). Conditions are re-checked row by row inside the transaction, so a
 * refresh committed meanwhile (by any process) wins.
 */
export async function sweepProxyEndpoints(
  deps: StoreDeps,
  options: SweepOptions,
): Promise<{ unhealthy: number; removed: number }> {
  const now = deps.clock();
  const graceCut = new Date(now.getTime() - options.graceMs);
  const ttlCut = new Date(now.getTime() - options.ttlMs);
  const where: Prisma.EndpointWhereInput = {
    source: 'proxy',
    ...(options.keep.size > 0 ? { id: { notIn: [...options.keep] } } : {}),
    OR: [{ lastSeen: { lte: ttlCut } }, { health: 'healthy', lastSeen: { lte: graceCut } }],
  };
  const due = await deps.db.endpoint.count({ where });
  if (due === 0) return { unhealthy: 0, removed: 0 };
  const result = await change(deps, LIVENESS_ACTOR, async (ctx) => {
    const rows = await ctx.tx.endpoint.findMany({ where, include: { service: { select: { name: true } } } });
    let unhealthy = 0;
    let removed = 0;
    for (const row of rows) {
      const service = row.service.name;
      const before = endpointFromRow(row, service);
      if (row.lastSeen.getTime() <= ttlCut.getTime()) {
        const { count } = await ctx.tx.endpoint.deleteMany({
          where: { id: row.id, source: 'proxy', lastSeen: { lte: ttlCut } },
        });
        if (count === 0) continue;
        removed += 1;
        auditEndpoint(ctx, 'delete', row, service, before, null);
      } else {
        const { count } = await ctx.tx.endpoint.updateMany({
          where: { id: row.id, source: 'proxy', health: 'healthy', lastSeen: { lte: graceCut } },
          data: { health: 'unhealthy', version: { increment: 1 }, updatedAt: ctx.now },
        });
        if (count === 0) continue;
        unhealthy += 1;
        auditEndpoint(ctx, 'update', row, service, before, {
          ...before,
          health: 'unhealthy',
          version: row.version + 1,
          updatedAt: ctx.now.toISOString(),
        });
      }
    }
    return { unhealthy, removed };
  });
  return result.value;
}

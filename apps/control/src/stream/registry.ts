/**
 * Endpoints that proxies register for themselves over the stream (source "proxy"), written through `change` so
 * each registration, health change and removal is a normal audited revision.
 *
 * Liveness is kept in the database, not in timers: while a proxy is connected, the control plane holding its
 * stream refreshes the endpoint's `lastSeen` (no revision) well within the grace period. Any control-plane process
 * then sweeps proxy endpoints that nobody has refreshed: unhealthy after the grace period, removed after the TTL.
 * So a proxy that reconnects to another control-plane process keeps its endpoint, and endpoints of proxies whose
 * control plane died are still swept by the survivors.
 *
 * Each endpoint a proxy registers records its owner (`<service>/<instance>`). Another instance cannot take over
 * an address while its owner is alive (seen within the live window and not unhealthy), nor mark it unhealthy by
 * leaving: an address changes hands only once its owner has gone.
 */
import {
  DEFAULT_ENDPOINT_TTL_SECONDS,
  type Endpoint,
  type EndpointSpec,
  type ProxyIdentity,
} from '@trellis/schema';
import type { Endpoint as EndpointRow } from '../../generated/prisma/client.ts';
import type { Prisma } from '../db/client.ts';
import { TrellisError } from '../errors.ts';
import { change, currentRevision, type StoreDeps } from '../store/change.ts';
import { notFound } from '../store/common.ts';
import { endpointFromRow } from '../store/convert.ts';
import { auditEndpoint, newEndpointRow, sameEndpointSpec, updateEndpointRow } from '../store/endpoints.ts';

/** The audit actor for endpoint health changes and removals decided by proxy liveness. */
export const LIVENESS_ACTOR = 'system:proxy-liveness';

/** The audit actor for a proxy's own registration. */
export function proxyActor(node: Pick<ProxyIdentity, 'service' | 'instance'>): string {
  return `proxy:${node.service}/${node.instance}`;
}

export interface RegisterOptions {
  /** An owner seen this recently (and not unhealthy) is alive: its address cannot be taken. Default 10 s. */
  liveMs?: number;
}

const DEFAULT_LIVE_MS = 10_000;

export interface Registration {
  endpoint: Endpoint;
  /** The mesh revision that includes this registration (the new one, or the current one if nothing changed). */
  revision: number;
}

/** The revision actor when one revision registers several proxies (each audit entry names its proxy). */
export const REGISTRATION_ACTOR = 'system:proxy-registration';

/**
 * Creates or updates each proxy's endpoint at its address and port, healthy and with the labels and zone it
 * announced; weight, TTL and a `draining` health set by an operator are kept. An endpoint already registered at
 * that address by other means is taken over (the proxy in front of the instance is the better authority on it).
 *
 * All of `nodes` go into one revision with a fixed number of queries, whatever their count: a reconnect storm
 * of thousands of proxies then costs a few transactions, not thousands of serialised ones. The result has one
 * entry per node, in order: its registration, or TRELLIS_ERR_NOT_FOUND when its service does not exist (that
 * node only; the others are registered).
 */
export async function registerProxyEndpoints(
  deps: StoreDeps,
  nodes: readonly ProxyIdentity[],
  options: RegisterOptions = {},
): Promise<(Registration | TrellisError)[]> {
  if (nodes.length === 0) return [];
  const liveMs = options.liveMs ?? DEFAULT_LIVE_MS;
  /** Endpoints whose spec is unchanged but whose owner is now this proxy (no revision: owners are not pushed). */
  const adopted: { id: string; owner: string }[] = [];
  const [first] = nodes;
  const actor = nodes.length === 1 && first ? proxyActor(first) : REGISTRATION_ACTOR;
  const result = await change(deps, actor, async (ctx) => {
    const names = [...new Set(nodes.map((n) => n.service))];
    const services = await ctx.tx.service.findMany({
      where: { name: { in: names } },
      select: { id: true, name: true },
    });
    const serviceIds = new Map(services.map((s) => [s.name, s.id]));
    const rows = await ctx.tx.endpoint.findMany({
      where: {
        serviceId: { in: services.map((s) => s.id) },
        address: { in: [...new Set(nodes.map((n) => n.address))] },
      },
    });
    const existing = new Map(rows.map((r) => [`${r.serviceId} ${r.address} ${r.port}`, r]));
    const creates: EndpointRow[] = [];
    const outcomes: (Endpoint | TrellisError)[] = [];
    for (const node of nodes) {
      const serviceId = serviceIds.get(node.service);
      if (serviceId === undefined) {
        outcomes.push(notFound('service', node.service));
        continue;
      }
      const key = `${serviceId} ${node.address} ${node.port}`;
      const row = existing.get(key);
      const owner = proxyActor(node).slice('proxy:'.length);
      if (
        row?.source === 'proxy' &&
        row.owner !== null &&
        row.owner !== owner &&
        row.health !== 'unhealthy' &&
        ctx.now.getTime() - row.lastSeen.getTime() < liveMs
      ) {
        outcomes.push(
          new TrellisError(
            'TRELLIS_ERR_CONFLICT',
            `${node.address}:${node.port} is held by proxy ${row.owner}, which is alive`,
          ),
        );
        continue;
      }
      const pending = creates.find((c) => `${c.serviceId} ${c.address} ${c.port}` === key);
      const spec: EndpointSpec = {
        address: node.address,
        port: node.port,
        labels: node.labels,
        zone: node.zone,
        weight: row?.weight ?? 1,
        // An operator who set the endpoint draining meant it; a reconnecting proxy does not undo that.
        health: row?.health === 'draining' ? 'draining' : 'healthy',
        source: 'proxy',
        ttlSeconds: row?.ttlSeconds ?? DEFAULT_ENDPOINT_TTL_SECONDS,
      };
      if (row) {
        const before = endpointFromRow(row, node.service);
        if (sameEndpointSpec(before, spec)) {
          if (row.owner !== owner) adopted.push({ id: row.id, owner });
          outcomes.push(before);
          continue;
        }
        // The same address twice in one batch, the first still to be created: the last one wins.
        const updated = pending
          ? Object.assign(pending, spec, { owner })
          : await updateEndpointRow(ctx, row, spec, owner);
        existing.set(key, updated);
        const after = endpointFromRow(updated, node.service);
        auditEndpoint(ctx, 'update', row, node.service, before, after, proxyActor(node));
        outcomes.push(after);
        continue;
      }
      const created = newEndpointRow(ctx, serviceId, spec, owner);
      creates.push(created);
      existing.set(key, created);
      const after = endpointFromRow(created, node.service);
      auditEndpoint(ctx, 'create', created, node.service, null, after, proxyActor(node));
      outcomes.push(after);
    }
    if (creates.length > 0) {
      await ctx.tx.endpoint.createMany({ data: creates as Prisma.EndpointCreateManyInput[] });
    }
    return outcomes;
  });
  // Endpoints left as they were got no revision, but their proxies were just seen.
  const now = deps.clock();
  const seen = result.value.filter((o): o is Endpoint => !(o instanceof TrellisError)).map((e) => e.id);
  if (seen.length > 0)
    await deps.db.endpoint.updateMany({ where: { id: { in: seen } }, data: { lastSeen: now } });
  for (const { id, owner } of adopted) await deps.db.endpoint.update({ where: { id }, data: { owner } });
  const revision = result.revision ?? (await currentRevision(deps.db));
  return result.value.map((o) => (o instanceof TrellisError ? o : { endpoint: o, revision }));
}

/** Registers one proxy's endpoint (see registerProxyEndpoints); throws TRELLIS_ERR_NOT_FOUND for an unknown service. */
export async function registerProxyEndpoint(
  deps: StoreDeps,
  node: ProxyIdentity,
  options: RegisterOptions = {},
): Promise<Registration> {
  const [outcome] = await registerProxyEndpoints(deps, [node], options);
  if (!outcome) throw new Error('registration returned nothing');
  if (outcome instanceof TrellisError) throw outcome;
  return outcome;
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

/**
 * A proxy that said it is shutting down: its endpoint turns unhealthy at once (one revision), so callers stop
 * picking it while it still serves what they sent, instead of finding out from refused connections after the
 * grace period. (Not `draining`: that is an operator's decision, which a proxy coming back must not undo, while
 * this one it must.) The liveness sweep removes it after the TTL; a proxy that comes back registers it healthy.
 */
export async function leaveProxyEndpoint(
  deps: StoreDeps,
  id: string,
  node: Pick<ProxyIdentity, 'service' | 'instance'>,
): Promise<boolean> {
  const actor = proxyActor(node);
  const owner = actor.slice('proxy:'.length);
  const result = await change(deps, actor, async (ctx) => {
    const row = await ctx.tx.endpoint.findFirst({
      where: { id, source: 'proxy', health: 'healthy', OR: [{ owner }, { owner: null }] },
      include: { service: { select: { name: true } } },
    });
    if (!row) return false;
    const service = row.service.name;
    const before = endpointFromRow(row, service);
    const { count } = await ctx.tx.endpoint.updateMany({
      where: { id, source: 'proxy', health: 'healthy' },
      data: { health: 'unhealthy', version: { increment: 1 }, updatedAt: ctx.now },
    });
    if (count === 0) return false;
    auditEndpoint(ctx, 'update', row, service, before, {
      ...before,
      health: 'unhealthy',
      version: row.version + 1,
      updatedAt: ctx.now.toISOString(),
    });
    return true;
  });
  return result.value;
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

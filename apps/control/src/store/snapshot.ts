/**
 * The mesh as seen inside a transaction: its configuration for config revisions, the endpoint lists of some
 * services for endpoint revisions, and the whole of it for a control plane loading the mesh.
 */
import type { Endpoint, MeshConfig, MeshSnapshot } from '@trellis/schema';
import type { Prisma } from '../db/client.ts';
import {
  authorizationFromRow,
  endpointFromRow,
  policyFromRow,
  routeFromRow,
  serviceFromRow,
} from './convert.ts';
import { settingsSpec } from './settings.ts';

type Reader = Pick<
  Prisma.TransactionClient,
  'service' | 'endpoint' | 'routeRule' | 'trafficPolicy' | 'authorizationPolicy' | 'meshState'
>;

export async function buildSnapshot(tx: Reader, revision: number): Promise<MeshSnapshot> {
  const config = await buildConfig(tx, revision);
  const services = await tx.service.findMany({ select: { id: true, name: true } });
  const names = new Map(services.map((s) => [s.id, s.name]));
  const endpoints = await tx.endpoint.findMany({
    orderBy: [{ serviceId: 'asc' }, { address: 'asc' }, { port: 'asc' }],
  });
  return { ...config, endpoints: endpoints.map((e) => endpointFromRow(e, names.get(e.serviceId) ?? '')) };
}

export async function buildConfig(tx: Reader, revision: number): Promise<MeshConfig> {
  const services = await tx.service.findMany({ orderBy: { name: 'asc' } });
  const names = new Map(services.map((s) => [s.id, s.name]));
  const nameOf = (id: string) => names.get(id) ?? '';
  const routes = await tx.routeRule.findMany();
  const policies = await tx.trafficPolicy.findMany({ orderBy: { name: 'asc' } });
  const authorization = await tx.authorizationPolicy.findMany({ orderBy: { name: 'asc' } });
  return {
    revision,
    services: services.map(serviceFromRow),
    routes: routes
      .map((r) => routeFromRow(r, nameOf(r.serviceId)))
      .sort(
        (a, b) =>
          a.service.localeCompare(b.service) || a.priority - b.priority || a.name.localeCompare(b.name),
      ),
    policies: policies.map((p) => policyFromRow(p, nameOf(p.serviceId))),
    authorizationPolicies: authorization.map(authorizationFromRow),
    settings: await settingsSpec(tx),
  };
}

/** The endpoint lists of `services` (every named service gets an entry, [] when it has none or is gone). */
export async function endpointLists(tx: Reader, services: string[]): Promise<Record<string, Endpoint[]>> {
  const rows = await tx.endpoint.findMany({
    where: { service: { name: { in: services } } },
    include: { service: { select: { name: true } } },
    orderBy: [{ address: 'asc' }, { port: 'asc' }],
  });
  const lists: Record<string, Endpoint[]> = Object.fromEntries(services.map((name) => [name, []]));
  for (const { service, ...row } of rows) lists[service.name]?.push(endpointFromRow(row, service.name));
  return lists;
}

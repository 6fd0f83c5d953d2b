/** The full mesh configuration as seen inside a transaction; stored with each revision. */
import type { MeshSnapshot } from '@trellis/schema';
import type { Prisma } from '../db/client.ts';
import { endpointFromRow, policyFromRow, routeFromRow, serviceFromRow } from './convert.ts';

type Reader = Pick<Prisma.TransactionClient, 'service' | 'endpoint' | 'routeRule' | 'trafficPolicy'>;

export async function buildSnapshot(tx: Reader, revision: number): Promise<MeshSnapshot> {
  const services = await tx.service.findMany({ orderBy: { name: 'asc' } });
  const names = new Map(services.map((s) => [s.id, s.name]));
  const nameOf = (id: string) => names.get(id) ?? '';
  const endpoints = await tx.endpoint.findMany({
    orderBy: [{ serviceId: 'asc' }, { address: 'asc' }, { port: 'asc' }],
  });
  const routes = await tx.routeRule.findMany({
    orderBy: [{ serviceId: 'asc' }, { priority: 'asc' }, { name: 'asc' }],
  });
  const policies = await tx.trafficPolicy.findMany({ orderBy: { name: 'asc' } });
  return {
    revision,
    services: services.map(serviceFromRow),
    endpoints: endpoints.map((e) => endpointFromRow(e, nameOf(e.serviceId))),
    routes: routes.map((r) => routeFromRow(r, nameOf(r.serviceId))),
    policies: policies.map((p) => policyFromRow(p, nameOf(p.serviceId))),
  };
}

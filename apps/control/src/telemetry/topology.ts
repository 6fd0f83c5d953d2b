/**
 * The topology: the live view (what is being called) laid over the registry (what exists: services, their
 * endpoints, and the dependencies they declare). Nodes are every registered service plus every name seen in
 * traffic; edges are the calls seen lately plus declared dependencies nobody is calling, marked idle. A node lists
 * the endpoints proxies hold ejected now; an edge counts the requests circuit breakers refused in the window, says
 * whether its calls went over mutual TLS and counts those authorization policies denied (see live.ts).
 */
import type { EndpointCounts, Topology, TopologyEdge, TopologyNode } from '@trellis/schema';
import type { Db } from '../db/client.ts';
import { serviceFromRow } from '../store/convert.ts';
import { Counts } from './counts.ts';
import { serviceHealth } from './health.ts';
import type { LiveEdge, LiveSnapshot } from './live.ts';

/** The callee's view when it reported the edge, else the caller's (a callee without an inbound proxy). */
function security(e: LiveEdge): Pick<TopologyEdge, 'mtls' | 'denied' | 'dryRunDenied'> {
  const c = e.inbound.requests > 0 ? e.inbound : e.counts;
  return { mtls: c.requests > 0 && c.mtls >= c.requests, denied: c.denied, dryRunDenied: c.dryRunDenied };
}

export interface RegisteredService {
  name: string;
  endpoints: EndpointCounts;
  dependencies: string[];
}

export async function loadRegistry(db: Db): Promise<RegisteredService[]> {
  const rows = await db.service.findMany({
    orderBy: { name: 'asc' },
    include: { endpoints: { select: { health: true } } },
  });
  return rows.map((row) => {
    const endpoints: EndpointCounts = { total: 0, healthy: 0, unhealthy: 0, draining: 0 };
    for (const e of row.endpoints) {
      endpoints.total++;
      if (e.health === 'healthy' || e.health === 'unhealthy' || e.health === 'draining')
        endpoints[e.health]++;
    }
    return { name: row.name, endpoints, dependencies: serviceFromRow(row).dependencies ?? [] };
  });
}

const NO_ENDPOINTS: EndpointCounts = { total: 0, healthy: 0, unhealthy: 0, draining: 0 };

export function buildTopology(live: LiveSnapshot, registry: readonly RegisteredService[]): Topology {
  const seconds = live.windowSeconds;
  const registered = new Map(registry.map((s) => [s.name, s]));
  const names = new Set<string>(registered.keys());
  for (const name of live.services.keys()) names.add(name);
  for (const name of live.ejected.keys()) names.add(name);

  const edges: TopologyEdge[] = [];
  const seen = new Set<string>();
  for (const e of live.edges) {
    seen.add(JSON.stringify([e.source, e.destination]));
    names.add(e.source);
    names.add(e.destination);
    edges.push({
      source: e.source,
      destination: e.destination,
      reporter: e.reporter,
      idle: e.counts.requests === 0,
      declared: registered.get(e.source)?.dependencies.includes(e.destination) ?? false,
      ...e.counts.stats(seconds),
      overflows: e.counts.overflows,
      breakerOpen: e.counts.overflows > 0,
      ...security(e),
    });
  }
  for (const service of registry) {
    for (const destination of service.dependencies) {
      if (seen.has(JSON.stringify([service.name, destination]))) continue;
      seen.add(JSON.stringify([service.name, destination]));
      names.add(destination);
      edges.push({
        source: service.name,
        destination,
        reporter: 'source',
        idle: true,
        declared: true,
        ...new Counts().stats(seconds),
        overflows: 0,
        breakerOpen: false,
        mtls: false,
        denied: 0,
        dryRunDenied: 0,
      });
    }
  }
  edges.sort((a, b) => a.source.localeCompare(b.source) || a.destination.localeCompare(b.destination));

  const nodes: TopologyNode[] = [...names].sort().map((service) => {
    const traffic = live.services.get(service);
    const stats = (traffic?.counts ?? new Counts()).stats(seconds);
    const endpoints = registered.get(service)?.endpoints ?? NO_ENDPOINTS;
    return {
      service,
      registered: registered.has(service),
      health: serviceHealth({ requests: stats.requests, successRate: stats.successRate, endpoints }),
      reporter: traffic?.reporter ?? null,
      endpoints: { ...endpoints },
      ejectedEndpoints: (live.ejected.get(service) ?? []).map((e) => ({ ...e })),
      ...stats,
    };
  });
  return { at: live.at.toISOString(), windowSeconds: seconds, nodes, edges };
}

/** The part of a topology about one service: its node and the edges that touch it. */
export function focusTopology(topology: Topology, service: string): Topology {
  return {
    ...topology,
    nodes: topology.nodes.filter((n) => n.service === service),
    edges: topology.edges.filter((e) => e.source === service || e.destination === service),
  };
}

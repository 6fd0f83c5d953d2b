import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { MetricsSeries, Topology } from '@trellis/schema';
import { getJson } from '../../lib/api';
import { WINDOWS, windowRange } from '../services/metrics';
import { type GraphStructure, layoutGraph, type Position } from './layout';

/** Query keys of the topology feature (one factory, so invalidation and tests name them the same way). */
export const topologyKeys = {
  all: ['topology'] as const,
  live: () => [...topologyKeys.all, 'live'] as const,
  layout: (structureKey: string) => [...topologyKeys.all, 'layout', structureKey] as const,
  edgeMetrics: (source: string, destination: string) =>
    [...topologyKeys.all, 'edge-metrics', source, destination] as const,
};

/** How often the live topology is read; the control plane recomputes it every second. */
export const TOPOLOGY_REFRESH_MS = 1000;

export function useTopology() {
  return useQuery({
    queryKey: topologyKeys.live(),
    queryFn: ({ signal }) => getJson('/api/v1/topology', Topology, signal),
    refetchInterval: TOPOLOGY_REFRESH_MS,
    refetchIntervalInBackground: false,
    placeholderData: keepPreviousData,
    // Every reading differs (its time, its numbers), and comparing 4,000 nodes and edges deeply every second to keep
    // unchanged parts costs more than it saves: the graph keeps what did not change on screen itself (live.ts).
    structuralSharing: false,
  });
}

export interface GraphLayout {
  positions: Record<string, Position>;
  /** How long elkjs took, shown on the graph for the console benchmark. */
  ms: number;
}

/**
 * The elkjs layout of a graph's structure, cached by its key: numbers changing every second never re-run it, and
 * while a new structure is laid out the previous positions stay on screen.
 */
export function useGraphLayout(structure: GraphStructure | undefined) {
  return useQuery({
    queryKey: topologyKeys.layout(structure?.key ?? ''),
    queryFn: async (): Promise<GraphLayout> => {
      const started = performance.now();
      const positions = await layoutGraph(structure as GraphStructure);
      return { positions, ms: performance.now() - started };
    },
    enabled: structure !== undefined,
    staleTime: Number.POSITIVE_INFINITY,
    gcTime: 60_000,
    placeholderData: keepPreviousData,
  });
}

/** The GET /api/v1/metrics path for the calls from one service to another over the last 5 minutes at `now`. */
export function edgeMetricsPath(source: string, destination: string, now: number): string {
  const r = windowRange('5m', now);
  const query = new URLSearchParams({
    edge: `${source}>${destination}`,
    from: new Date(r.from).toISOString(),
    to: new Date(r.to).toISOString(),
    step: r.step,
  });
  return `/api/v1/metrics?${query}`;
}

/** One edge's time series over the last 5 minutes, slid forward like a service's 5-minute charts. */
export function useEdgeMetrics(source: string, destination: string) {
  return useQuery({
    queryKey: topologyKeys.edgeMetrics(source, destination),
    queryFn: ({ signal }) => getJson(edgeMetricsPath(source, destination, Date.now()), MetricsSeries, signal),
    refetchInterval: WINDOWS['5m'].refreshMs,
  });
}

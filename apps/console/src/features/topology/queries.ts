import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { Topology } from '@trellis/schema';
import { getJson } from '../../lib/api';
import { type GraphStructure, layoutGraph } from './layout';

/** Query keys of the topology feature (one factory, so invalidation and tests name them the same way). */
export const topologyKeys = {
  all: ['topology'] as const,
  live: () => [...topologyKeys.all, 'live'] as const,
  layout: (structureKey: string) => [...topologyKeys.all, 'layout', structureKey] as const,
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
  });
}

/**
 * The elkjs layout of a graph's structure, cached by its key: numbers changing every second never re-run it, and
 * while a new structure is laid out the previous positions stay on screen.
 */
export function useGraphLayout(structure: GraphStructure | undefined) {
  return useQuery({
    queryKey: topologyKeys.layout(structure?.key ?? ''),
    queryFn: () => layoutGraph(structure as GraphStructure),
    enabled: structure !== undefined,
    staleTime: Number.POSITIVE_INFINITY,
    gcTime: 60_000,
    placeholderData: keepPreviousData,
  });
}

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { RouteRuleReplace } from '@trellis/schema';
import { RouteRule } from '@trellis/schema';
import type { z } from 'zod';
import { getJson, putJson } from '../../lib/api';
import { proxiesKeys } from '../proxies/queries';
import { servicesKeys } from '../services/queries';
import { topologyKeys } from '../topology/queries';

/** Query keys of the route rules feature. */
export const routesKeys = {
  all: ['routes'] as const,
  detail: (name: string) => [...routesKeys.all, 'detail', name] as const,
};

const enc = encodeURIComponent;

/**
 * One route rule as stored, with the version a replace must carry. Read once per visit of the form (never
 * refetched under it, and dropped when the form closes, so the next visit starts from the current version); the
 * form reloads it on demand.
 */
export function useRoute(name: string) {
  return useQuery({
    queryKey: routesKeys.detail(name),
    queryFn: ({ signal }) => getJson(`/api/v1/routes/${enc(name)}`, RouteRule, signal),
    retry: (count, error) => (error as { status?: number }).status !== 404 && count < 1,
    staleTime: Number.POSITIVE_INFINITY,
    gcTime: 0,
    refetchOnWindowFocus: false,
  });
}

/**
 * PUT of a route rule (optimistic concurrency: the body carries the version it was read at). On success the rule's
 * own key, its service's route list and the proxies (about to ACK the new revision) are invalidated.
 */
export function useReplaceRoute(name: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: z.output<typeof RouteRuleReplace>) =>
      putJson(`/api/v1/routes/${enc(name)}`, body, RouteRule),
    onSuccess: async ({ value }) => {
      client.setQueryData(routesKeys.detail(name), value);
      await Promise.all([
        client.invalidateQueries({ queryKey: servicesKeys.routes(value.service) }),
        client.invalidateQueries({ queryKey: proxiesKeys.all }),
        client.invalidateQueries({ queryKey: topologyKeys.live() }),
      ]);
    },
  });
}

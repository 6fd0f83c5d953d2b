import { useQuery } from '@tanstack/react-query';
import { RouteRule } from '@trellis/schema';
import { getJson } from '../../lib/api';
import { HOLD_WHILE_EDITING } from '../../lib/events';
import { useRuleChanges } from '../rules/queries';

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
    // The event feed must not refetch it under the form either: a change by someone else is a conflict to show.
    meta: HOLD_WHILE_EDITING,
  });
}

/** Create (POST), replace (PUT with the version read) and delete (with that version) of route rules. */
export function useRouteChanges() {
  return useRuleChanges('routes', RouteRule, routesKeys.detail);
}

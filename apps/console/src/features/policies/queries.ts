import { useQuery } from '@tanstack/react-query';
import { TrafficPolicy } from '@trellis/schema';
import { getJson } from '../../lib/api';
import { HOLD_WHILE_EDITING } from '../../lib/events';
import { useRuleChanges } from '../rules/queries';

/** Query keys of the traffic policies feature. */
export const policiesKeys = {
  all: ['policies'] as const,
  detail: (name: string) => [...policiesKeys.all, 'detail', name] as const,
};

const enc = encodeURIComponent;

/**
 * One traffic policy as stored, with the version a replace must carry; read once per visit of the form, as route
 * rules are, and reloaded on demand.
 */
export function usePolicy(name: string) {
  return useQuery({
    queryKey: policiesKeys.detail(name),
    queryFn: ({ signal }) => getJson(`/api/v1/policies/${enc(name)}`, TrafficPolicy, signal),
    retry: (count, error) => (error as { status?: number }).status !== 404 && count < 1,
    staleTime: Number.POSITIVE_INFINITY,
    gcTime: 0,
    refetchOnWindowFocus: false,
    // The event feed must not refetch it under the form either: a change by someone else is a conflict to show.
    meta: HOLD_WHILE_EDITING,
  });
}

/** Create (POST), replace (PUT with the version read) and delete (with that version) of traffic policies. */
export function usePolicyChanges() {
  return useRuleChanges('policies', TrafficPolicy, policiesKeys.detail);
}

import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { ProxyStatusList } from '@trellis/schema';
import { getJson } from '../../lib/api';

export const proxiesKeys = {
  all: ['proxies'] as const,
  list: () => [...proxiesKeys.all, 'list'] as const,
};

/** Every proxy's sync status, read every `refetchMs` (the route form's ACK indicator reads it every second). */
export function useProxies(refetchMs = 2000) {
  return useQuery({
    queryKey: proxiesKeys.list(),
    queryFn: ({ signal }) => getJson('/api/v1/proxies', ProxyStatusList, signal),
    refetchInterval: refetchMs,
    placeholderData: keepPreviousData,
  });
}

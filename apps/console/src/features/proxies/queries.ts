import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { ProxyStatusList } from '@trellis/schema';
import { getJson } from '../../lib/api';

export const proxiesKeys = {
  all: ['proxies'] as const,
  list: () => [...proxiesKeys.all, 'list'] as const,
};

export function useProxies() {
  return useQuery({
    queryKey: proxiesKeys.list(),
    queryFn: ({ signal }) => getJson('/api/v1/proxies', ProxyStatusList, signal),
    refetchInterval: 2000,
    placeholderData: keepPreviousData,
  });
}

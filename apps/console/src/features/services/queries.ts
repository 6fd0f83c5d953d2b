import { useQuery } from '@tanstack/react-query';
import { pageOf, Service } from '@trellis/schema';
import { getJson } from '../../lib/api';

export const servicesKeys = {
  all: ['services'] as const,
  list: () => [...servicesKeys.all, 'list'] as const,
};

const ServicePage = pageOf(Service);

/** Every registered service, following the API's cursor pages. */
export async function fetchAllServices(signal?: AbortSignal): Promise<Service[]> {
  const services: Service[] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ limit: '500' });
    if (cursor) query.set('cursor', cursor);
    const page = await getJson(`/api/v1/services?${query}`, ServicePage, signal);
    services.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return services;
}

export function useServices() {
  return useQuery({ queryKey: servicesKeys.list(), queryFn: ({ signal }) => fetchAllServices(signal) });
}

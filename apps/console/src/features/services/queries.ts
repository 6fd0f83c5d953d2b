import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { Endpoint, MetricsSeries, RouteRule, Service, TrafficPolicy } from '@trellis/schema';
import { getAllPages, getJson } from '../../lib/api';
import { type ChartWindow, metricsPath, WINDOWS } from './metrics';

/** Query keys of the services feature: the list, and everything the detail page of one service reads. */
export const servicesKeys = {
  all: ['services'] as const,
  list: () => [...servicesKeys.all, 'list'] as const,
  detail: (name: string) => [...servicesKeys.all, 'detail', name] as const,
  endpoints: (name: string) => [...servicesKeys.detail(name), 'endpoints'] as const,
  routes: (name: string) => [...servicesKeys.detail(name), 'routes'] as const,
  policies: (name: string) => [...servicesKeys.detail(name), 'policies'] as const,
  metrics: (name: string, window: ChartWindow) => [...servicesKeys.detail(name), 'metrics', window] as const,
};

/** Every registered service, following the API's cursor pages. */
export function fetchAllServices(signal?: AbortSignal): Promise<Service[]> {
  return getAllPages('/api/v1/services', Service, signal);
}

export function useServices() {
  return useQuery({ queryKey: servicesKeys.list(), queryFn: ({ signal }) => fetchAllServices(signal) });
}

const enc = encodeURIComponent;

export function useService(name: string) {
  return useQuery({
    queryKey: servicesKeys.detail(name),
    queryFn: ({ signal }) => getJson(`/api/v1/services/${enc(name)}`, Service, signal),
    // A missing service stays missing; do not hammer the API with retries of a 404.
    retry: (count, error) => (error as { status?: number }).status !== 404 && count < 1,
  });
}

/** The service's endpoints; re-read every 2 s, since health changes as proxies report and endpoints expire. */
export function useServiceEndpoints(name: string) {
  return useQuery({
    queryKey: servicesKeys.endpoints(name),
    queryFn: ({ signal }) => getAllPages(`/api/v1/services/${enc(name)}/endpoints`, Endpoint, signal),
    refetchInterval: 2000,
    placeholderData: keepPreviousData,
  });
}

export function useServiceRoutes(name: string) {
  return useQuery({
    queryKey: servicesKeys.routes(name),
    queryFn: ({ signal }) => getAllPages(`/api/v1/routes?service=${enc(name)}`, RouteRule, signal),
    refetchInterval: 10_000,
  });
}

export function useServicePolicies(name: string) {
  return useQuery({
    queryKey: servicesKeys.policies(name),
    queryFn: ({ signal }) => getAllPages(`/api/v1/policies?service=${enc(name)}`, TrafficPolicy, signal),
    refetchInterval: 10_000,
  });
}

/**
 * The service's time series over a window. The range is computed at each fetch (not part of the key), so every
 * refetch slides the window forward and new points are appended. Switching windows shows the loading state rather
 * than the other window's series on the wrong time axis.
 */
export function useServiceMetrics(name: string, window: ChartWindow) {
  return useQuery({
    queryKey: servicesKeys.metrics(name, window),
    queryFn: ({ signal }) => getJson(metricsPath(name, window, Date.now()), MetricsSeries, signal),
    refetchInterval: WINDOWS[window].refreshMs,
  });
}

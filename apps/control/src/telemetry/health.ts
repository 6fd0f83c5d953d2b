/**
 * A service's health at a glance, from the traffic it received and the health of its endpoints. The thresholds
 * follow the usual console conventions (Kiali colours a service by the same kind of error-rate bands): a service
 * answering at least 95 % of requests without a 5xx or a failure is healthy, below that degraded, below 90 %
 * failing. A 4xx is a success: the service answered, the caller was wrong.
 *
 * Endpoints weigh in whatever the traffic says: a service whose endpoints are all unusable (unhealthy or draining)
 * is failing even if no one called it, and one with some unhealthy endpoints is at best degraded. Without traffic
 * the endpoints decide alone; a service with neither traffic nor endpoints is idle.
 */
import type { EndpointCounts, ServiceHealth } from '@trellis/schema';

/** Success rate (fraction of requests) at or above which a service is healthy. */
export const HEALTHY_SUCCESS_RATE = 0.95;
/** Success rate below which a service is failing (between the two: degraded). */
export const FAILING_SUCCESS_RATE = 0.9;

export interface HealthInputs {
  requests: number;
  /** Fraction of requests without 5xx or failure; null without requests. */
  successRate: number | null;
  endpoints: EndpointCounts;
}

const RANK: Record<ServiceHealth, number> = { idle: 0, healthy: 1, degraded: 2, failing: 3 };

function worse(a: ServiceHealth, b: ServiceHealth): ServiceHealth {
  return RANK[a] >= RANK[b] ? a : b;
}

function fromEndpoints(e: EndpointCounts): ServiceHealth {
  if (e.total === 0) return 'idle';
  if (e.healthy === 0) return 'failing';
  if (e.unhealthy > 0) return 'degraded';
  return 'healthy';
}

function fromTraffic(requests: number, successRate: number | null): ServiceHealth {
  if (requests === 0 || successRate === null) return 'idle';
  if (successRate < FAILING_SUCCESS_RATE) return 'failing';
  if (successRate < HEALTHY_SUCCESS_RATE) return 'degraded';
  return 'healthy';
}

export function serviceHealth(input: HealthInputs): ServiceHealth {
  return worse(fromEndpoints(input.endpoints), fromTraffic(input.requests, input.successRate));
}

/** An edge of the live topology as the tests build it: a busy, declared edge with no security marks unless patched. */
import type { TopologyEdge } from '@trellis/schema';

export function trafficEdge(
  source: string,
  destination: string,
  patch: Partial<TopologyEdge> = {},
): TopologyEdge {
  return {
    requests: 100,
    rps: 10,
    successRate: 1,
    errorRate: 0,
    p50: 5,
    p95: 9,
    p99: 12,
    bytesIn: 0,
    bytesOut: 0,
    retries: 0,
    source,
    destination,
    reporter: 'source',
    idle: false,
    declared: true,
    overflows: 0,
    breakerOpen: false,
    mtls: false,
    denied: 0,
    dryRunDenied: 0,
    ...patch,
  };
}

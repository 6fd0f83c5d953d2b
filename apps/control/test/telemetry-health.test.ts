/** Service health from success rate and endpoint health: the thresholds and how traffic and endpoints combine. */
import type { EndpointCounts } from '@trellis/schema';
import { describe, expect, it } from 'vitest';
import { FAILING_SUCCESS_RATE, HEALTHY_SUCCESS_RATE, serviceHealth } from '../src/telemetry/health.ts';

const none: EndpointCounts = { total: 0, healthy: 0, unhealthy: 0, draining: 0 };
const allHealthy: EndpointCounts = { total: 2, healthy: 2, unhealthy: 0, draining: 0 };
const someUnhealthy: EndpointCounts = { total: 2, healthy: 1, unhealthy: 1, draining: 0 };
const noneUsable: EndpointCounts = { total: 2, healthy: 0, unhealthy: 1, draining: 1 };

describe('service health', () => {
  it('is healthy at 95 % success or more, degraded below, failing below 90 %', () => {
    expect([HEALTHY_SUCCESS_RATE, FAILING_SUCCESS_RATE]).toEqual([0.95, 0.9]);
    const at = (successRate: number) => serviceHealth({ requests: 100, successRate, endpoints: allHealthy });
    expect(at(1)).toBe('healthy');
    expect(at(0.95)).toBe('healthy');
    expect(at(0.9499)).toBe('degraded');
    expect(at(0.9)).toBe('degraded');
    expect(at(0.8999)).toBe('failing');
  });

  it('takes the worse of traffic and endpoints', () => {
    expect(serviceHealth({ requests: 10, successRate: 1, endpoints: someUnhealthy })).toBe('degraded');
    expect(serviceHealth({ requests: 10, successRate: 1, endpoints: noneUsable })).toBe('failing');
    expect(serviceHealth({ requests: 10, successRate: 0.5, endpoints: allHealthy })).toBe('failing');
    // Names only seen in traffic (an egress host) have no endpoints: traffic decides.
    expect(serviceHealth({ requests: 10, successRate: 0.93, endpoints: none })).toBe('degraded');
  });

  it('without traffic, is decided by endpoints alone, and idle with none', () => {
    expect(serviceHealth({ requests: 0, successRate: null, endpoints: allHealthy })).toBe('healthy');
    expect(serviceHealth({ requests: 0, successRate: null, endpoints: someUnhealthy })).toBe('degraded');
    expect(serviceHealth({ requests: 0, successRate: null, endpoints: noneUsable })).toBe('failing');
    expect(serviceHealth({ requests: 0, successRate: null, endpoints: none })).toBe('idle');
  });
});

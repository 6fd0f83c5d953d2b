/** Every default of the mesh model, as a new resource with only its required fields gets it. */
import { describe, expect, it } from 'vitest';
import { EndpointSpec, RouteRuleSpec, ServiceSpec, TrafficPolicySpec } from '../src/index.ts';

describe('defaults', () => {
  it('service', () => {
    expect(ServiceSpec.parse({ name: 'a', port: 80 })).toEqual({
      name: 'a',
      port: 80,
      protocol: 'http',
      labels: {},
      description: '',
    });
  });

  it('endpoint', () => {
    expect(EndpointSpec.parse({ address: '10.0.0.1', port: 80 })).toEqual({
      address: '10.0.0.1',
      port: 80,
      labels: {},
      zone: '',
      weight: 1,
      health: 'healthy',
      source: 'api',
      ttlSeconds: 30,
    });
  });

  it('route rule: match all, one destination, 15 s timeout, 2 retries with Envoy backoff', () => {
    expect(RouteRuleSpec.parse({ name: 'r', service: 's' })).toEqual({
      name: 'r',
      service: 's',
      priority: 100,
      match: [],
      destinations: [{ subset: {}, weight: 100 }],
      timeoutMs: 15_000,
      retries: {
        attempts: 2,
        retryOn: ['connect-failure', 'reset'],
        retriableStatusCodes: [],
        backoff: { baseIntervalMs: 25, maxIntervalMs: 250 },
      },
      headers: { request: { set: {}, remove: [] }, response: { set: {}, remove: [] } },
    });
  });

  it('route rule: nested defaults inside given objects', () => {
    const r = RouteRuleSpec.parse({
      name: 'r',
      service: 's',
      match: [{ path: { prefix: '/' } }],
      destinations: [{ weight: 100 }],
      mirror: { subset: { version: 'v2' } },
      retries: { attempts: 5 },
    });
    expect(r.match[0]).toEqual({ path: { prefix: '/' }, headers: [] });
    expect(r.destinations[0]).toEqual({ subset: {}, weight: 100 });
    expect(r.mirror).toEqual({ subset: { version: 'v2' }, percent: 100 });
    expect(r.retries.backoff).toEqual({ baseIntervalMs: 25, maxIntervalMs: 250 });
  });

  it('traffic policy: least request, finite Envoy breaker limits, retry budget on, outlier detection on', () => {
    expect(TrafficPolicySpec.parse({ name: 'p', service: 's' })).toEqual({
      name: 'p',
      service: 's',
      loadBalancer: { type: 'least_request', choiceCount: 2 },
      connectionPool: {
        maxConnections: 1024,
        maxPendingRequests: 1024,
        maxRequests: 1024,
        maxRetries: 3,
        connectTimeoutMs: 10_000,
      },
      retryBudget: { enabled: true, budgetPercent: 20, minRetriesPerSecond: 10 },
      outlierDetection: {
        enabled: true,
        consecutive5xx: 5,
        consecutiveGatewayErrors: 0,
        intervalMs: 10_000,
        baseEjectionTimeMs: 30_000,
        maxEjectionTimeMs: 300_000,
        maxEjectionPercent: 10,
      },
      panicThresholdPercent: 50,
    });
  });

  it('traffic policy: ring hash and success-rate detector defaults', () => {
    const p = TrafficPolicySpec.parse({
      name: 'p',
      service: 's',
      loadBalancer: { type: 'ring_hash', hashHeader: 'x-user' },
      outlierDetection: { successRate: {} },
    });
    expect(p.loadBalancer).toEqual({
      type: 'ring_hash',
      hashHeader: 'x-user',
      minimumRingSize: 1024,
      maximumRingSize: 8_388_608,
    });
    expect(p.outlierDetection.successRate).toEqual({ minimumHosts: 5, requestVolume: 100, stdevFactor: 1.9 });
  });

  it('parsing is idempotent: a parsed resource parses to itself', () => {
    const r = RouteRuleSpec.parse({
      name: 'r',
      service: 's',
      fault: { abort: { httpStatus: 503, percent: 1 } },
    });
    expect(RouteRuleSpec.parse(r)).toEqual(r);
    const p = TrafficPolicySpec.parse({ name: 'p', service: 's' });
    expect(TrafficPolicySpec.parse(p)).toEqual(p);
  });
});

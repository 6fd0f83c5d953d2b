import { type TrafficPolicy, TrafficPolicyReplace, TrafficPolicySpec, toFieldErrors } from '@trellis/schema';
import { describe, expect, it } from 'vitest';
import {
  diffNewPolicy,
  diffPolicy,
  formValuesOf,
  newPolicyOf,
  policyFields,
  specOf,
  validateCreate,
  validateReplace,
  visibleNumbers,
} from '../src/features/policies/form.ts';
import { placeErrors } from '../src/features/rules/form.ts';

const POLICY: TrafficPolicy = {
  ...TrafficPolicySpec.parse({
    name: 'service-c-defaults',
    service: 'service-c',
    loadBalancer: { type: 'least_request' },
    connectionPool: { maxConnections: 100, maxPendingRequests: 100, maxRequests: 200 },
    outlierDetection: { consecutive5xx: 3, baseEjectionTimeMs: 10_000, maxEjectionTimeMs: 60_000 },
  }),
  id: 'p1',
  version: 2,
  createdAt: '2026-11-25T20:00:00.000Z',
  updatedAt: '2026-11-25T20:00:00.000Z',
};

describe('formValuesOf', () => {
  it('holds every number of the policy by its path, and the defaults of the parts that are off', () => {
    const values = formValuesOf(POLICY);
    expect(values.loadBalancer).toBe('least_request');
    expect(values.numbers['connectionPool.maxRequests']).toBe('200');
    expect(values.numbers['outlierDetection.consecutive5xx']).toBe('3');
    expect(values.numbers['loadBalancer.choiceCount']).toBe('2');
    expect(values.numbers['loadBalancer.minimumRingSize']).toBe('1024');
    expect(values.successRate).toBe(false);
    expect(values.numbers['outlierDetection.successRate.stdevFactor']).toBe('1.9');
    expect(values.healthCheck).toBe(false);
    expect(values.numbers['healthCheck.intervalMs']).toBe('10000');
  });

  it('round-trips the stored policy unchanged', () => {
    const result = validateReplace(POLICY, formValuesOf(POLICY));
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect(diffPolicy(POLICY, result.body)).toEqual([]);
      expect(result.body.version).toBe(2);
    }
  });

  it('round-trips a policy with every optional part set', () => {
    const full = TrafficPolicySpec.parse({
      name: 'full',
      service: 'svc',
      subset: { version: 'v2' },
      loadBalancer: { type: 'ring_hash', hashHeader: 'x-user', minimumRingSize: 64, maximumRingSize: 128 },
      connectionPool: {
        maxConnections: 1,
        maxPendingRequests: 2,
        maxRequests: 3,
        maxRetries: 0,
        connectTimeoutMs: 5,
      },
      retryBudget: { enabled: false, budgetPercent: 12.5, minRetriesPerSecond: 0 },
      outlierDetection: {
        enabled: false,
        consecutive5xx: 0,
        consecutiveGatewayErrors: 4,
        successRate: { minimumHosts: 2, requestVolume: 50, stdevFactor: 2.5 },
      },
      panicThresholdPercent: 0,
      healthCheck: {
        path: '/ready',
        intervalMs: 2000,
        timeoutMs: 500,
        healthyThreshold: 1,
        unhealthyThreshold: 2,
      },
    });
    expect(validateCreate('svc', formValuesOf(full))).toEqual({ ok: true, body: full });
  });
});

describe('validation', () => {
  it("gives the API's own messages at the API's paths", () => {
    const values = formValuesOf(POLICY);
    values.numbers['connectionPool.maxRequests'] = '0';
    values.numbers['outlierDetection.consecutive5xx'] = '';
    const result = validateReplace(POLICY, values);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      const expected = TrafficPolicyReplace.safeParse({ ...specOf('service-c', values).spec, version: 2 });
      if (!expected.success) expect(result.errors).toEqual(toFieldErrors(expected.error));
      expect(result.errors).toContainEqual({
        path: 'connectionPool.maxRequests',
        message: 'must be between 1 and 10000000',
      });
      expect(result.errors).toContainEqual({
        path: 'outlierDetection.consecutive5xx',
        message: 'must be a number',
      });
      const placed = placeErrors(result.errors, policyFields(false));
      expect(placed.other).toEqual([]);
      expect(placed.byField['connectionPool.maxRequests']).toEqual(['must be between 1 and 10000000']);
    }
  });

  it('shows the name only when creating, and errors of the service above the form', () => {
    const errors = [
      { path: 'name', message: 'is already taken' },
      { path: 'service', message: 'already covered by policy "service-c-defaults"' },
    ];
    expect(placeErrors(errors, policyFields(true))).toEqual({
      byField: { name: ['is already taken'] },
      other: [errors[1]],
    });
    expect(placeErrors(errors, policyFields(false)).other).toEqual(errors);
  });

  it('checks across fields as the API does', () => {
    const values = formValuesOf(POLICY);
    values.numbers['outlierDetection.maxEjectionTimeMs'] = '5';
    expect(validateReplace(POLICY, values)).toEqual({
      ok: false,
      errors: [
        { path: 'outlierDetection.maxEjectionTimeMs', message: 'must be at least baseEjectionTimeMs' },
      ],
    });
  });

  it('needs a hash header with ring hash', () => {
    const values = formValuesOf(POLICY);
    values.loadBalancer = 'ring_hash';
    const result = validateReplace(POLICY, values);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.errors.map((e) => e.path)).toEqual([
        'loadBalancer.hashHeader',
        'loadBalancer.hashHeader',
      ]);
      expect(result.errors).toContainEqual({ path: 'loadBalancer.hashHeader', message: 'must not be empty' });
      expect(placeErrors(result.errors, policyFields(false)).byField['loadBalancer.hashHeader']).toHaveLength(
        2,
      );
    }
  });

  it('shows the numbers of the chosen balancer and of the parts that are on', () => {
    const values = formValuesOf(POLICY);
    expect(visibleNumbers(values, 'loadBalancer').map((f) => f.path)).toEqual(['loadBalancer.choiceCount']);
    values.loadBalancer = 'ring_hash';
    expect(visibleNumbers(values, 'loadBalancer').map((f) => f.path)).toEqual([
      'loadBalancer.minimumRingSize',
      'loadBalancer.maximumRingSize',
    ]);
    expect(visibleNumbers(values, 'outlierDetection')).toHaveLength(6);
    values.successRate = true;
    expect(visibleNumbers(values, 'outlierDetection')).toHaveLength(9);
    expect(visibleNumbers(values, 'health').map((f) => f.path)).toEqual(['panicThresholdPercent']);
  });
});

describe('diffPolicy', () => {
  it('lists breaker and outlier changes with their labels', () => {
    const values = formValuesOf(POLICY);
    values.numbers['connectionPool.maxRequests'] = '300';
    values.numbers['outlierDetection.consecutive5xx'] = '5';
    const result = validateReplace(POLICY, values);
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect(diffPolicy(POLICY, result.body)).toEqual([
        { field: 'connectionPool.maxRequests', label: 'Max requests', from: '200', to: '300' },
        { field: 'outlierDetection.consecutive5xx', label: 'Consecutive 5xx', from: '3', to: '5' },
      ]);
    }
  });

  it('shows a balancer switch and a new optional part', () => {
    const values = formValuesOf(POLICY);
    values.loadBalancer = 'round_robin';
    values.healthCheck = true;
    const result = validateReplace(POLICY, values);
    expect(result.ok).toBe(true);
    if (result.ok) {
      const diff = diffPolicy(POLICY, result.body);
      expect(diff).toContainEqual({
        field: 'loadBalancer.type',
        label: 'Load balancer',
        from: 'least_request',
        to: 'round_robin',
      });
      expect(diff).toContainEqual({
        field: 'loadBalancer.choiceCount',
        label: 'Choices per pick',
        from: '2',
        to: '–',
      });
      expect(diff).toContainEqual({
        field: 'healthCheck.path',
        label: 'Health check path',
        from: '–',
        to: '/healthz',
      });
    }
  });

  it('creates a policy for a service from the defaults', () => {
    const values = formValuesOf(newPolicyOf('service-b'));
    const result = validateCreate('service-b', values);
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect(result.body).toEqual(
        TrafficPolicySpec.parse({ name: 'service-b-policy', service: 'service-b' }),
      );
      expect(diffNewPolicy(result.body)).toContainEqual({
        field: 'name',
        label: 'Name',
        from: '–',
        to: 'service-b-policy',
      });
    }
  });
});

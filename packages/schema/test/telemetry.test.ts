import { describe, expect, it } from 'vitest';
import { MAX_EJECTED_NOW, TelemetryFrame, Topology } from '../src/index.ts';

const frame = {
  node: { service: 'web', instance: 'web-1' },
  windowStart: 1_700_000_000_000,
  windowMs: 1000,
  edges: [],
  ejections: 0,
  ejected: [],
  activeRequests: 0,
};

function issues(input: unknown): string[] {
  const result = TelemetryFrame.safeParse(input);
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('TelemetryFrame.ejectedNow', () => {
  it('defaults to none for proxies that do not send it', () => {
    expect(TelemetryFrame.parse(frame).ejectedNow).toEqual([]);
  });

  it('accepts the endpoints held ejected with the time left', () => {
    const ejectedNow = [
      { service: 'api', endpoint: '10.0.0.7:8080', remainingMs: 9500 },
      { service: 'api', endpoint: '[fd00::1]:8080', remainingMs: 0 },
      { service: 'db', endpoint: '10.0.0.7:8080', remainingMs: 1 },
    ];
    expect(TelemetryFrame.parse({ ...frame, ejectedNow }).ejectedNow).toEqual(ejectedNow);
  });

  it('refuses bad entries with the field path', () => {
    const held = { service: 'api', endpoint: '10.0.0.7:8080', remainingMs: 10 };
    expect(issues({ ...frame, ejectedNow: [{ ...held, remainingMs: -1 }] })).toEqual([
      'ejectedNow.0.remainingMs: must not be negative',
    ]);
    expect(issues({ ...frame, ejectedNow: [{ ...held, remainingMs: 1.5 }] })).toEqual([
      'ejectedNow.0.remainingMs: must be an integer',
    ]);
    expect(issues({ ...frame, ejectedNow: [{ ...held, endpoint: '' }] })).toEqual([
      'ejectedNow.0.endpoint: must not be empty',
    ]);
    expect(issues({ ...frame, ejectedNow: [{ service: 'api', endpoint: 'x:1' }] })).toHaveLength(1);
    expect(issues({ ...frame, ejectedNow: [{ ...held, until: 5 }] })).toHaveLength(1);
    expect(issues({ ...frame, ejectedNow: [held, { ...held, remainingMs: 3 }] })).toEqual([
      'ejectedNow.1: the same service and endpoint appear twice',
    ]);
    expect(issues({ ...frame, ejectedNow: 'none' })).toHaveLength(1);
  });

  it(`lists at most ${MAX_EJECTED_NOW} endpoints`, () => {
    const many = (n: number) =>
      Array.from({ length: n }, (_, i) => ({
        service: 'api',
        endpoint: `10.0.0.1:${i + 1}`,
        remainingMs: 5,
      }));
    expect(issues({ ...frame, ejectedNow: many(MAX_EJECTED_NOW) })).toEqual([]);
    expect(issues({ ...frame, ejectedNow: many(MAX_EJECTED_NOW + 1) })).toEqual([
      `ejectedNow: must list at most ${MAX_EJECTED_NOW} endpoints`,
    ]);
  });
});

describe('Topology ejections and breakers', () => {
  it('reads nodes and edges without them as none', () => {
    const stats = {
      requests: 0,
      rps: 0,
      successRate: null,
      errorRate: null,
      p50: null,
      p95: null,
      p99: null,
      bytesIn: 0,
      bytesOut: 0,
      retries: 0,
    };
    const topology = Topology.parse({
      at: '2026-11-25T21:09:12.732Z',
      windowSeconds: 10,
      nodes: [
        {
          ...stats,
          service: 'api',
          registered: true,
          health: 'idle',
          reporter: null,
          endpoints: { total: 0, healthy: 0, unhealthy: 0, draining: 0 },
        },
      ],
      edges: [
        {
          ...stats,
          source: 'web',
          destination: 'api',
          reporter: 'source',
          idle: true,
          declared: true,
        },
      ],
    });
    expect(topology.nodes[0]?.ejectedEndpoints).toEqual([]);
    expect(topology.edges[0]).toMatchObject({ overflows: 0, breakerOpen: false });
  });
});

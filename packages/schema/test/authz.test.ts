/** Authorization policies: what the schema accepts and refuses (with the field at fault), and the telemetry fields. */
import { describe, expect, it } from 'vitest';
import {
  AuthorizationPolicyReplace,
  AuthorizationPolicySpec,
  appliesTo,
  authorizationReceivers,
  ERRORS,
  expandPrincipal,
  isPrincipal,
  TelemetryFrame,
  Topology,
  toFieldErrors,
} from '../src/index.ts';

const base = {
  name: 'b-callers',
  destination: 'service-b',
  action: 'allow',
  rules: [{ from: [{ principal: 'service:service-a' }], to: [{ paths: ['/api/*'], methods: ['GET'] }] }],
};

function errorsAt(input: unknown) {
  const result = AuthorizationPolicySpec.safeParse(input);
  return result.success ? [] : toFieldErrors(result.error);
}

describe('AuthorizationPolicySpec', () => {
  it('accepts the documented shapes and defaults dryRun to false', () => {
    const parsed = AuthorizationPolicySpec.parse(base);
    expect(parsed.dryRun).toBe(false);
    expect(
      AuthorizationPolicySpec.parse({ name: 'default-deny', destination: '*', action: 'allow', rules: [] }),
    ).toEqual({ name: 'default-deny', destination: '*', action: 'allow', rules: [], dryRun: false });
    for (const principal of [
      '*',
      'spiffe://trellis.local/ns/default/sa/service-a',
      'spiffe://trellis.local/ns/default/*',
      'spiffe://*',
      'service:service-a',
    ]) {
      expect(isPrincipal(principal), principal).toBe(true);
    }
  });

  it.each([
    [
      'a principal that is no SPIFFE ID',
      { rules: [{ from: [{ principal: 'service-a' }] }] },
      'rules[0].from[0].principal',
    ],
    [
      'a "*" in the middle',
      { rules: [{ from: [{ principal: 'spiffe://td/*/sa/x' }] }] },
      'rules[0].from[0].principal',
    ],
    [
      'a service shorthand with a bad name',
      { rules: [{ from: [{ principal: 'service:A_b' }] }] },
      'rules[0].from[0].principal',
    ],
    ['a path without "/"', { rules: [{ to: [{ paths: ['api'] }] }] }, 'rules[0].to[0].paths[0]'],
    ['a "*" inside a path', { rules: [{ to: [{ paths: ['/a/*/b'] }] }] }, 'rules[0].to[0].paths[0]'],
    ['a query in a path', { rules: [{ to: [{ paths: ['/a?b=1'] }] }] }, 'rules[0].to[0].paths[0]'],
    ['a lower-case method', { rules: [{}, { to: [{ methods: ['get'] }] }] }, 'rules[1].to[0].methods[0]'],
    ['an empty from', { rules: [{ from: [] }] }, 'rules[0].from'],
    ['an unknown field in a rule', { rules: [{ when: [] }] }, 'rules[0].when'],
    ['an action other than allow or deny', { action: 'audit' }, 'action'],
    ['a destination that is no service name', { destination: 'Service B' }, 'destination'],
    ['a name that is no DNS label', { name: 'B' }, 'name'],
    ['dryRun not a boolean', { dryRun: 'yes' }, 'dryRun'],
    ['rules missing', { rules: undefined }, 'rules'],
  ])('refuses %s, at its field path', (_what, patch, path) => {
    const errors = errorsAt({ ...base, ...patch });
    expect(errors.map((e) => e.path)).toContain(path);
  });

  it('a replace carries the version read', () => {
    expect(AuthorizationPolicyReplace.safeParse({ ...base, version: 3 }).success).toBe(true);
    expect(AuthorizationPolicyReplace.safeParse(base).success).toBe(false);
  });

  it('expands service:<name> in the trust domain and leaves other principals alone', () => {
    expect(expandPrincipal('service:service-a', 'example.org')).toBe(
      'spiffe://example.org/ns/default/sa/service-a',
    );
    expect(expandPrincipal('spiffe://td/ns/default/*', 'example.org')).toBe('spiffe://td/ns/default/*');
  });

  it('a policy reaches the proxies of its destination only, or of every service for "*"', () => {
    const services = [
      { name: 'service-c' },
      { name: 'service-a', dependencies: ['service-b'] },
      { name: 'service-b' },
    ];
    expect(authorizationReceivers(services, 'service-b')).toEqual(['service-b']);
    expect(authorizationReceivers(services, '*')).toEqual(['service-a', 'service-b', 'service-c']);
    expect(appliesTo({ destination: '*' }, 'x')).toBe(true);
    expect(appliesTo({ destination: 'y' }, 'x')).toBe(false);
  });

  it('has its own error code for the proxy: 403 rbac_denied', () => {
    expect(ERRORS.TRELLIS_ERR_RBAC_DENIED).toMatchObject({ status: 403, tag: 'rbac_denied' });
  });
});

describe('telemetry fields', () => {
  const edge = {
    source: 'a',
    destination: 'b',
    endpoint: '10.0.0.1:80',
    requests: 2,
    byClass: { '1xx': 0, '2xx': 1, '3xx': 0, '4xx': 1, '5xx': 0, error: 0 },
    bytesIn: 0,
    bytesOut: 0,
    retries: 0,
    overflows: 0,
    latency: { p50: 1, p90: 1, p95: 1, p99: 1, max: 1, buckets: [[10, 2]] },
  };
  const frame = (edges: unknown[]) => ({
    node: { service: 'a', instance: 'a-1' },
    windowStart: 1_700_000_000_000,
    windowMs: 1000,
    edges,
    ejections: 0,
    ejected: [],
    activeRequests: 0,
  });

  it('EdgeStats counts mtls, denied and dryRunDenied, 0 when left out', () => {
    const parsed = TelemetryFrame.parse(frame([edge]));
    expect(parsed.edges[0]).toMatchObject({ mtls: 0, denied: 0, dryRunDenied: 0 });
    const full = TelemetryFrame.parse(frame([{ ...edge, mtls: 2, denied: 1, dryRunDenied: 1 }]));
    expect(full.edges[0]).toMatchObject({ mtls: 2, denied: 1, dryRunDenied: 1 });
  });

  it.each(['mtls', 'denied', 'dryRunDenied'])('refuses %s above requests', (field) => {
    const result = TelemetryFrame.safeParse(frame([{ ...edge, [field]: 3 }]));
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.path.join('.'))).toContain(`edges.0.${field}`);
  });

  it('TopologyEdge flags default for older answers', () => {
    const topology = Topology.parse({
      at: new Date(0).toISOString(),
      windowSeconds: 10,
      nodes: [],
      edges: [
        {
          source: 'a',
          destination: 'b',
          reporter: 'source',
          idle: true,
          declared: true,
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
        },
      ],
    });
    expect(topology.edges[0]).toMatchObject({ mtls: false, denied: 0, dryRunDenied: 0 });
  });
});

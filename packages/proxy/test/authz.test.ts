/** The authorization stage's decision table (Istio semantics), its reading of slashes and the dry-run log limiter. */
import { AuthorizationPolicySpec, type AuthorizationPolicySpecInput } from '@trellis/schema';
import { describe, expect, it } from 'vitest';
import { Authorizer, collapseSlashes, RateLimitedLog } from '../src/authz.ts';

const TD = 'trellis.local';
const id = (service: string) => `spiffe://${TD}/ns/default/sa/${service}`;
const A = id('service-a');
const C = id('service-c');

function authorizer(...policies: Omit<AuthorizationPolicySpecInput, 'name'>[]): Authorizer {
  const specs = policies.map((p, i) => AuthorizationPolicySpec.parse({ name: `p${i}`, ...p }));
  const authz = Authorizer.compile(specs, 'service-b');
  if (!authz) throw new Error('no policy applies');
  return authz;
}

function verdict(authz: Authorizer, identity: string | undefined, method = 'GET', path = '/') {
  return authz.evaluate({ identity, method, path }, TD);
}

describe('Authorizer', () => {
  it('applies the policies of its service and of "*" only; none means nothing to check', () => {
    const other = AuthorizationPolicySpec.parse({
      name: 'x',
      destination: 'service-c',
      action: 'allow',
      rules: [],
    });
    expect(Authorizer.compile([other], 'service-b')).toBeUndefined();
    const mesh = AuthorizationPolicySpec.parse({ name: 'm', destination: '*', action: 'allow', rules: [] });
    expect(Authorizer.compile([other, mesh], 'service-b')?.policies.map((p) => p.name)).toEqual(['m']);
  });

  it('DENY wins over ALLOW', () => {
    const authz = authorizer(
      { destination: 'service-b', action: 'allow', rules: [{ from: [{ principal: '*' }] }] },
      { destination: 'service-b', action: 'deny', rules: [{ from: [{ principal: 'service:service-a' }] }] },
    );
    expect(verdict(authz, A).denied).toBe('p1');
    expect(verdict(authz, C).denied).toBeUndefined();
  });

  it('an ALLOW policy turns the service into an allow-list', () => {
    const authz = authorizer({
      destination: 'service-b',
      action: 'allow',
      rules: [{ from: [{ principal: A }], to: [{ methods: ['GET'], paths: ['/public/*', '/health'] }] }],
    });
    expect(verdict(authz, A, 'GET', '/public/x').denied).toBeUndefined();
    expect(verdict(authz, A, 'GET', '/health').denied).toBeUndefined();
    expect(verdict(authz, A, 'GET', '/healthz').denied).toBe('p0');
    expect(verdict(authz, A, 'POST', '/public/x').denied).toBe('p0');
    expect(verdict(authz, C, 'GET', '/public/x').denied).toBe('p0');
  });

  it('empty rules match nothing: mesh-wide ALLOW with no rules is default-deny, DENY with none denies nothing', () => {
    expect(verdict(authorizer({ destination: '*', action: 'allow', rules: [] }), A).denied).toBe('p0');
    expect(verdict(authorizer({ destination: '*', action: 'deny', rules: [] }), A).denied).toBeUndefined();
  });

  it('a rule with no fields matches every request', () => {
    expect(verdict(authorizer({ destination: '*', action: 'deny', rules: [{}] }), undefined).denied).toBe(
      'p0',
    );
  });

  it('"*" matches any caller with a verified identity, and prefixes match by prefix', () => {
    const any = authorizer({ destination: '*', action: 'allow', rules: [{ from: [{ principal: '*' }] }] });
    expect(verdict(any, C).denied).toBeUndefined();
    expect(verdict(any, undefined).denied).toBe('p0');
    const ns = authorizer({
      destination: 'service-b',
      action: 'allow',
      rules: [{ from: [{ principal: `spiffe://${TD}/ns/default/*` }] }],
    });
    expect(verdict(ns, A).denied).toBeUndefined();
    expect(verdict(ns, 'spiffe://other.domain/ns/default/sa/service-a').denied).toBe('p0');
  });

  it('service:<name> means that service in the mesh trust domain', () => {
    const authz = authorizer({
      destination: 'service-b',
      action: 'deny',
      rules: [{ from: [{ principal: 'service:service-a' }] }],
    });
    expect(verdict(authz, A).denied).toBe('p0');
    expect(verdict(authz, 'spiffe://other.domain/ns/default/sa/service-a').denied).toBeUndefined();
    expect(
      authz.evaluate(
        { identity: 'spiffe://other.domain/ns/default/sa/service-a', method: 'GET', path: '/' },
        'other.domain',
      ).denied,
    ).toBe('p0');
  });

  it('a caller without identity matches no from rule, but rules without from match it', () => {
    const deny = authorizer({ destination: '*', action: 'deny', rules: [{ from: [{ principal: '*' }] }] });
    expect(verdict(deny, undefined).denied).toBeUndefined();
    const byPath = authorizer({
      destination: '*',
      action: 'deny',
      rules: [{ to: [{ paths: ['/admin*'] }] }],
    });
    expect(verdict(byPath, undefined, 'GET', '/admin/x').denied).toBe('p0');
    expect(verdict(byPath, undefined, 'GET', '/public').denied).toBeUndefined();
  });

  it('every field of a rule must match; any source and any operation of a field', () => {
    const authz = authorizer({
      destination: 'service-b',
      action: 'deny',
      rules: [
        {
          from: [{ principal: C }, { principal: A }],
          to: [{ methods: ['DELETE'] }, { paths: ['/secret'] }],
        },
      ],
    });
    expect(verdict(authz, A, 'DELETE', '/x').denied).toBe('p0');
    expect(verdict(authz, A, 'GET', '/secret').denied).toBe('p0');
    expect(verdict(authz, A, 'GET', '/x').denied).toBeUndefined();
    expect(verdict(authz, id('service-d'), 'DELETE', '/x').denied).toBeUndefined();
  });

  it('reads a run of slashes as one (escapes and dots are resolved before, by the listener: http-path.ts)', () => {
    const authz = authorizer({ destination: '*', action: 'deny', rules: [{ to: [{ paths: ['/admin*'] }] }] });
    for (const path of ['//admin', '/admin', '///admin//x']) {
      expect(verdict(authz, A, 'GET', path).denied, path).toBe('p0');
    }
    expect(verdict(authz, A, 'GET', '/x/admin').denied).toBeUndefined();
    expect(collapseSlashes('/a//b///c/')).toBe('/a/b/c/');
    const plain = '/a/b';
    expect(collapseSlashes(plain)).toBe(plain);
  });

  it('dry-run policies are evaluated as if enforced and reported, never enforced', () => {
    const authz = authorizer({
      destination: 'service-b',
      action: 'deny',
      dryRun: true,
      rules: [{ from: [{ principal: A }] }],
    });
    expect(verdict(authz, A)).toEqual({ denied: undefined, dryRunDenied: 'p0' });
    expect(verdict(authz, C)).toEqual({ denied: undefined, dryRunDenied: undefined });
    // A dry-run allow-list next to an enforced one: the shadow result is their union.
    const both = authorizer(
      { destination: 'service-b', action: 'allow', rules: [{ from: [{ principal: A }] }] },
      { destination: 'service-b', action: 'allow', dryRun: true, rules: [{ from: [{ principal: C }] }] },
      { destination: '*', action: 'allow', dryRun: true, rules: [] },
    );
    expect(verdict(both, A)).toEqual({ denied: undefined, dryRunDenied: undefined });
    expect(verdict(both, id('service-d'))).toEqual({ denied: 'p0', dryRunDenied: undefined });
    // An enforced denial is not also reported as a dry-run one.
    const enforced = authorizer(
      { destination: '*', action: 'deny', rules: [{}] },
      { destination: '*', action: 'deny', dryRun: true, rules: [{}] },
    );
    expect(verdict(enforced, A)).toEqual({ denied: 'p0', dryRunDenied: undefined });
  });
});

describe('RateLimitedLog', () => {
  it('logs a key at most once per interval and says how many it left out', () => {
    const log = new RateLimitedLog(1000);
    expect(log.take('p', 0)).toEqual({ log: true, suppressed: 0 });
    expect(log.take('p', 10).log).toBe(false);
    expect(log.take('p', 20).log).toBe(false);
    expect(log.take('q', 20).log).toBe(true);
    expect(log.take('p', 1000)).toEqual({ log: true, suppressed: 2 });
  });
});

import { type AuthorizationPolicy, AuthorizationPolicySpec } from '@trellis/schema';
import { describe, expect, it } from 'vitest';
import {
  authorizationNewPath,
  authzFields,
  diffAuthz,
  emptyRule,
  formValuesOf,
  newAuthzOf,
  specOf,
  summary,
  validateCreate,
  validateReplace,
} from '../src/features/authz/form.ts';
import { placeErrors } from '../src/features/rules/form.ts';

const STORED: AuthorizationPolicy = {
  ...AuthorizationPolicySpec.parse({
    name: 'b-callers',
    destination: 'service-b',
    action: 'allow',
    rules: [
      {
        from: [
          { principal: 'service:service-a' },
          { principal: '*' },
          { principal: 'spiffe://trellis.local/ns/default/sa/ops-*' },
        ],
        to: [{ paths: ['/api/*', '/healthz'], methods: ['GET'] }, { methods: ['POST'] }],
      },
    ],
  }),
  id: 'z1',
  version: 3,
  createdAt: '2026-11-26T00:00:00.000Z',
  updatedAt: '2026-11-26T00:00:00.000Z',
};

describe('formValuesOf and specOf', () => {
  it('splits callers into picked services, any caller and other principals, and puts them back', () => {
    const values = formValuesOf(STORED);
    expect(values.rules[0]).toEqual({
      services: ['service-a'],
      anyCaller: true,
      principals: 'spiffe://trellis.local/ns/default/sa/ops-*',
      paths: '/api/*, /healthz',
      methods: ['GET'],
      moreOperations: [{ methods: ['POST'] }],
    });
    const { id: _i, version: _v, createdAt: _c, updatedAt: _u, ...spec } = STORED;
    expect(specOf(values)).toEqual(spec);
  });

  it('leaves out what a rule does not restrict', () => {
    const spec = specOf({
      name: 'x',
      destination: '*',
      action: 'deny',
      dryRun: true,
      rules: [{ ...emptyRule(), services: ['service-a'] }, emptyRule()],
    });
    expect(spec.rules).toEqual([{ from: [{ principal: 'service:service-a' }] }, {}]);
    expect(spec.dryRun).toBe(true);
  });
});

describe('newAuthzOf', () => {
  it('opened from an edge: a deny of that caller at that destination', () => {
    const spec = newAuthzOf({ destination: 'service-b', source: 'service-a' });
    expect(spec).toEqual({
      name: 'deny-service-a-to-service-b',
      destination: 'service-b',
      action: 'deny',
      rules: [{ from: [{ principal: 'service:service-a' }] }],
      dryRun: false,
    });
    expect(validateCreate(formValuesOf(spec)).ok).toBe(true);
    expect(authorizationNewPath({ destination: 'service-b', source: 'service-a', action: 'deny' })).toBe(
      '/authorization/new?destination=service-b&source=service-a&action=deny',
    );
  });
});

describe('validation', () => {
  it('places the API schema’s errors on the rule’s fields', () => {
    const values = formValuesOf(STORED);
    values.rules = values.rules.map((r) => ({ ...r, principals: 'not-a-principal', paths: 'api' }));
    const result = validateReplace(STORED, values);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const placed = placeErrors(result.errors, authzFields(values, false));
    expect(Object.keys(placed.byField).sort()).toEqual(['rules[0].from', 'rules[0].to[0].paths']);
    expect(placed.byField['rules[0].from']?.[0]).toMatch(/^\[2\]\.principal: must be a SPIFFE ID/);
  });

  it('a new policy needs a destination and a name', () => {
    const result = validateCreate(formValuesOf(newAuthzOf({ destination: '' })));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors.map((e) => e.path)).toEqual(['destination']);
  });

  it('a replace carries the version read', () => {
    const result = validateReplace(STORED, formValuesOf(STORED));
    expect(result.ok && result.body.version).toBe(3);
  });
});

describe('diffAuthz', () => {
  it('shows each changed field with its label, and nothing for metadata', () => {
    const values = formValuesOf(STORED);
    const after = specOf({ ...values, action: 'deny', dryRun: true });
    expect(diffAuthz(STORED, after)).toEqual([
      { field: 'action', label: 'Action', from: 'allow', to: 'deny' },
      { field: 'dryRun', label: 'Dry run', from: 'false', to: 'true' },
    ]);
  });
});

describe('summary', () => {
  it('says what a policy does in a line', () => {
    expect(summary(newAuthzOf({ destination: 'service-b', source: 'service-a' }))).toBe(
      'Denies service-a → service-b',
    );
    expect(summary({ action: 'allow', destination: '*', rules: [], dryRun: true })).toBe(
      'Denies every request to every service (dry run)',
    );
  });
});

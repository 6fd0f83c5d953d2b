import { type RouteRule, RouteRuleSpec, type TrafficPolicy, TrafficPolicySpec } from '@trellis/schema';
import { describe, expect, it } from 'vitest';
import { defaultRouteOf, isEdgeIntent, resolveEdge } from '../src/features/rules/edge.ts';
import { appliedOf, openedFrom } from '../src/features/rules/params.ts';

const meta = {
  id: 'x',
  version: 1,
  createdAt: '2026-11-25T20:00:00.000Z',
  updatedAt: '2026-11-25T20:00:00.000Z',
};
const route = (input: Parameters<typeof RouteRuleSpec.parse>[0]): RouteRule => ({
  ...RouteRuleSpec.parse(input),
  ...meta,
});
const policy = (input: Parameters<typeof TrafficPolicySpec.parse>[0]): TrafficPolicy => ({
  ...TrafficPolicySpec.parse(input),
  ...meta,
});

const matched = route({
  name: 'b-header',
  service: 'service-b',
  priority: 10,
  match: [{ path: { prefix: '/x' } }],
});
const canary = route({ name: 'b-canary', service: 'service-b', priority: 100 });
const other = route({ name: 'c-retries', service: 'service-c' });

describe('resolveEdge', () => {
  it('sends split and retry to the default route of the destination, with intent and caller', () => {
    expect(
      resolveEdge(
        { source: 'service-a', destination: 'service-b', intent: 'split' },
        [other, matched, canary],
        [],
      ),
    ).toBe('/routes/b-canary/edit?intent=split&source=service-a');
    expect(resolveEdge({ source: undefined, destination: 'service-b', intent: 'retry' }, [canary], [])).toBe(
      '/routes/b-canary/edit?intent=retry',
    );
  });

  it('takes the rule tried last when every rule has matches', () => {
    const later = route({
      name: 'b-later',
      service: 'service-b',
      priority: 500,
      match: [{ methods: ['GET'] }],
    });
    expect(defaultRouteOf([matched, later])?.name).toBe('b-later');
    expect(
      resolveEdge({ source: 'a', destination: 'service-b', intent: 'split' }, [later, matched], []),
    ).toBe('/routes/b-later/edit?intent=split&source=a');
  });

  it('among rules without matches, takes the one the proxy tries first', () => {
    const second = route({ name: 'a-second', service: 'service-b', priority: 200 });
    expect(defaultRouteOf([second, canary])?.name).toBe('b-canary');
  });

  it('opens a new route rule of the destination when it has none', () => {
    expect(
      resolveEdge({ source: 'service-b', destination: 'service-c', intent: 'split' }, [canary], []),
    ).toBe('/routes/new?intent=split&source=service-b&service=service-c');
  });

  it("sends breaker to the destination's policy, the whole-service one first, else a new one", () => {
    const subsetPolicy = policy({ name: 'a-v2', service: 'service-c', subset: { version: 'v2' } });
    const whole = policy({ name: 'service-c-defaults', service: 'service-c' });
    const elsewhere = policy({ name: 'b-policy', service: 'service-b' });
    expect(
      resolveEdge(
        { source: 'service-b', destination: 'service-c', intent: 'breaker' },
        [other],
        [elsewhere, subsetPolicy, whole],
      ),
    ).toBe('/policies/service-c-defaults/edit?intent=breaker&source=service-b');
    expect(
      resolveEdge({ source: 'x', destination: 'service-c', intent: 'breaker' }, [], [subsetPolicy]),
    ).toBe('/policies/a-v2/edit?intent=breaker&source=x');
    expect(
      resolveEdge({ source: 'service-a', destination: 'service-b', intent: 'breaker' }, [canary], []),
    ).toBe('/policies/new?intent=breaker&source=service-a&service=service-b');
  });
});

describe('page parameters', () => {
  it('keeps only known intents', () => {
    expect(isEdgeIntent('split')).toBe(true);
    expect(isEdgeIntent('delete')).toBe(false);
    expect(openedFrom({ intent: 'breaker', source: 'service-b' })).toEqual({
      intent: 'breaker',
      source: 'service-b',
    });
    expect(openedFrom({ intent: 'nope', source: ['a', 'b'] })).toEqual({});
  });

  it('reads the revision of a create', () => {
    expect(appliedOf({ applied: '42' })).toEqual({ revision: 42 });
    expect(appliedOf({ applied: 'x' })).toBeUndefined();
    expect(appliedOf({})).toBeUndefined();
  });
});

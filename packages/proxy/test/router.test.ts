/** The router: priority order, AND within a match, OR across matches, whole-value regexes, default route. */
import { RouteRuleSpec, type RouteRuleSpecInput } from '@trellis/schema';
import { describe, expect, it } from 'vitest';
import { Fields } from '../src/http1/fields.ts';
import { mulberry32 } from '../src/rng.ts';
import { pickWeighted, Router } from '../src/router.ts';

/** A request's fields, as the router reads them. */
const h = (fields: Record<string, string>) => Fields.of(fields);

const rules = (list: RouteRuleSpecInput[]) => list.map((r) => RouteRuleSpec.parse(r));
const router = (list: RouteRuleSpecInput[]) => new Router(rules(list), (rule) => rule.name, 'svc');

describe('router', () => {
  it('tries rules in ascending priority, then by name', () => {
    const r = router([
      { name: 'b-catch-all', service: 'svc', priority: 5 },
      { name: 'a-catch-all', service: 'svc', priority: 5 },
      { name: 'first', service: 'svc', priority: 1, match: [{ path: { prefix: '/x' } }] },
    ]);
    expect(r.route('GET', '/x/1', h({}))?.target).toBe('first');
    expect(r.route('GET', '/y', h({}))?.target).toBe('a-catch-all');
  });

  it('needs every condition of one match, and any one match', () => {
    const r = router([
      {
        name: 'r',
        service: 'svc',
        match: [
          { path: { prefix: '/api' }, methods: ['POST'], headers: [{ name: 'X-Env', exact: 'prod' }] },
          { headers: [{ name: 'x-debug', present: true }] },
        ],
      },
    ]);
    expect(r.route('POST', '/api/a', h({ 'x-env': 'prod' }))?.target).toBe('r');
    expect(r.route('GET', '/api/a', h({ 'x-env': 'prod' }))).toBeUndefined();
    expect(r.route('POST', '/api/a', h({ 'x-env': 'dev' }))).toBeUndefined();
    expect(r.route('GET', '/other', h({ 'x-debug': '' }))?.target).toBe('r');
  });

  it('matches regexes against the whole value and `present: false` as absence', () => {
    const r = router([
      { name: 'rx', service: 'svc', match: [{ path: { regex: '/items/[0-9]+' } }] },
      {
        name: 'anon',
        service: 'svc',
        priority: 200,
        match: [{ headers: [{ name: 'authorization', present: false }] }],
      },
    ]);
    expect(r.route('GET', '/items/42', h({ authorization: 'x' }))?.target).toBe('rx');
    expect(r.route('GET', '/items/42/x', h({ authorization: 'x' }))).toBeUndefined();
    expect(r.route('GET', '/items/42/x', h({}))?.target).toBe('anon');
  });

  it('gives a service without rules a default route', () => {
    const r = router([]);
    expect(r.route('DELETE', '/anything', h({}))?.rule.timeoutMs).toBe(15_000);
  });

  it('picks weighted destinations in proportion, never a zero weight', () => {
    const rng = mulberry32(9);
    const tally = [0, 0, 0];
    for (let i = 0; i < 10_000; i++) {
      const k = pickWeighted([70, 0, 30], rng);
      tally[k] = (tally[k] ?? 0) + 1;
    }
    expect(tally[1]).toBe(0);
    expect(Math.abs((tally[0] ?? 0) / 10_000 - 0.7)).toBeLessThan(0.02);
  });
});

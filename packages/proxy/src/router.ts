/**
 * Route matching for one destination service, as Istio's VirtualService: rules in ascending priority (then
 * name), the first whose match list has a match that holds wins. Regexes match the whole value, with RE2 as in
 * Envoy (the schema's compileRegex): time linear in the value whatever the pattern, compiled once per snapshot. A
 * service with no rules gets a default route; a service with rules but no match gets no_route.
 */
import { compileRegex, type HttpMatch, type RouteRuleSpec } from '@trellis/schema';
import { defaultRoute } from './schemas.ts';
import type { Rng } from './types.ts';

/** What matching reads of a request's fields (http1/Fields): a field's value, several joined with ", ". */
export interface HeaderLookup {
  get(lowerName: string): string | undefined;
  has(lowerName: string): boolean;
}

type Matcher = (method: string, path: string, headers: HeaderLookup) => boolean;

function compileMatch(match: HttpMatch): Matcher {
  const checks: Matcher[] = [];
  const p = match.path;
  if (p?.exact !== undefined) {
    const exact = p.exact;
    checks.push((_m, path) => path === exact);
  } else if (p?.prefix !== undefined) {
    const prefix = p.prefix;
    checks.push((_m, path) => path.startsWith(prefix));
  } else if (p?.regex !== undefined) {
    const re = compileRegex(p.regex);
    checks.push((_m, path) => re.testExact(path));
  }
  if (match.methods && match.methods.length > 0) {
    const methods = new Set<string>(match.methods);
    checks.push((method) => methods.has(method));
  }
  for (const h of match.headers) {
    const name = h.name.toLowerCase();
    if (h.exact !== undefined) {
      const exact = h.exact;
      checks.push((_m, _p, headers) => headers.get(name) === exact);
    } else if (h.regex !== undefined) {
      const re = compileRegex(h.regex);
      checks.push((_m, _p, headers) => {
        const v = headers.get(name);
        return v !== undefined && re.testExact(v);
      });
    } else if (h.present !== undefined) {
      const present = h.present;
      checks.push((_m, _p, headers) => headers.has(name) === present);
    }
  }
  return (method, path, headers) => {
    for (const check of checks) if (!check(method, path, headers)) return false;
    return true;
  };
}

export interface CompiledRoute<T> {
  rule: RouteRuleSpec;
  matches(method: string, path: string, headers: HeaderLookup): boolean;
  /** What the proxy built for this rule (its stage chain); attached by the caller. */
  target: T;
}

export class Router<T> {
  private readonly routes: CompiledRoute<T>[];

  constructor(rules: readonly RouteRuleSpec[], build: (rule: RouteRuleSpec) => T, service: string) {
    const sorted = [...rules].sort((a, b) => a.priority - b.priority || a.name.localeCompare(b.name));
    const effective = sorted.length > 0 ? sorted : [defaultRoute(service)];
    this.routes = effective.map((rule) => {
      const matchers = rule.match.map(compileMatch);
      return {
        rule,
        matches: matchers.length === 0 ? () => true : (m, p, h) => matchers.some((fn) => fn(m, p, h)),
        target: build(rule),
      };
    });
  }

  /** `path` without the query string. */
  route(method: string, path: string, headers: HeaderLookup): CompiledRoute<T> | undefined {
    for (const r of this.routes) if (r.matches(method, path, headers)) return r;
    return undefined;
  }

  get all(): readonly CompiledRoute<T>[] {
    return this.routes;
  }
}

/** Picks a destination index by weight (weights sum to 100). */
export function pickWeighted(weights: readonly number[], rng: Rng): number {
  let roll = rng() * 100;
  for (let i = 0; i < weights.length; i++) {
    roll -= weights[i] as number;
    if (roll < 0) return i;
  }
  for (let i = weights.length - 1; i >= 0; i--) if ((weights[i] as number) > 0) return i;
  return 0;
}

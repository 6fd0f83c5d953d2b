/**
 * Matching as the proxy does it on every request (route regexes with RE2, subset selectors), in a file without
 * zod: a built sidecar loads zod only to validate (packages/proxy/src/schemas.ts).
 */
import { RE2JS } from 're2js';
import type { Labels, Subset } from './common.ts';

/**
 * Compiles a route regex for matching the whole value, with RE2 (re2js), as Envoy does: matching takes time linear
 * in the input whatever the pattern, so a rule such as "(a+)+b" cannot stall a proxy on a crafted path. The API
 * validates with this very function, so a rule it accepts can never fail in the proxy. Throws on what RE2 refuses
 * (backreferences, lookaround, repeat counts over 1000).
 */
export function compileRegex(source: string): RE2JS {
  return RE2JS.compile(source);
}

/** Why RE2 cannot compile `source`, or undefined when it can. */
export function regexError(source: string): string | undefined {
  try {
    compileRegex(source);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

export function isValidRegex(source: string): boolean {
  return regexError(source) === undefined;
}

/** Canonical text of a subset selector, used to tell two subsets apart: "k1=v1,k2=v2" with keys sorted. */
export function subsetKey(subset: Subset): string {
  return Object.keys(subset)
    .sort()
    .map((key) => `${key}=${subset[key]}`)
    .join(',');
}

/** True when an endpoint's labels satisfy a subset selector. */
export function matchesSubset(labels: Labels, subset: Subset): boolean {
  for (const key in subset) {
    if (labels[key] !== subset[key]) return false;
  }
  return true;
}

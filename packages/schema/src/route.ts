/**
 * A RouteRule: how HTTP requests to one destination service are matched and where they go. Rules of a service
 * are tried in ascending `priority` (ties by name); the first whose `match` fits wins, like Istio's VirtualService.
 */
import { z } from 'zod';
import {
  count,
  DnsLabel,
  durationMs,
  HeaderName,
  HeaderValue,
  Percent,
  Regex,
  Subset,
  text,
  typeError,
} from './common.ts';
import { subsetKey } from './match.ts';
import { DEFAULT_ROUTE_TIMEOUT_MS } from './wire-limits.ts';

function exactlyOne<T extends object>(keys: readonly (keyof T & string)[], what: string) {
  return (value: T, ctx: z.core.$RefinementCtx<T>) => {
    const present = keys.filter((key) => value[key] !== undefined);
    if (present.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `${what} needs exactly one of ${keys.join(', ')}${present.length > 1 ? `, got ${present.join(' and ')}` : ''}`,
      });
    }
  };
}

export const PathMatch = z
  .strictObject({
    exact: text(2048).startsWith('/', { error: 'must start with "/"' }).optional(),
    prefix: text(2048).startsWith('/', { error: 'must start with "/"' }).optional(),
    regex: Regex.optional(),
  })
  .superRefine(exactlyOne(['exact', 'prefix', 'regex'], 'a path match'));
export type PathMatch = z.infer<typeof PathMatch>;

export const HeaderMatch = z
  .strictObject({
    name: HeaderName,
    exact: HeaderValue.optional(),
    regex: Regex.optional(),
    /** true: the header must be present; false: it must be absent. */
    present: z.boolean({ error: typeError('true or false') }).optional(),
  })
  .superRefine(exactlyOne(['exact', 'regex', 'present'], 'a header match'));
export type HeaderMatch = z.infer<typeof HeaderMatch>;

export const HttpMethod = z.enum(
  ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE'],
  {
    error: 'must be an upper-case HTTP method such as GET or POST',
  },
);
export type HttpMethod = z.infer<typeof HttpMethod>;

/** All conditions of one match must hold; a rule with several matches applies when any of them holds. */
export const HttpMatch = z.strictObject({
  path: PathMatch.optional(),
  methods: z.array(HttpMethod).max(9).optional(),
  headers: z.array(HeaderMatch).max(32, { error: 'at most 32 header matches' }).default([]),
});
export type HttpMatch = z.infer<typeof HttpMatch>;

export const Destination = z.strictObject({
  /** Label selector picking the endpoints of this destination; empty means every endpoint of the service. */
  subset: Subset.default({}),
  weight: count(0, 100),
});
export type Destination = z.infer<typeof Destination>;

export const RetryOn = z.enum(
  ['5xx', 'gateway-error', 'connect-failure', 'reset', 'retriable-status-codes'],
  {
    error: 'must be one of "5xx", "gateway-error", "connect-failure", "reset", "retriable-status-codes"',
  },
);
export type RetryOn = z.infer<typeof RetryOn>;

/** Exponential backoff with full jitter between `baseIntervalMs` and `maxIntervalMs` (Envoy's defaults). */
export const Backoff = z
  .strictObject({
    baseIntervalMs: durationMs().default(25),
    maxIntervalMs: durationMs().default(250),
  })
  .refine((b) => b.maxIntervalMs >= b.baseIntervalMs, {
    path: ['maxIntervalMs'],
    error: 'must be at least baseIntervalMs',
  });

export const RetryPolicy = z.strictObject({
  /** Retries after the first try (0 turns retries off). Istio's default is 2. */
  attempts: count(0, 10).default(2),
  perTryTimeoutMs: durationMs().optional(),
  retryOn: z.array(RetryOn).max(5).default(['connect-failure', 'reset']),
  /** Response statuses retried when retryOn holds "retriable-status-codes". */
  retriableStatusCodes: z.array(count(100, 599)).max(32).default([]),
  backoff: Backoff.prefault({}),
});
export type RetryPolicy = z.infer<typeof RetryPolicy>;

export const FaultInjection = z.strictObject({
  delay: z.strictObject({ fixedDelayMs: durationMs(), percent: Percent }).optional(),
  abort: z.strictObject({ httpStatus: count(400, 599), percent: Percent }).optional(),
});
export type FaultInjection = z.infer<typeof FaultInjection>;

/** A fire-and-forget copy of the request to a subset; its response is dropped. */
export const Mirror = z.strictObject({
  subset: Subset.default({}),
  percent: Percent.default(100),
});
export type Mirror = z.infer<typeof Mirror>;

/** Headers a rule may not touch: connection-level (RFC 9110 §7.6.1) or owned by the proxy. */
const PROTECTED_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'host',
  'content-length',
]);

const MutableHeaderName = HeaderName.refine((name) => !PROTECTED_HEADERS.has(name.toLowerCase()), {
  error: (issue) => `header ${JSON.stringify(issue.input)} is managed by the proxy and cannot be changed`,
});

export const HeaderOps = z.strictObject({
  set: z.record(MutableHeaderName, HeaderValue).default({}),
  remove: z.array(MutableHeaderName).max(64).default([]),
});
export type HeaderOps = z.infer<typeof HeaderOps>;

/** The fields of a route rule, before the cross-field checks; compose resources from `.shape`. */
export const RouteRuleFields = z.strictObject({
  name: DnsLabel,
  /** The destination service whose traffic this rule steers. */
  service: DnsLabel,
  priority: count(0, 1_000_000).default(100),
  match: z.array(HttpMatch).max(32, { error: 'at most 32 matches' }).default([]),
  destinations: z
    .array(Destination)
    .min(1, { error: 'needs at least one destination' })
    .max(16, { error: 'at most 16 destinations' })
    .default([{ subset: {}, weight: 100 }]),
  timeoutMs: durationMs().default(DEFAULT_ROUTE_TIMEOUT_MS),
  retries: RetryPolicy.prefault({}),
  fault: FaultInjection.optional(),
  mirror: Mirror.optional(),
  headers: z
    .strictObject({
      request: HeaderOps.prefault({}),
      response: HeaderOps.prefault({}),
    })
    .prefault({}),
});

type RuleForChecks = Pick<z.infer<typeof RouteRuleFields>, 'destinations' | 'retries' | 'timeoutMs'>;

/** Cross-field rules of a route: weights sum to 100, distinct subsets, per-try timeout within the route timeout. */
export function checkRouteRule(rule: RuleForChecks, ctx: z.core.$RefinementCtx<RuleForChecks>): void {
  const total = rule.destinations.reduce((sum, d) => sum + d.weight, 0);
  if (total !== 100) {
    ctx.addIssue({
      code: 'custom',
      path: ['destinations'],
      message: `weights must sum to 100, got ${total}`,
    });
  }
  const seen = new Map<string, number>();
  rule.destinations.forEach((d, index) => {
    const key = subsetKey(d.subset);
    const first = seen.get(key);
    if (first !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['destinations', index, 'subset'],
        message: `same subset as destinations[${first}]`,
      });
    } else seen.set(key, index);
  });
  if (rule.retries.perTryTimeoutMs !== undefined && rule.retries.perTryTimeoutMs > rule.timeoutMs) {
    ctx.addIssue({
      code: 'custom',
      path: ['retries', 'perTryTimeoutMs'],
      message: `must not exceed timeoutMs (${rule.timeoutMs})`,
    });
  }
  if (
    rule.retries.retryOn.includes('retriable-status-codes') &&
    rule.retries.retriableStatusCodes.length === 0
  ) {
    ctx.addIssue({
      code: 'custom',
      path: ['retries', 'retriableStatusCodes'],
      message: 'must list at least one status when retryOn holds "retriable-status-codes"',
    });
  }
}

export const RouteRuleSpec = RouteRuleFields.superRefine(checkRouteRule);
export type RouteRuleSpec = z.infer<typeof RouteRuleSpec>;
export type RouteRuleSpecInput = z.input<typeof RouteRuleSpec>;

/**
 * A TrafficPolicy: how the proxies treat one destination service (or one subset of it): load balancing,
 * the connection-pool circuit breaker, the retry budget and outlier detection, as in Istio's DestinationRule.
 * Every limit has a finite default (Envoy's), so an unconfigured service is still protected.
 */
import { z } from 'zod';
import { count, DnsLabel, durationMs, HeaderName, Percent, Subset, typeError } from './common.ts';

export const LoadBalancer = z.discriminatedUnion(
  'type',
  [
    z.strictObject({ type: z.literal('round_robin') }),
    /** Power of two choices: pick `choiceCount` endpoints at random, send to the one with fewer active requests. */
    z.strictObject({ type: z.literal('least_request'), choiceCount: count(2, 10).default(2) }),
    z.strictObject({ type: z.literal('random') }),
    /** Consistent hashing on a request header (Ketama ring), for session affinity. */
    z
      .strictObject({
        type: z.literal('ring_hash'),
        hashHeader: HeaderName,
        minimumRingSize: count(1, 8_388_608).default(1024),
        maximumRingSize: count(1, 8_388_608).default(8_388_608),
      })
      .refine((lb) => lb.maximumRingSize >= lb.minimumRingSize, {
        path: ['maximumRingSize'],
        error: 'must be at least minimumRingSize',
      }),
  ],
  { error: 'must be "round_robin", "least_request", "random" or "ring_hash"' },
);
export type LoadBalancer = z.infer<typeof LoadBalancer>;
export type LoadBalancerType = LoadBalancer['type'];

const LIMIT = 10_000_000;

/** Envoy's circuit-breaker thresholds; they are never infinite. */
export const ConnectionPool = z.strictObject({
  maxConnections: count(1, LIMIT).default(1024),
  maxPendingRequests: count(1, LIMIT).default(1024),
  maxRequests: count(1, LIMIT).default(1024),
  maxRetries: count(0, LIMIT).default(3),
  connectTimeoutMs: durationMs().default(10_000),
});
export type ConnectionPool = z.infer<typeof ConnectionPool>;

/** Retries allowed as a share of active requests, with a floor so that quiet services can still retry. */
export const RetryBudget = z.strictObject({
  enabled: z.boolean({ error: typeError('true or false') }).default(true),
  budgetPercent: Percent.default(20),
  minRetriesPerSecond: count(0, 1_000_000).default(10),
});
export type RetryBudget = z.infer<typeof RetryBudget>;

export const SuccessRateDetection = z.strictObject({
  minimumHosts: count(1, 10_000).default(5),
  requestVolume: count(1, 10_000_000).default(100),
  /** Ejection threshold: mean − stdevFactor × stdev of the success rates of all endpoints. */
  stdevFactor: z
    .number({ error: typeError('a number') })
    .positive({ error: 'must be positive' })
    .max(100)
    .default(1.9),
});
export type SuccessRateDetection = z.infer<typeof SuccessRateDetection>;

/** Passive health checking, as in Envoy: consecutive errors eject an endpoint for baseEjectionTime × ejections. */
export const OutlierDetection = z
  .strictObject({
    enabled: z.boolean({ error: typeError('true or false') }).default(true),
    /** Consecutive 5xx responses (or connect failures) that eject an endpoint; 0 turns this detector off. */
    consecutive5xx: count(0, 1_000_000).default(5),
    /** Consecutive 502/503/504 or connect failures that eject an endpoint; 0 turns this detector off. */
    consecutiveGatewayErrors: count(0, 1_000_000).default(0),
    intervalMs: durationMs().default(10_000),
    baseEjectionTimeMs: durationMs().default(30_000),
    maxEjectionTimeMs: durationMs().default(300_000),
    /** At most this share of a cluster's endpoints is ejected at once (at least one endpoint can always be). */
    maxEjectionPercent: Percent.default(10),
    successRate: SuccessRateDetection.optional(),
  })
  .refine((o) => o.maxEjectionTimeMs >= o.baseEjectionTimeMs, {
    path: ['maxEjectionTimeMs'],
    error: 'must be at least baseEjectionTimeMs',
  });
export type OutlierDetection = z.infer<typeof OutlierDetection>;

/** Active health checking: the proxy probes each endpoint with an HTTP GET, as Envoy's HTTP health checker. */
export const HealthCheck = z
  .strictObject({
    path: z.string().startsWith('/', { error: 'must start with "/"' }).max(1024).default('/healthz'),
    intervalMs: durationMs(100).default(10_000),
    timeoutMs: durationMs().default(1_000),
    healthyThreshold: count(1, 100).default(2),
    unhealthyThreshold: count(1, 100).default(3),
  })
  .refine((h) => h.timeoutMs <= h.intervalMs, { path: ['timeoutMs'], error: 'must not exceed intervalMs' });
export type HealthCheck = z.infer<typeof HealthCheck>;

export const TrafficPolicySpec = z.strictObject({
  name: DnsLabel,
  service: DnsLabel,
  /** Applies to the endpoints matching this selector only; absent means the whole service. */
  subset: Subset.optional(),
  loadBalancer: LoadBalancer.prefault({ type: 'least_request' }),
  connectionPool: ConnectionPool.prefault({}),
  retryBudget: RetryBudget.prefault({}),
  outlierDetection: OutlierDetection.prefault({}),
  /** Below this share of healthy endpoints the balancer ignores health and uses them all (Envoy's panic mode). */
  panicThresholdPercent: Percent.default(50),
  healthCheck: HealthCheck.optional(),
});
export type TrafficPolicySpec = z.infer<typeof TrafficPolicySpec>;
export type TrafficPolicySpecInput = z.input<typeof TrafficPolicySpec>;

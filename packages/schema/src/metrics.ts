/**
 * What the control plane makes of telemetry frames, as the console and the CLI read it: the live topology
 * (GET /api/v1/topology and the telemetry stream) and time series (GET /api/v1/metrics). Declared here, beside the
 * frames they come from, so that every reader validates the same shapes.
 *
 * Every call is seen twice, like Istio's `reporter` label: by the caller's outbound proxy (reporter "source") and
 * by the callee's inbound proxy (reporter "destination"). Each number below says which side it came from.
 */
import { z } from 'zod';
import { typeError } from './common.ts';

/**
 * A service's state at a glance: healthy, degraded or failing from its success rate and its endpoints' health;
 * idle when it has neither traffic nor endpoints. The thresholds live with the control plane's health rules.
 */
export const ServiceHealth = z.enum(['healthy', 'degraded', 'failing', 'idle']);
export type ServiceHealth = z.infer<typeof ServiceHealth>;

export const Reporter = z.enum(['source', 'destination']);
export type Reporter = z.infer<typeof Reporter>;

/**
 * Traffic over a span of time. Rates are fractions (0–1) of `requests`; a 4xx counts as a success (the service
 * answered; the caller was wrong), a 5xx or no response at all as an error. Latencies are milliseconds from merged
 * histograms, so within half a histogram bucket (1.6 %). Rates and latencies are null without requests.
 */
export const TrafficStats = z.object({
  requests: z.number().int(),
  rps: z.number(),
  successRate: z.number().nullable(),
  errorRate: z.number().nullable(),
  p50: z.number().nullable(),
  p95: z.number().nullable(),
  p99: z.number().nullable(),
  bytesIn: z.number().int(),
  bytesOut: z.number().int(),
  retries: z.number().int(),
});
export type TrafficStats = z.infer<typeof TrafficStats>;

export const EndpointCounts = z.object({
  total: z.number().int(),
  healthy: z.number().int(),
  unhealthy: z.number().int(),
  draining: z.number().int(),
});
export type EndpointCounts = z.infer<typeof EndpointCounts>;

export const TopologyNode = z.object({
  ...TrafficStats.shape,
  service: z.string(),
  /** A service of the mesh; false for names only seen in traffic (an unknown caller, an egress host). */
  registered: z.boolean(),
  health: ServiceHealth,
  /** Whose reports the traffic numbers come from: the service's inbound proxies, else its callers'; null when idle. */
  reporter: Reporter.nullable(),
  endpoints: EndpointCounts,
  /**
   * Endpoints that outlier detection holds ejected now, as the proxies calling the service last reported in the
   * live window: the endpoint's "address:port" and how many of those proxies hold it ejected. Empty when none.
   */
  ejectedEndpoints: z.array(z.object({ endpoint: z.string(), proxies: z.number().int() })).default([]),
});
export type TopologyNode = z.infer<typeof TopologyNode>;

export const TopologyEdge = z.object({
  ...TrafficStats.shape,
  source: z.string(),
  destination: z.string(),
  /** "source" when the caller has a proxy that reports its calls; "destination" for callers without one. */
  reporter: Reporter,
  /** No requests in the live window (a declared dependency not called lately, or a call that stopped). */
  idle: z.boolean(),
  /** The source service lists the destination among its dependencies. */
  declared: z.boolean(),
  /** Requests refused by circuit-breaker limits on this edge in the live window. */
  overflows: z.number().int().default(0),
  /** A circuit breaker refused requests on this edge in the live window (overflows > 0). */
  breakerOpen: z.boolean().default(false),
  /** Every request on this edge in the live window went over mutual TLS, and there was at least one. */
  mtls: z.boolean().default(false),
  /** Requests an authorization policy denied on this edge in the live window. */
  denied: z.number().int().default(0),
  /** Requests a dry-run authorization policy would have denied on this edge in the live window (let through). */
  dryRunDenied: z.number().int().default(0),
});
export type TopologyEdge = z.infer<typeof TopologyEdge>;

/** The mesh as the live view sees it over the last `windowSeconds` complete seconds before `at`. */
export const Topology = z.object({
  at: z.iso.datetime(),
  windowSeconds: z.number().int(),
  nodes: z.array(TopologyNode),
  edges: z.array(TopologyEdge),
});
export type Topology = z.infer<typeof Topology>;

/** A service name or an egress host: what can stand on either end of an edge. */
export const TelemetryName = z
  .string({ error: typeError('a string') })
  .min(1, { error: 'must not be empty' })
  .max(253, { error: 'must be at most 253 characters' })
  .regex(/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, {
    error: 'must be a service name or a host name (letters, digits, "-", "_" and ".")',
  });

/** Epoch milliseconds, or an ISO 8601 date-time with a time zone. */
const Instant = z.string({ error: typeError('a date-time') }).transform((value, ctx) => {
  const ms = /^\d{1,15}$/.test(value)
    ? Number(value)
    : /^\d{4}-\d\d-\d\dT.*(Z|[+-]\d\d:?\d\d)$/i.test(value)
      ? Date.parse(value)
      : Number.NaN;
  if (Number.isNaN(ms)) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be epoch milliseconds or an ISO 8601 date-time with a time zone',
    });
    return z.NEVER;
  }
  return ms;
});

const STEP_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000 };

/** The smallest step: the finest bucket the control plane keeps. */
export const METRICS_MIN_STEP_MS = 10_000;
/** Most points one query may ask for (Prometheus's limit). */
export const METRICS_MAX_POINTS = 11_000;

/** `10s`, `1m`, `2h`, or whole seconds; a multiple of 10 s. */
const Step = z.string({ error: typeError('a duration') }).transform((value, ctx) => {
  const match = /^(\d{1,9})(s|m|h)?$/.exec(value);
  const ms = match ? Number(match[1]) * (STEP_UNITS[match[2] ?? 's'] ?? 1000) : Number.NaN;
  if (!(ms > 0) || ms % METRICS_MIN_STEP_MS !== 0) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be a duration that is a multiple of 10s, like "10s", "1m" or "1h" (or whole seconds)',
    });
    return z.NEVER;
  }
  return ms;
});

/** `source>destination`. */
const EdgeParam = z.string({ error: typeError('a string') }).transform((value, ctx) => {
  const parts = value.split('>');
  const [source, destination] = parts;
  if (
    parts.length !== 2 ||
    !TelemetryName.safeParse(source).success ||
    !TelemetryName.safeParse(destination).success
  ) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be "source>destination", two service or host names',
    });
    return z.NEVER;
  }
  return { source: source as string, destination: destination as string };
});

/**
 * GET /api/v1/metrics query: one service or one edge; `from` and `to` default to the last 15 minutes, `step` to
 * about 360 points. What depends on the clock and on retention is checked by the control plane.
 */
export const MetricsQuery = z
  .strictObject({
    service: TelemetryName.optional(),
    edge: EdgeParam.optional(),
    from: Instant.optional(),
    to: Instant.optional(),
    step: Step.optional(),
  })
  .superRefine((q, ctx) => {
    if (q.service === undefined && q.edge === undefined) {
      ctx.addIssue({ code: 'custom', path: ['service'], message: 'give a service, or an edge' });
    }
    if (q.service !== undefined && q.edge !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['edge'], message: 'give a service or an edge, not both' });
    }
    if (q.from !== undefined && q.to !== undefined && q.from >= q.to) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'must be later than from' });
    }
  });
export type MetricsQuery = z.infer<typeof MetricsQuery>;

/** One step of a series, starting at `t`. `reporter` says whose reports it holds; null when there were none. */
export const MetricsPoint = z.object({
  ...TrafficStats.shape,
  t: z.iso.datetime(),
  reporter: Reporter.nullable(),
});
export type MetricsPoint = z.infer<typeof MetricsPoint>;

export const MetricsSeries = z.object({
  target: z.union([
    z.object({ service: z.string() }),
    z.object({ source: z.string(), destination: z.string() }),
  ]),
  from: z.iso.datetime(),
  to: z.iso.datetime(),
  stepSeconds: z.number().int(),
  /** The stored buckets the points were summed from: 10 or 60 seconds. */
  resolutionSeconds: z.number().int(),
  points: z.array(MetricsPoint),
});
export type MetricsSeries = z.infer<typeof MetricsSeries>;

/** The live telemetry stream: a WebSocket the control plane sends a LiveTelemetryMessage on about every second. */
export const TELEMETRY_STREAM_PATH = '/api/v1/stream/telemetry';

/** Close codes of the telemetry stream besides the standard ones (1001 when the control plane shuts down). */
export const TELEMETRY_CLOSE_CODES = {
  /** The query string is invalid; the reason names the field. */
  badQuery: 4400,
} as const;

/** `?service=` narrows the stream to that service's node and the edges that touch it. */
export const TelemetrySubscribeQuery = z.strictObject({ service: TelemetryName.optional() });
export type TelemetrySubscribeQuery = z.infer<typeof TelemetrySubscribeQuery>;

export const LiveTelemetryMessage = z.object({
  type: z.literal('live'),
  ...Topology.shape,
});
export type LiveTelemetryMessage = z.infer<typeof LiveTelemetryMessage>;

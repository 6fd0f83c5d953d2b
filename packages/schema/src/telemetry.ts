/**
 * Telemetry frames: what a proxy reports about the traffic it carried, one frame per window (about a second).
 * This is wire protocol: proxies will stream these frames to the control plane, which merges them across
 * proxies, so every count is a plain per-window delta and latency travels as a mergeable sparse histogram,
 * not only as percentiles (percentiles cannot be averaged across proxies; histogram buckets can be summed).
 */
import { z } from 'zod';
import { DnsLabel, text, typeError } from './common.ts';
import { LATENCY_BUCKET_COUNT } from './latency.ts';
import { MAX_EJECTED_NOW } from './wire-limits.ts';

function counter() {
  return z
    .number({ error: typeError('a number') })
    .int({ error: 'must be an integer' })
    .min(0, { error: 'must not be negative' });
}

function milliseconds() {
  return z.number({ error: typeError('a number of milliseconds') }).min(0, { error: 'must not be negative' });
}

export const LatencySummary = z
  .strictObject({
    p50: milliseconds(),
    p90: milliseconds(),
    p95: milliseconds(),
    p99: milliseconds(),
    max: milliseconds(),
    /** Non-empty buckets only, as [bucket index, count], in ascending index order. */
    buckets: z.array(
      z.tuple([
        counter().max(LATENCY_BUCKET_COUNT - 1, { error: `must be below ${LATENCY_BUCKET_COUNT}` }),
        counter().min(1, { error: 'must be at least 1 (empty buckets are left out)' }),
      ]),
    ),
  })
  .superRefine((summary, ctx) => {
    for (let i = 1; i < summary.buckets.length; i++) {
      if ((summary.buckets[i]?.[0] ?? 0) <= (summary.buckets[i - 1]?.[0] ?? 0)) {
        ctx.addIssue({
          code: 'custom',
          path: ['buckets', i, 0],
          message: 'bucket indexes must be strictly ascending',
        });
        return;
      }
    }
  });
export type LatencySummary = z.infer<typeof LatencySummary>;

/**
 * Requests by outcome. `error` is a request that got no response from an upstream (connect failure, reset,
 * timeout) or that the proxy answered itself, as reported by the request path with status 0.
 */
export const ResponseClasses = z.strictObject({
  '1xx': counter(),
  '2xx': counter(),
  '3xx': counter(),
  '4xx': counter(),
  '5xx': counter(),
  error: counter(),
});
export type ResponseClasses = z.infer<typeof ResponseClasses>;

/**
 * Traffic from one source service to one endpoint of a destination service during a window. Retries and
 * overflows belong to a (source, destination) pair, not to an endpoint, so they are reported on the pair's
 * edge whose `endpoint` is '' (the one that also holds requests the proxy answered itself).
 */
export const EdgeStats = z
  .strictObject({
    /** The calling service; '' when unknown (a client outside the mesh). */
    source: text(253),
    /** A mesh service, or the host of an egress destination. */
    destination: text(253),
    /** The endpoint's key; '' when the proxy answered itself. */
    endpoint: text(512),
    requests: counter(),
    byClass: ResponseClasses,
    /** Request bytes received from the client. */
    bytesIn: counter(),
    /** Response bytes sent to the client. */
    bytesOut: counter(),
    retries: counter(),
    /** Requests refused because a circuit-breaker limit was reached. */
    overflows: counter(),
    /** Requests that arrived (inbound) or left (outbound) over mutual TLS. */
    mtls: counter().default(0),
    /** Requests an enforced authorization policy denied (403 rbac_denied). */
    denied: counter().default(0),
    /** Requests a dry-run authorization policy would have denied, let through. */
    dryRunDenied: counter().default(0),
    latency: LatencySummary,
  })
  .superRefine((edge, ctx) => {
    const c = edge.byClass;
    const classes = c['1xx'] + c['2xx'] + c['3xx'] + c['4xx'] + c['5xx'] + c.error;
    if (classes !== edge.requests) {
      ctx.addIssue({
        code: 'custom',
        path: ['byClass'],
        message: `must add up to requests (${edge.requests}), got ${classes}`,
      });
    }
    for (const field of ['mtls', 'denied', 'dryRunDenied'] as const) {
      if (edge[field] > edge.requests) {
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `must not exceed requests (${edge.requests}), got ${edge[field]}`,
        });
      }
    }
    let recorded = 0;
    for (const [, n] of edge.latency.buckets) recorded += n;
    if (recorded !== edge.requests) {
      ctx.addIssue({
        code: 'custom',
        path: ['latency', 'buckets'],
        message: `counts must add up to requests (${edge.requests}), got ${recorded}`,
      });
    }
  });
export type EdgeStats = z.infer<typeof EdgeStats>;

/** How many times outlier detection ejected one endpoint during a window. */
export const EndpointEjections = z.strictObject({
  destination: text(253),
  endpoint: text(512),
  count: counter().min(1, { error: 'must be at least 1' }),
});
export type EndpointEjections = z.infer<typeof EndpointEjections>;

/** An endpoint the proxy's outlier detection holds ejected when the window closed. */
export const EjectedEndpoint = z.strictObject({
  /** The destination service whose endpoint it is. */
  service: text(253).min(1, { error: 'must not be empty' }),
  /** The endpoint's key, "address:port" (an IPv6 address in brackets). */
  endpoint: text(512).min(1, { error: 'must not be empty' }),
  /** How much longer the ejection lasts, in milliseconds. */
  remainingMs: counter(),
});
export type EjectedEndpoint = z.infer<typeof EjectedEndpoint>;

export const TelemetryNode = z.strictObject({
  service: DnsLabel,
  instance: text(253),
});
export type TelemetryNode = z.infer<typeof TelemetryNode>;

export const TelemetryFrame = z
  .strictObject({
    node: TelemetryNode,
    /** Wall-clock start of the window, epoch milliseconds. */
    windowStart: counter(),
    /** The window's actual length; nominally 1000 but timers drift. */
    windowMs: counter(),
    /** Edges with no traffic in the window are left out. */
    edges: z.array(EdgeStats),
    /** Endpoint ejections during the window; the sum of `ejected`. */
    ejections: counter(),
    ejected: z.array(EndpointEjections),
    /**
     * Endpoints held ejected when the window closed: the current state, where `ejected` lists events. Left out
     * by proxies that predate it, which reads as none.
     */
    ejectedNow: z
      .array(EjectedEndpoint)
      .max(MAX_EJECTED_NOW, { error: `must list at most ${MAX_EJECTED_NOW} endpoints` })
      .default([]),
    /** Requests in flight when the window closed. */
    activeRequests: counter(),
  })
  .superRefine((frame, ctx) => {
    const seen = new Set<string>();
    frame.edges.forEach((edge, i) => {
      const key = JSON.stringify([edge.source, edge.destination, edge.endpoint]);
      if (seen.has(key)) {
        ctx.addIssue({
          code: 'custom',
          path: ['edges', i],
          message: 'the same source, destination and endpoint appear twice',
        });
      }
      seen.add(key);
    });
    const held = new Set<string>();
    frame.ejectedNow.forEach((e, i) => {
      const key = JSON.stringify([e.service, e.endpoint]);
      if (held.has(key)) {
        ctx.addIssue({
          code: 'custom',
          path: ['ejectedNow', i],
          message: 'the same service and endpoint appear twice',
        });
      }
      held.add(key);
    });
    let ejected = 0;
    for (const e of frame.ejected) ejected += e.count;
    if (ejected !== frame.ejections) {
      ctx.addIssue({
        code: 'custom',
        path: ['ejections'],
        message: `must equal the sum of ejected counts (${ejected})`,
      });
    }
  });
export type TelemetryFrame = z.infer<typeof TelemetryFrame>;

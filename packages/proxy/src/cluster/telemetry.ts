/**
 * One telemetry frame out of the frames of several workers, so that the control plane sees one proxy with one
 * frame a second, as from a proxy of a single process. Counts add up; latency travels as sparse histogram
 * buckets, which add up too, and the percentiles are read again from the sum. Endpoints are ejected by each
 * worker's own outlier detection, so an endpoint any worker holds ejected is listed.
 */
import {
  addLatencyBuckets,
  type EdgeStats,
  type EjectedEndpoint,
  latencyPercentiles,
  MAX_EJECTED_NOW,
  type TelemetryFrame,
  toSparseLatency,
} from '@trellis/schema';

const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'error'] as const;
const COUNTS = [
  'requests',
  'bytesIn',
  'bytesOut',
  'retries',
  'overflows',
  'mtls',
  'denied',
  'dryRunDenied',
] as const;

interface EdgeSum {
  edge: EdgeStats;
  buckets: Map<number, number>;
  max: number;
}

/**
 * Merges the frames the workers sent since the last merge, in the order they arrived; requests in flight are
 * counted once per worker, from its latest frame. Undefined when there are none.
 */
export function mergeFrames(
  frames: readonly { worker: number; frame: TelemetryFrame }[],
): TelemetryFrame | undefined {
  const first = frames[0]?.frame;
  if (!first) return undefined;
  let start = Number.POSITIVE_INFINITY;
  let end = 0;
  const edges = new Map<string, EdgeSum>();
  const ejected = new Map<string, { destination: string; endpoint: string; count: number }>();
  const held = new Map<string, EjectedEndpoint>();
  const active = new Map<number, number>();
  let ejections = 0;
  for (const { worker, frame } of frames) {
    start = Math.min(start, frame.windowStart);
    end = Math.max(end, frame.windowStart + frame.windowMs);
    ejections += frame.ejections;
    active.set(worker, frame.activeRequests);
    for (const edge of frame.edges) {
      const key = JSON.stringify([edge.source, edge.destination, edge.endpoint]);
      let sum = edges.get(key);
      if (!sum) {
        sum = {
          edge: { ...edge, byClass: { ...edge.byClass }, latency: { ...edge.latency, buckets: [] } },
          buckets: new Map(),
          max: 0,
        };
        for (const field of COUNTS) sum.edge[field] = 0;
        for (const cls of CLASSES) sum.edge.byClass[cls] = 0;
        edges.set(key, sum);
      }
      for (const field of COUNTS) sum.edge[field] += edge[field];
      for (const cls of CLASSES) sum.edge.byClass[cls] += edge.byClass[cls];
      addLatencyBuckets(sum.buckets, edge.latency.buckets);
      sum.max = Math.max(sum.max, edge.latency.max);
    }
    for (const e of frame.ejected) {
      const key = JSON.stringify([e.destination, e.endpoint]);
      const seen = ejected.get(key);
      if (seen) seen.count += e.count;
      else ejected.set(key, { ...e });
    }
    for (const e of frame.ejectedNow) {
      const key = JSON.stringify([e.service, e.endpoint]);
      const seen = held.get(key);
      if (!seen || seen.remainingMs < e.remainingMs) held.set(key, e);
    }
  }
  return {
    node: first.node,
    windowStart: start,
    windowMs: Math.max(0, end - start),
    edges: [...edges.values()].map(({ edge, buckets, max }) => {
      const sparse = toSparseLatency(buckets);
      const [p50 = 0, p90 = 0, p95 = 0, p99 = 0] = latencyPercentiles(sparse, [50, 90, 95, 99]).map(
        (v) => v ?? 0,
      );
      return {
        ...edge,
        latency: {
          p50,
          p90,
          p95,
          p99,
          max,
          buckets: sparse,
        },
      };
    }),
    ejections,
    ejected: [...ejected.values()],
    ejectedNow: [...held.values()].slice(0, MAX_EJECTED_NOW),
    activeRequests: [...active.values()].reduce((a, b) => a + b, 0),
  };
}

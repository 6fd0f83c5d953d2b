/**
 * The arithmetic every part of the telemetry pipeline shares: which side reported an edge, a mergeable
 * accumulator of counts and latency buckets, and how an accumulator becomes the numbers operators read. The live
 * view, the Postgres buckets and the time-series queries all go through here, so a number means the same thing
 * wherever it is shown.
 */
import {
  addLatencyBuckets,
  type EdgeStats,
  latencyPercentiles,
  type Reporter,
  type TelemetryFrame,
  type TrafficStats,
  toSparseLatency,
} from '@trellis/schema';

/** What inbound proxies record as the caller when a request carries no x-trellis-source header. */
export const UNKNOWN_SOURCE = 'unknown';

export interface Report {
  reporter: Reporter;
  source: string;
  destination: string;
  edge: EdgeStats;
}

/**
 * The edges of a frame with the side that reported each. A proxy reports its own outbound calls with itself as
 * the source (reporter "source"); anything else it reports is a call it received (reporter "destination").
 * An empty source, which the schema allows for callers outside the mesh, is the same caller as "unknown".
 */
export function* reportsOf(frame: TelemetryFrame): Generator<Report> {
  for (const edge of frame.edges) {
    const source = edge.source === '' ? UNKNOWN_SOURCE : edge.source;
    const reporter: Reporter = edge.source === frame.node.service ? 'source' : 'destination';
    yield { reporter, source, destination: edge.destination, edge };
  }
}

/** Counts of one series over some span of time; adding is the only operation, so any spans merge. */
export class Counts {
  requests = 0;
  status1xx = 0;
  status2xx = 0;
  status3xx = 0;
  status4xx = 0;
  status5xx = 0;
  /** Requests that got no response from an upstream, or that the proxy answered itself (class "error"). */
  errors = 0;
  bytesIn = 0;
  bytesOut = 0;
  retries = 0;
  overflows = 0;
  /** Requests over mutual TLS, and those authorization policies denied or (dry run) would have denied. */
  mtls = 0;
  denied = 0;
  dryRunDenied = 0;
  /** Latency histogram bucket index → count. */
  readonly latency = new Map<number, number>();

  addEdge(edge: EdgeStats): void {
    this.requests += edge.requests;
    this.status1xx += edge.byClass['1xx'];
    this.status2xx += edge.byClass['2xx'];
    this.status3xx += edge.byClass['3xx'];
    this.status4xx += edge.byClass['4xx'];
    this.status5xx += edge.byClass['5xx'];
    this.errors += edge.byClass.error;
    this.bytesIn += edge.bytesIn;
    this.bytesOut += edge.bytesOut;
    this.retries += edge.retries;
    this.overflows += edge.overflows;
    this.mtls += edge.mtls;
    this.denied += edge.denied;
    this.dryRunDenied += edge.dryRunDenied;
    addLatencyBuckets(this.latency, edge.latency.buckets);
  }

  add(other: Counts): void {
    this.requests += other.requests;
    this.status1xx += other.status1xx;
    this.status2xx += other.status2xx;
    this.status3xx += other.status3xx;
    this.status4xx += other.status4xx;
    this.status5xx += other.status5xx;
    this.errors += other.errors;
    this.bytesIn += other.bytesIn;
    this.bytesOut += other.bytesOut;
    this.retries += other.retries;
    this.overflows += other.overflows;
    this.mtls += other.mtls;
    this.denied += other.denied;
    this.dryRunDenied += other.dryRunDenied;
    for (const [index, n] of other.latency) this.latency.set(index, (this.latency.get(index) ?? 0) + n);
  }

  /** Nothing at all was reported (not even retries or overflows). */
  get empty(): boolean {
    return this.requests === 0 && this.retries === 0 && this.overflows === 0;
  }

  sparseLatency(): [number, number][] {
    return toSparseLatency(this.latency);
  }

  /** The operator's numbers over `seconds` of time. */
  stats(seconds: number): TrafficStats {
    const n = this.requests;
    const failed = this.status5xx + this.errors;
    const [p50, p95, p99] =
      n > 0 ? latencyPercentiles(this.sparseLatency(), [50, 95, 99]) : [null, null, null];
    return {
      requests: n,
      rps: round(n / seconds, 3),
      successRate: n > 0 ? round((n - failed) / n, 4) : null,
      errorRate: n > 0 ? round(failed / n, 4) : null,
      p50: p50 == null ? null : round(p50, 3),
      p95: p95 == null ? null : round(p95, 3),
      p99: p99 == null ? null : round(p99, 3),
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      retries: this.retries,
    };
  }
}

export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Stats of no traffic at all. */
export function noTraffic(): TrafficStats {
  return new Counts().stats(1);
}

/**
 * The proxy's traffic accounting. The request path reports each outcome here, keyed by (source service,
 * destination service, destination endpoint); the recorder keeps two views of the same numbers: the current
 * window, closed about once a second into a TelemetryFrame for the control plane, and cumulative totals that
 * /stats and /metrics read at scrape time. Reporting is on the hot path of every request, so after the first
 * call for a key it allocates nothing: the keys resolve through nested Maps to mutable counters and
 * preallocated histograms, and arguments are positional.
 *
 * Endpoints come and go (scaling, restarts, churn), and a series per departed endpoint would grow memory and
 * /metrics without bound. So, like linkerd2-proxy's `metrics_retain_idle`, series that saw no traffic for
 * `retainIdleMs` (default 10 minutes) are forgotten, checked at each window flush and each scrape. Activity is
 * noticed by comparing totals between checks, so the request path pays nothing for it.
 *
 * A request's security facts travel as bit flags (RECORD_MTLS, RECORD_DENIED, RECORD_DRY_RUN_DENIED) so that the
 * hot path still passes only numbers; which authorization policy denied is counted apart, per policy, for /metrics.
 */
import {
  type EdgeStats,
  type EjectedEndpoint,
  type EndpointEjections,
  MAX_EJECTED_NOW,
  type ResponseClasses,
  type TelemetryFrame,
} from '@trellis/schema';
import type { Clock } from '../types.ts';
import { LatencyHistogram } from './histogram.ts';

export interface TelemetrySink {
  /** Must not throw; if it does, the error becomes a process warning and telemetry goes on. */
  publish(frame: TelemetryFrame): void;
}

export interface TelemetryNodeInfo {
  service: string;
  instance: string;
}

/** Epoch milliseconds: window starts are wall-clock times, unlike the proxy's monotonic `systemClock`. */
export const wallClock: Clock = { now: () => Date.now() };

/** How long a series with no traffic is kept (linkerd2-proxy's default for the same setting). */
export const DEFAULT_RETAIN_IDLE_MS = 10 * 60_000;

/** Most (source, destination, policy) series of authorization counts kept. */
const MAX_AUTHZ_SERIES = 10_000;

export const RESPONSE_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'error'] as const;
export type ResponseClass = (typeof RESPONSE_CLASSES)[number];
const ERROR_CLASS = 5;

/** The request arrived (inbound) or left (outbound) over mutual TLS. */
export const RECORD_MTLS = 1;
/** An enforced authorization policy denied the request. */
export const RECORD_DENIED = 2;
/** A dry-run authorization policy would have denied the request (it was let through). */
export const RECORD_DRY_RUN_DENIED = 4;

/** Index into RESPONSE_CLASSES; statuses outside 100–599 (0: no response) are errors. */
function classOf(status: number): number {
  return status >= 100 && status < 600 ? Math.floor(status / 100) - 1 : ERROR_CLASS;
}

/** Counts are whole and never negative, whatever the caller passes (NaN included), so frames stay valid. */
function nonNegative(n: number): number {
  return n > 0 ? Math.floor(n) : 0;
}

class Counters {
  requests = 0;
  readonly byClass = new Float64Array(RESPONSE_CLASSES.length);
  bytesIn = 0;
  bytesOut = 0;
  retries = 0;
  overflows = 0;
  mtls = 0;
  denied = 0;
  dryRunDenied = 0;

  isEmpty(): boolean {
    return this.requests === 0 && this.retries === 0 && this.overflows === 0;
  }

  clear(): void {
    this.requests = 0;
    this.byClass.fill(0);
    this.bytesIn = 0;
    this.bytesOut = 0;
    this.retries = 0;
    this.overflows = 0;
    this.mtls = 0;
    this.denied = 0;
    this.dryRunDenied = 0;
  }

  classes(): ResponseClasses {
    const c = this.byClass;
    return {
      '1xx': c[0] as number,
      '2xx': c[1] as number,
      '3xx': c[2] as number,
      '4xx': c[3] as number,
      '5xx': c[4] as number,
      error: c[5] as number,
    };
  }
}

/** When a series last changed, as seen by the idle checks. */
class Activity {
  private seen = -1;

  constructor(public lastActive: number) {}

  /** Notes the series' current count at `now`; returns how long it has been idle. */
  idleFor(count: number, now: number): number {
    if (count !== this.seen) {
      this.seen = count;
      this.lastActive = now;
    }
    return now - this.lastActive;
  }
}

class Edge {
  readonly window = new Counters();
  readonly windowLatency = new LatencyHistogram();
  readonly total = new Counters();
  readonly activity: Activity;

  constructor(
    readonly source: string,
    readonly destination: string,
    readonly endpoint: string,
    now: number,
  ) {
    this.activity = new Activity(now);
  }
}

/** One (source, destination) pair: its endpoints' edges and the cumulative latency Prometheus exposes. */
class Pair {
  readonly endpoints = new Map<string, Edge>();
  readonly latency = new LatencyHistogram();
  requests = 0;
  retries = 0;
  overflows = 0;
  /** The edge with endpoint '': local replies, and where the window's retries and overflows are reported. */
  local: Edge | undefined;
  readonly activity: Activity;

  constructor(
    readonly source: string,
    readonly destination: string,
    private readonly clock: Clock,
  ) {
    this.activity = new Activity(clock.now());
  }

  edge(endpoint: string): Edge {
    let edge = this.endpoints.get(endpoint);
    if (edge === undefined) {
      edge = new Edge(this.source, this.destination, endpoint, this.clock.now());
      this.endpoints.set(endpoint, edge);
      if (endpoint === '') this.local = edge;
    }
    return edge;
  }

  localEdge(): Edge {
    return this.local ?? this.edge('');
  }
}

class Ejections {
  window = 0;
  total = 0;
  readonly activity: Activity;

  constructor(now: number) {
    this.activity = new Activity(now);
  }
}

export interface EdgeTotals {
  source: string;
  destination: string;
  endpoint: string;
  requests: number;
  byClass: ResponseClasses;
  bytesIn: number;
  bytesOut: number;
  mtls: number;
  denied: number;
  dryRunDenied: number;
}

/** Requests one authorization policy denied (or, dry run, would have) on one (source, destination) pair. */
export interface AuthzTotals {
  source: string;
  destination: string;
  policy: string;
  denied: number;
  dryRunDenied: number;
}

export interface PairTotals {
  source: string;
  destination: string;
  requests: number;
  retries: number;
  overflows: number;
  /** A copy of the cumulative latency histogram; JSON shows its summary. */
  latency: LatencyHistogram;
}

export interface EjectionTotals {
  destination: string;
  endpoint: string;
  count: number;
}

/** Everything since the recorder was created. Edges without requests (only retries) are left out of `edges`. */
export interface TelemetryTotals {
  edges: EdgeTotals[];
  pairs: PairTotals[];
  ejections: EjectionTotals[];
  authz: AuthzTotals[];
  activeRequests: number;
}

export class TelemetryRecorder {
  private readonly sources = new Map<string, Map<string, Pair>>();
  private readonly ejected = new Map<string, Map<string, Ejections>>();
  /** JSON [source, destination, policy] → counts; bounded, like the policies a proxy enforces. */
  private readonly authz = new Map<string, AuthzTotals>();
  private active = 0;
  private begun = 0;
  private windowStart: number;
  private timer: NodeJS.Timeout | undefined;
  private sink: TelemetrySink | undefined;
  private heldEjected: (() => EjectedEndpoint[]) | undefined;

  /**
   * `clock` must read epoch milliseconds (default `wallClock`, i.e. Date.now): it dates the windows. The proxy's
   * monotonic `systemClock` would date them from process start.
   */
  constructor(
    private readonly node: TelemetryNodeInfo,
    private readonly clock: Clock = wallClock,
    private readonly retainIdleMs = DEFAULT_RETAIN_IDLE_MS,
  ) {
    this.windowStart = Math.floor(clock.now());
  }

  /** How many series (edges, pairs, ejection counters) are kept; for tests and /stats. */
  get seriesCount(): number {
    let n = 0;
    for (const pairs of this.sources.values())
      for (const pair of pairs.values()) n += 1 + pair.endpoints.size;
    for (const byEndpoint of this.ejected.values()) n += byEndpoint.size;
    return n;
  }

  /**
   * Forgets series idle for `retainIdleMs` whose current window holds nothing unsent. A pair goes once all its
   * endpoints' series have gone and it has itself been idle as long.
   */
  prune(now = this.clock.now()): void {
    const keep = this.retainIdleMs;
    for (const [source, pairs] of this.sources) {
      for (const [destination, pair] of pairs) {
        for (const [endpoint, edge] of pair.endpoints) {
          const idle = edge.activity.idleFor(
            edge.total.requests + edge.window.retries + edge.window.overflows,
            now,
          );
          if (idle >= keep && edge.window.isEmpty()) {
            pair.endpoints.delete(endpoint);
            if (pair.local === edge) pair.local = undefined;
          }
        }
        const idle = pair.activity.idleFor(pair.requests + pair.retries + pair.overflows, now);
        if (idle >= keep && pair.endpoints.size === 0) pairs.delete(destination);
      }
      if (pairs.size === 0) this.sources.delete(source);
    }
    for (const [destination, byEndpoint] of this.ejected) {
      for (const [endpoint, counts] of byEndpoint) {
        if (counts.activity.idleFor(counts.total, now) >= keep && counts.window === 0)
          byEndpoint.delete(endpoint);
      }
      if (byEndpoint.size === 0) this.ejected.delete(destination);
    }
  }

  /**
   * One request (or attempt) that finished. `status` 0 means no response (connect failure, reset, timeout, or a
   * reply the proxy made itself); `endpoint` is '' when no endpoint was involved. `bytesIn` are request bytes
   * received from the client, `bytesOut` response bytes sent to it.
   */
  record(
    source: string,
    destination: string,
    endpoint: string,
    status: number,
    durationMs: number,
    bytesIn: number,
    bytesOut: number,
    flags = 0,
  ): void {
    const pair = this.pair(source, destination);
    const edge = pair.endpoints.get(endpoint) ?? pair.edge(endpoint);
    const cls = classOf(status);
    const inBytes = nonNegative(bytesIn);
    const outBytes = nonNegative(bytesOut);
    const w = edge.window;
    w.requests++;
    w.byClass[cls] = (w.byClass[cls] as number) + 1;
    w.bytesIn += inBytes;
    w.bytesOut += outBytes;
    const t = edge.total;
    t.requests++;
    t.byClass[cls] = (t.byClass[cls] as number) + 1;
    t.bytesIn += inBytes;
    t.bytesOut += outBytes;
    if (flags !== 0) {
      if (flags & RECORD_MTLS) {
        w.mtls++;
        t.mtls++;
      }
      if (flags & RECORD_DENIED) {
        w.denied++;
        t.denied++;
      }
      if (flags & RECORD_DRY_RUN_DENIED) {
        w.dryRunDenied++;
        t.dryRunDenied++;
      }
    }
    edge.windowLatency.record(durationMs);
    pair.latency.record(durationMs);
    pair.requests++;
  }

  retry(source: string, destination: string): void {
    const pair = this.pair(source, destination);
    pair.retries++;
    pair.localEdge().window.retries++;
  }

  /** A request refused because a circuit-breaker limit was reached. */
  overflow(source: string, destination: string): void {
    const pair = this.pair(source, destination);
    pair.overflows++;
    pair.localEdge().window.overflows++;
  }

  /**
   * An authorization policy denied a request from `source` to `destination` (or, `dryRun`, would have). The request
   * itself is recorded by record() with its flags; this counts it per policy for /metrics.
   */
  authorization(source: string, destination: string, policy: string, dryRun: boolean): void {
    const key = JSON.stringify([source, destination, policy]);
    let counts = this.authz.get(key);
    if (counts === undefined) {
      if (this.authz.size >= MAX_AUTHZ_SERIES) return;
      counts = { source, destination, policy, denied: 0, dryRunDenied: 0 };
      this.authz.set(key, counts);
    }
    if (dryRun) counts.dryRunDenied++;
    else counts.denied++;
  }

  /** Outlier detection ejected an endpoint. */
  ejection(destination: string, endpoint: string): void {
    let byEndpoint = this.ejected.get(destination);
    if (byEndpoint === undefined) {
      byEndpoint = new Map();
      this.ejected.set(destination, byEndpoint);
    }
    let counts = byEndpoint.get(endpoint);
    if (counts === undefined) {
      counts = new Ejections(this.clock.now());
      byEndpoint.set(endpoint, counts);
    }
    counts.window++;
    counts.total++;
  }

  /**
   * Where frames get the endpoints held ejected when their window closes (`ejectedNow`). Read once per frame, so
   * the request path pays nothing for it; without one, frames list none.
   */
  reportEjectedFrom(held: () => EjectedEndpoint[]): void {
    this.heldEjected = held;
  }

  /** +1 when a request starts, -1 when it ends. */
  activeChange(delta: number): void {
    this.active += delta;
    if (delta > 0) this.begun += delta;
  }

  /** Requests begun since the recorder was made: compared between two readings, whether any came. */
  get requestsBegun(): number {
    return this.begun;
  }

  get activeRequests(): number {
    return nonNegative(this.active);
  }

  /** Closes the current window at `now` (epoch ms) into a frame and starts the next one. */
  flush(now: number): TelemetryFrame {
    const end = Math.floor(now);
    const edges: EdgeStats[] = [];
    for (const pairs of this.sources.values()) {
      for (const pair of pairs.values()) {
        for (const edge of pair.endpoints.values()) {
          if (edge.window.isEmpty()) continue;
          edges.push(this.edgeStats(edge));
          edge.window.clear();
          edge.windowLatency.reset();
        }
      }
    }
    const ejected: EndpointEjections[] = [];
    let ejections = 0;
    for (const [destination, byEndpoint] of this.ejected) {
      for (const [endpoint, counts] of byEndpoint) {
        if (counts.window === 0) continue;
        ejected.push({ destination, endpoint, count: counts.window });
        ejections += counts.window;
        counts.window = 0;
      }
    }
    const frame: TelemetryFrame = {
      node: { service: this.node.service, instance: this.node.instance },
      windowStart: this.windowStart,
      windowMs: nonNegative(end - this.windowStart),
      edges,
      ejections,
      ejected,
      ejectedNow: this.heldEjected?.().slice(0, MAX_EJECTED_NOW) ?? [],
      activeRequests: this.activeRequests,
    };
    this.windowStart = end;
    this.prune(now);
    return frame;
  }

  /** Publishes a frame to `sink` every `intervalMs` until stop(). The timer does not keep the process alive. */
  start(sink: TelemetrySink, intervalMs = 1000): void {
    if (this.timer !== undefined) throw new Error('telemetry is already started');
    this.sink = sink;
    this.timer = setInterval(() => this.publish(), intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and publishes the last, partial window so that nothing recorded is lost. */
  stop(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.publish();
    this.sink = undefined;
  }

  totals(): TelemetryTotals {
    this.prune();
    const edges: EdgeTotals[] = [];
    const pairs: PairTotals[] = [];
    for (const byDestination of this.sources.values()) {
      for (const pair of byDestination.values()) {
        pairs.push({
          source: pair.source,
          destination: pair.destination,
          requests: pair.requests,
          retries: pair.retries,
          overflows: pair.overflows,
          latency: pair.latency.copy(),
        });
        for (const edge of pair.endpoints.values()) {
          const t = edge.total;
          if (t.requests === 0) continue;
          edges.push({
            source: edge.source,
            destination: edge.destination,
            endpoint: edge.endpoint,
            requests: t.requests,
            byClass: t.classes(),
            bytesIn: t.bytesIn,
            bytesOut: t.bytesOut,
            mtls: t.mtls,
            denied: t.denied,
            dryRunDenied: t.dryRunDenied,
          });
        }
      }
    }
    const ejections: EjectionTotals[] = [];
    for (const [destination, byEndpoint] of this.ejected) {
      for (const [endpoint, counts] of byEndpoint)
        ejections.push({ destination, endpoint, count: counts.total });
    }
    const authz = [...this.authz.values()].map((a) => ({ ...a }));
    return { edges, pairs, ejections, authz, activeRequests: this.activeRequests };
  }

  private pair(source: string, destination: string): Pair {
    let byDestination = this.sources.get(source);
    if (byDestination === undefined) {
      byDestination = new Map();
      this.sources.set(source, byDestination);
    }
    let pair = byDestination.get(destination);
    if (pair === undefined) {
      pair = new Pair(source, destination, this.clock);
      byDestination.set(destination, pair);
    }
    return pair;
  }

  private edgeStats(edge: Edge): EdgeStats {
    const w = edge.window;
    const h = edge.windowLatency;
    return {
      source: edge.source,
      destination: edge.destination,
      endpoint: edge.endpoint,
      requests: w.requests,
      byClass: w.classes(),
      bytesIn: w.bytesIn,
      bytesOut: w.bytesOut,
      retries: w.retries,
      overflows: w.overflows,
      mtls: w.mtls,
      denied: w.denied,
      dryRunDenied: w.dryRunDenied,
      latency: {
        p50: h.percentile(50),
        p90: h.percentile(90),
        p95: h.percentile(95),
        p99: h.percentile(99),
        max: h.max,
        buckets: h.toSparse(),
      },
    };
  }

  private publish(): void {
    const sink = this.sink;
    if (sink === undefined) return;
    const frame = this.flush(this.clock.now());
    try {
      sink.publish(frame);
    } catch (error) {
      process.emitWarning(error instanceof Error ? error : String(error), 'TelemetrySinkWarning');
    }
  }
}

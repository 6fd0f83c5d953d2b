/**
 * The live view: what the mesh is doing now, from the telemetry frames of the proxies connected to this control
 * plane. Frames are merged into one-second buckets by the second their window started in, per edge and reporter
 * and per destination service and reporter, so frames from many proxies about the same second add up. Reads look
 * at the last `windowSeconds` complete seconds, ending `settleMs` before now: a proxy sends a window about a second
 * after it closes, so the newest seconds are still filling and would read low.
 *
 * Memory is bounded three ways: buckets older than the window are dropped, series without a frame for `idleMs`
 * are dropped, and at most `maxSeries` series exist (frames for new series beyond that are counted and ignored).
 *
 * Ejections are state, not counts: each proxy's newest frame says which endpoints it holds ejected and for how
 * much longer. An endpoint is shown ejected while some proxy whose newest frame is in the window holds it and that
 * frame's time left has not run out; a proxy that stops reporting takes its ejections with it.
 *
 * Which side to believe (see packages/schema/src/metrics.ts): an edge is read from its caller's reports when the
 * caller runs a proxy that reports outbound calls, else from the callee's (callers outside the mesh, or without a
 * proxy). A service's own traffic is what its inbound proxies saw, else what its callers reported sending it.
 * Whether an edge's calls arrived over mutual TLS and how many authorization policies denied are known for sure
 * only where they are enforced, by the callee's inbound proxies: those come from the callee's reports when it sent
 * any for the edge in the window.
 */
import type { Reporter, TelemetryFrame } from '@trellis/schema';
import { Counts, reportsOf } from './counts.ts';

export interface LiveViewOptions {
  clock: () => Date;
  /** Seconds the live numbers are computed over. Default 10. */
  windowSeconds?: number;
  /** How long before now the window ends, so that it holds only seconds whose frames have arrived. Default 1000. */
  settleMs?: number;
  /** A series with no frame for this long is forgotten. Default 5 minutes. */
  idleMs?: number;
  /** Most series (edge × reporter, service × reporter) kept. Default 20 000. */
  maxSeries?: number;
  /** Most proxies whose ejected endpoints are kept. Default 10 000. */
  maxProxies?: number;
}

/** Frames dated further ahead than this (a proxy with a wrong clock) are left out of the live view. */
const MAX_FUTURE_MS = 60_000;

interface Series {
  readonly reporter: Reporter;
  readonly source: string;
  readonly destination: string;
  /** Second start (epoch ms) → counts. */
  readonly seconds: Map<number, Counts>;
  lastAt: number;
}

export interface LiveEdge {
  source: string;
  destination: string;
  reporter: Reporter;
  counts: Counts;
  /** The callee's reports of the edge in the window (empty when it sent none): mTLS and authorization counts. */
  inbound: Counts;
}

export interface LiveService {
  service: string;
  /** Whose reports `counts` holds; null when neither side reported traffic in the window. */
  reporter: Reporter | null;
  counts: Counts;
}

/** An endpoint held ejected, and by how many proxies. */
export interface LiveEjection {
  endpoint: string;
  proxies: number;
}

/**
 * What one proxy's newest frame said it holds ejected. A frame holding none replaces what an older one said, so
 * that an older frame arriving late cannot bring an ejection back (until the next prune forgets it).
 */
interface HeldEjections {
  /** The second that frame's window started in. */
  second: number;
  /** Destination service, endpoint and when (this plane's clock, epoch ms) the ejection runs out. */
  endpoints: { service: string; endpoint: string; until: number }[];
}

export interface LiveSnapshot {
  /** When the snapshot was taken. */
  at: Date;
  /** The window: [start, end) in epoch ms. */
  start: number;
  end: number;
  windowSeconds: number;
  /** Every (source, destination) seen lately, each read from the side described above; idle ones have zero counts. */
  edges: LiveEdge[];
  /** Every destination service seen lately. */
  services: Map<string, LiveService>;
  /** Destination service → its endpoints held ejected now, by endpoint. Services with none are left out. */
  ejected: Map<string, LiveEjection[]>;
}

function key(reporter: Reporter, source: string, destination: string): string {
  return JSON.stringify([reporter, source, destination]);
}

export class LiveView {
  private readonly windowSeconds: number;
  private readonly settleMs: number;
  private readonly idleMs: number;
  private readonly maxSeries: number;
  private readonly maxProxies: number;
  private readonly edges = new Map<string, Series>();
  /** Keyed with source '' : the traffic a destination service received, by reporter. */
  private readonly services = new Map<string, Series>();
  /** Services whose proxies report outbound calls, and when they last did. */
  private readonly sourceReporters = new Map<string, number>();
  /** Proxy (service, instance) → the ejections its newest frame reported. */
  private readonly held = new Map<string, HeldEjections>();
  private prunedAt = Number.NEGATIVE_INFINITY;
  /** Edge reports ignored because `maxSeries` was reached. */
  dropped = 0;
  /** Frames whose ejected endpoints were ignored because `maxProxies` was reached. */
  droppedEjections = 0;

  constructor(private readonly options: LiveViewOptions) {
    this.windowSeconds = options.windowSeconds ?? 10;
    this.settleMs = options.settleMs ?? 1000;
    this.idleMs = options.idleMs ?? 5 * 60_000;
    this.maxSeries = options.maxSeries ?? 20_000;
    this.maxProxies = options.maxProxies ?? 10_000;
  }

  get seriesCount(): number {
    return this.edges.size + this.services.size;
  }

  /** The window a read at `now` covers: [start, end) in epoch ms, whole seconds. */
  window(now = this.options.clock().getTime()): { start: number; end: number } {
    const end = Math.floor((now - this.settleMs) / 1000) * 1000;
    return { start: end - this.windowSeconds * 1000, end };
  }

  ingest(frames: readonly TelemetryFrame[]): void {
    const now = this.options.clock().getTime();
    if (now - this.prunedAt >= 1000) this.prune();
    const { start } = this.window(now);
    for (const frame of frames) {
      const second = Math.floor(frame.windowStart / 1000) * 1000;
      const inWindow = second >= start && second <= now + MAX_FUTURE_MS;
      if (inWindow) this.hold(frame, second, now);
      for (const report of reportsOf(frame)) {
        if (report.reporter === 'source') this.sourceReporters.set(frame.node.service, now);
        if (!inWindow) continue;
        const { reporter, source, destination, edge } = report;
        const edgeSeries = this.series(this.edges, reporter, source, destination, now);
        const serviceSeries = this.series(this.services, reporter, '', destination, now);
        if (!edgeSeries || !serviceSeries) {
          this.dropped++;
          continue;
        }
        bucket(edgeSeries, second).addEdge(edge);
        bucket(serviceSeries, second).addEdge(edge);
      }
    }
  }

  /** Drops buckets that left the window and series idle for longer than `idleMs`. */
  prune(): void {
    const now = this.options.clock().getTime();
    this.prunedAt = now;
    const { start } = this.window(now);
    for (const map of [this.edges, this.services]) {
      for (const [k, series] of map) {
        if (now - series.lastAt > this.idleMs) {
          map.delete(k);
          continue;
        }
        for (const second of series.seconds.keys()) if (second < start) series.seconds.delete(second);
      }
    }
    for (const [service, at] of this.sourceReporters) {
      if (now - at > this.idleMs) this.sourceReporters.delete(service);
    }
    for (const [proxy, held] of this.held) {
      if (held.second < start || held.endpoints.every((e) => e.until <= now)) this.held.delete(proxy);
    }
  }

  snapshot(): LiveSnapshot {
    this.prune();
    const at = this.options.clock();
    const { start, end } = this.window(at.getTime());
    const sum = (series: Series | undefined): Counts => {
      const total = new Counts();
      if (!series) return total;
      for (const [second, counts] of series.seconds) if (second >= start && second < end) total.add(counts);
      return total;
    };

    const pairs = new Map<string, { source: string; destination: string }>();
    for (const s of this.edges.values()) {
      if (s.destination === '') continue;
      pairs.set(JSON.stringify([s.source, s.destination]), { source: s.source, destination: s.destination });
    }
    const edges: LiveEdge[] = [];
    for (const { source, destination } of pairs.values()) {
      const bySource = this.edges.get(key('source', source, destination));
      const reporter: Reporter = bySource && this.sourceReporters.has(source) ? 'source' : 'destination';
      const byDestination = this.edges.get(key('destination', source, destination));
      const chosen = reporter === 'source' ? bySource : byDestination;
      const counts = sum(chosen);
      edges.push({
        source,
        destination,
        reporter,
        counts,
        inbound: reporter === 'destination' ? counts : sum(byDestination),
      });
    }
    edges.sort((a, b) => a.source.localeCompare(b.source) || a.destination.localeCompare(b.destination));

    const services = new Map<string, LiveService>();
    const names = new Set<string>();
    for (const s of this.services.values()) if (s.destination !== '') names.add(s.destination);
    for (const service of names) {
      const inbound = sum(this.services.get(key('destination', '', service)));
      const callers = sum(this.services.get(key('source', '', service)));
      if (inbound.requests > 0) services.set(service, { service, reporter: 'destination', counts: inbound });
      else if (callers.requests > 0) services.set(service, { service, reporter: 'source', counts: callers });
      else services.set(service, { service, reporter: null, counts: inbound });
    }
    // A service nothing in the mesh reports calling (an ingress gateway: its clients run no proxy) is known only by
    // what it passes on: its traffic is that of the calls it reports making.
    const passedOn = new Map<string, Counts>();
    for (const e of edges) {
      if (e.reporter !== 'source' || services.get(e.source)?.reporter) continue;
      const counts = passedOn.get(e.source) ?? new Counts();
      counts.add(e.counts);
      passedOn.set(e.source, counts);
    }
    for (const [service, counts] of passedOn) {
      if (counts.requests > 0) services.set(service, { service, reporter: 'source', counts });
    }
    return { at, start, end, windowSeconds: this.windowSeconds, edges, services, ejected: this.ejected(at) };
  }

  /** Endpoints held ejected at `at` by proxies whose newest frame is in the window (prune() dropped the others). */
  private ejected(at: Date): Map<string, LiveEjection[]> {
    const now = at.getTime();
    const counts = new Map<string, Map<string, number>>();
    for (const held of this.held.values()) {
      for (const { service, endpoint, until } of held.endpoints) {
        if (until <= now) continue;
        let byEndpoint = counts.get(service);
        if (!byEndpoint) {
          byEndpoint = new Map();
          counts.set(service, byEndpoint);
        }
        byEndpoint.set(endpoint, (byEndpoint.get(endpoint) ?? 0) + 1);
      }
    }
    const ejected = new Map<string, LiveEjection[]>();
    for (const [service, byEndpoint] of counts) {
      ejected.set(
        service,
        [...byEndpoint]
          .map(([endpoint, proxies]) => ({ endpoint, proxies }))
          .sort((a, b) => a.endpoint.localeCompare(b.endpoint)),
      );
    }
    return ejected;
  }

  /** Takes a proxy's ejected endpoints from its frame, unless a newer frame of that proxy came first. */
  private hold(frame: TelemetryFrame, second: number, now: number): void {
    const proxy = JSON.stringify([frame.node.service, frame.node.instance]);
    const previous = this.held.get(proxy);
    if (previous && previous.second > second) return;
    if (frame.ejectedNow.length === 0) {
      if (previous) this.held.set(proxy, { second, endpoints: [] });
      return;
    }
    if (!previous && this.held.size >= this.maxProxies) {
      this.droppedEjections++;
      return;
    }
    this.held.set(proxy, {
      second,
      endpoints: frame.ejectedNow.map((e) => ({
        service: e.service,
        endpoint: e.endpoint,
        until: now + e.remainingMs,
      })),
    });
  }

  private series(
    map: Map<string, Series>,
    reporter: Reporter,
    source: string,
    destination: string,
    now: number,
  ): Series | undefined {
    const k = key(reporter, source, destination);
    let series = map.get(k);
    if (!series) {
      if (this.seriesCount >= this.maxSeries) return undefined;
      series = { reporter, source, destination, seconds: new Map(), lastAt: now };
      map.set(k, series);
    }
    series.lastAt = now;
    return series;
  }
}

function bucket(series: Series, second: number): Counts {
  let counts = series.seconds.get(second);
  if (!counts) {
    counts = new Counts();
    series.seconds.set(second, counts);
  }
  return counts;
}

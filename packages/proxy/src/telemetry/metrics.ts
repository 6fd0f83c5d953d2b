/**
 * The proxy's Prometheus metrics, and the one place their names and labels are declared (named after Istio's
 * standard metrics, with trellis_ in place of istio_). The request path never touches prom-client: every
 * metric is filled at scrape time from the TelemetryRecorder's cumulative totals, taken once per scrape so that
 * all metrics of a scrape agree. Durations are recorded in a fine log-linear histogram and folded into fixed
 * Prometheus buckets when scraped.
 *
 * prom-client is loaded, and the registry built, at the first scrape: most sidecars are never scraped (their
 * telemetry goes to the control plane), and loading it at start cost each of them a few MB of resident memory.
 * Node's process metrics (event-loop lag, GC) therefore cover the time from the first scrape on.
 */
import type {
  Counter as CounterType,
  Gauge as GaugeType,
  MetricObjectWithValues,
  MetricType,
  MetricValueWithName,
  Registry,
} from 'prom-client';
import type { EndpointPoolStats } from '../pools.ts';
import type { TelemetryRecorder, TelemetryTotals } from './recorder.ts';
import { RESPONSE_CLASSES } from './recorder.ts';

type PromClient = typeof import('prom-client');

/** Upper bounds of trellis_request_duration_seconds, in seconds. */
export const DURATION_BUCKETS_SECONDS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];
const DURATION_BUCKETS_MS = DURATION_BUCKETS_SECONDS.map((s) => s * 1000);

export interface MetricsExtra {
  /** This proxy's service: an edge whose destination it is was reported by the destination's side. */
  service(): string;
  revision(): number;
  reloads(): { applied: number; rejected: number };
  /**
   * Also Node's own process metrics under their usual names (nodejs_eventloop_lag_*, nodejs_gc_duration_seconds,
   * process_cpu_*, nodejs_heap_*): a stalled event loop stalls every request the proxy carries, so an operator needs
   * to see it. One set per process: only the proxy a process runs for (the CLI's) turns them on.
   */
  processMetrics?: boolean;
  /**
   * Upstream connections per endpoint (Envoy's upstream_cx_active, upstream_cx_total, upstream_rq_pending_active):
   * a rise in connections opened, or requests waiting for one, shows a pool straining before requests fail.
   */
  upstreamPools?: () => EndpointPoolStats[];
}

/**
 * `reporter`, as Istio's: "source" for a call this proxy made on behalf of its service, "destination" for one it
 * received for its service. A call between two sidecars is counted by both, so a sum over the mesh filters on one.
 */
const EDGE_LABELS = ['reporter', 'source_service', 'destination_service', 'destination_endpoint'] as const;
const PAIR_LABELS = ['reporter', 'source_service', 'destination_service'] as const;
type PairLabel = (typeof PAIR_LABELS)[number];

const DURATION = 'trellis_request_duration_seconds';
const DURATION_HELP =
  'Duration of requests, from the proxy receiving them to the end of the response, in seconds.';

/**
 * A histogram whose series are computed at scrape time: prom-client's Histogram only counts observations one by
 * one, while here the bucket counts already exist (in the recorder's log-linear histograms).
 */
function registerScrapedHistogram(
  prom: PromClient,
  registry: Registry,
  snapshot: () => TelemetryTotals,
  reporter: (destination: string) => string,
): void {
  const scrape = (): MetricObjectWithValues<MetricValueWithName<PairLabel>> => {
    const values: MetricValueWithName<PairLabel | 'le'>[] = [];
    const bucket = `${DURATION}_bucket`;
    for (const pair of snapshot().pairs) {
      if (pair.latency.count === 0) continue;
      const labels = {
        reporter: reporter(pair.destination),
        source_service: pair.source,
        destination_service: pair.destination,
      };
      const counts = pair.latency.countsAtOrBelow(DURATION_BUCKETS_MS);
      DURATION_BUCKETS_SECONDS.forEach((le, i) => {
        values.push({ metricName: bucket, labels: { ...labels, le }, value: counts[i] ?? 0 });
      });
      values.push({ metricName: bucket, labels: { ...labels, le: '+Inf' }, value: pair.latency.count });
      values.push({ metricName: `${DURATION}_sum`, labels, value: pair.latency.sum / 1000 });
      values.push({ metricName: `${DURATION}_count`, labels, value: pair.latency.count });
    }
    return {
      name: DURATION,
      help: DURATION_HELP,
      // prom-client's typings declare a numeric enum; at run time the type is its Prometheus name.
      type: 'histogram' as unknown as MetricType,
      aggregator: 'sum',
      collect: () => {},
      values,
    };
  };
  class ScrapedHistogram extends prom.Histogram<PairLabel> {
    override async get(): Promise<MetricObjectWithValues<MetricValueWithName<PairLabel>>> {
      return scrape();
    }

    /** What prom-client's Registry prefers over get() when rendering text; it must not see the empty base. */
    async getForPromString(): Promise<MetricObjectWithValues<MetricValueWithName<PairLabel>>> {
      return scrape();
    }
  }
  new ScrapedHistogram({
    name: DURATION,
    help: DURATION_HELP,
    labelNames: PAIR_LABELS,
    buckets: [...DURATION_BUCKETS_SECONDS],
    registers: [registry],
  });
}

/** What /metrics renders: the Prometheus text of every metric, filled now. */
export interface MetricsRegistry {
  metrics(): Promise<string>;
  /** Every metric declared, with its type and labels (what dashboards may read: examples/grafana's test). */
  declared(): Promise<{ name: string; type: string; labelNames: string[] }[]>;
}

export function createMetrics(
  recorder: TelemetryRecorder,
  extra: MetricsExtra,
): { registry: MetricsRegistry } {
  let built: Promise<Registry> | undefined;
  const registry = () =>
    (built ??= import('prom-client').then((prom) => buildRegistry(prom, recorder, extra)));
  return {
    registry: {
      metrics: async () => (await registry()).metrics(),
      declared: async () =>
        (await registry()).getMetricsAsArray().map((metric) => {
          const m = metric as unknown as { name: string; type: unknown; labelNames?: string[] };
          return { name: m.name, type: String(m.type), labelNames: [...(m.labelNames ?? [])] };
        }),
    },
  };
}

function buildRegistry(prom: PromClient, recorder: TelemetryRecorder, extra: MetricsExtra): Registry {
  const { Counter, Gauge } = prom;
  const registry = new prom.Registry();
  if (extra.processMetrics)
    prom.collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
  const reporter = (destination: string) => (destination === extra.service() ? 'destination' : 'source');

  let cached: TelemetryTotals | undefined;
  const snapshot = (): TelemetryTotals => {
    if (cached === undefined) {
      cached = recorder.totals();
      queueMicrotask(() => {
        cached = undefined;
      });
    }
    return cached;
  };

  new Counter({
    name: 'trellis_requests_total',
    help: 'Requests by response code class ("error": no response from the upstream, or a local reply).',
    labelNames: [...EDGE_LABELS, 'response_code_class'],
    registers: [registry],
    collect() {
      this.reset();
      for (const edge of snapshot().edges) {
        for (const cls of RESPONSE_CLASSES) {
          const n = edge.byClass[cls];
          if (n === 0) continue;
          this.inc(
            {
              reporter: reporter(edge.destination),
              source_service: edge.source,
              destination_service: edge.destination,
              destination_endpoint: edge.endpoint,
              response_code_class: cls,
            },
            n,
          );
        }
      }
    },
  });

  registerScrapedHistogram(prom, registry, snapshot, reporter);

  for (const [name, help, field] of [
    ['trellis_request_bytes_total', 'Request bytes received from clients.', 'bytesIn'],
    ['trellis_response_bytes_total', 'Response bytes sent to clients.', 'bytesOut'],
  ] as const) {
    new Counter({
      name,
      help,
      labelNames: EDGE_LABELS,
      registers: [registry],
      collect() {
        this.reset();
        for (const edge of snapshot().edges) {
          this.inc(
            {
              reporter: reporter(edge.destination),
              source_service: edge.source,
              destination_service: edge.destination,
              destination_endpoint: edge.endpoint,
            },
            edge[field],
          );
        }
      },
    });
  }

  for (const [name, help, field] of [
    ['trellis_retries_total', 'Retried requests.', 'retries'],
    ['trellis_overflows_total', 'Requests refused because a circuit-breaker limit was reached.', 'overflows'],
  ] as const) {
    new Counter({
      name,
      help,
      labelNames: PAIR_LABELS,
      registers: [registry],
      collect() {
        this.reset();
        for (const pair of snapshot().pairs) {
          this.inc(
            {
              reporter: reporter(pair.destination),
              source_service: pair.source,
              destination_service: pair.destination,
            },
            pair[field],
          );
        }
      },
    });
  }

  new Counter({
    name: 'trellis_ejections_total',
    help: 'Endpoints ejected by outlier detection.',
    labelNames: ['destination_service', 'destination_endpoint'],
    registers: [registry],
    collect() {
      this.reset();
      for (const e of snapshot().ejections) {
        this.inc({ destination_service: e.destination, destination_endpoint: e.endpoint }, e.count);
      }
    },
  });

  for (const [name, help, field] of [
    ['trellis_authz_denied_total', 'Requests an authorization policy denied.', 'denied'],
    [
      'trellis_authz_dry_run_denied_total',
      'Requests a dry-run authorization policy would have denied (let through).',
      'dryRunDenied',
    ],
  ] as const) {
    new Counter({
      name,
      help,
      labelNames: ['source', 'destination', 'policy'],
      registers: [registry],
      collect() {
        this.reset();
        for (const a of snapshot().authz) {
          if (a[field] === 0) continue;
          this.inc({ source: a.source, destination: a.destination, policy: a.policy }, a[field]);
        }
      },
    });
  }

  new Gauge({
    name: 'trellis_active_requests',
    help: 'Requests in flight.',
    registers: [registry],
    collect() {
      this.set(snapshot().activeRequests);
    },
  });

  const pools = extra.upstreamPools;
  if (pools) {
    const perEndpoint = (
      name: string,
      help: string,
      type: typeof GaugeType | typeof CounterType,
      field: 'connections' | 'pending' | 'opened',
    ) =>
      new type({
        name,
        help,
        labelNames: ['destination_endpoint'],
        registers: [registry],
        collect() {
          this.reset();
          for (const p of pools()) {
            if (this instanceof Gauge) this.set({ destination_endpoint: p.endpoint }, p[field]);
            else this.inc({ destination_endpoint: p.endpoint }, p[field]);
          }
        },
      });
    perEndpoint(
      'trellis_upstream_connections',
      'Upstream connections open or being opened, per endpoint.',
      Gauge,
      'connections',
    );
    perEndpoint(
      'trellis_upstream_pending_requests',
      'Requests waiting for an upstream connection, per endpoint.',
      Gauge,
      'pending',
    );
    perEndpoint(
      'trellis_upstream_connections_opened_total',
      'Upstream connections opened, per endpoint.',
      Counter,
      'opened',
    );
  }

  new Gauge({
    name: 'trellis_config_revision',
    help: 'Mesh revision of the configuration in use.',
    registers: [registry],
    collect() {
      this.set(extra.revision());
    },
  });

  new Counter({
    name: 'trellis_config_reloads_total',
    help: 'Configuration snapshots received, by whether they were applied or rejected.',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      const { applied, rejected } = extra.reloads();
      this.reset();
      this.inc({ result: 'applied' }, applied);
      this.inc({ result: 'rejected' }, rejected);
    },
  });

  return registry;
}

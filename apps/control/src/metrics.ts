/**
 * The control plane's Prometheus metrics, served at GET /metrics, and the one place their names and labels are
 * declared. Each app gets a registry of its own (tests run many control planes in one process). The proxy
 * stream, the telemetry pipeline and the HTTP API each count into it; the connected-proxies gauge is read from
 * the stream at scrape time, so it cannot drift from GET /api/v1/proxies.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Upper bounds of trellis_control_convergence_seconds: commit to ACK spans milliseconds to a slow proxy's seconds. */
const CONVERGENCE_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Upper bounds of trellis_control_http_request_duration_seconds. */
const HTTP_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Every metric name the control plane exports besides prom-client's process defaults; the dashboard test reads it. */
export const CONTROL_METRIC_NAMES = {
  pushes: 'trellis_control_pushes_total',
  acks: 'trellis_control_acks_total',
  nacks: 'trellis_control_nacks_total',
  convergence: 'trellis_control_convergence_seconds',
  connectedProxies: 'trellis_control_connected_proxies',
  telemetryFrames: 'trellis_control_telemetry_frames_total',
  telemetryDropped: 'trellis_control_telemetry_frames_dropped_total',
  httpDuration: 'trellis_control_http_request_duration_seconds',
  revisions: 'trellis_control_revisions_total',
} as const;

export class ControlMetrics {
  readonly registry = new Registry();
  /** By message kind: snapshot, config or endpoints (stream/slice.ts). */
  readonly pushes: Counter<'kind'>;
  readonly acks: Counter<'kind'>;
  readonly nacks: Counter<'kind'>;
  readonly convergence: Histogram;
  readonly telemetryFrames: Counter;
  readonly telemetryDropped: Counter;
  readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  readonly revisions: Counter<'kind'>;
  private connected: () => number = () => 0;

  constructor() {
    const registers = [this.registry];
    const N = CONTROL_METRIC_NAMES;
    this.pushes = new Counter({
      name: N.pushes,
      help: 'Messages pushed to proxies, by kind (snapshot: the whole slice; config; endpoints: a delta).',
      labelNames: ['kind'],
      registers,
    });
    this.acks = new Counter({
      name: N.acks,
      help: 'Pushed messages proxies acknowledged (applied), by kind.',
      labelNames: ['kind'],
      registers,
    });
    this.nacks = new Counter({
      name: N.nacks,
      help: 'Pushed messages proxies refused (NACK), by kind.',
      labelNames: ['kind'],
      registers,
    });
    this.convergence = new Histogram({
      name: N.convergence,
      help: 'Time from a revision being committed to a proxy acknowledging it, in seconds.',
      buckets: CONVERGENCE_BUCKETS_SECONDS,
      registers,
    });
    const self = this;
    new Gauge({
      name: N.connectedProxies,
      help: 'Proxies with an open stream to this control-plane replica.',
      registers,
      collect() {
        this.set(self.connected());
      },
    });
    this.telemetryFrames = new Counter({
      name: N.telemetryFrames,
      help: 'Telemetry frames taken in from proxies.',
      registers,
    });
    this.telemetryDropped = new Counter({
      name: N.telemetryDropped,
      help: 'Telemetry frames dropped (pipeline stopped, or a frame could not be taken in).',
      registers,
    });
    this.httpDuration = new Histogram({
      name: N.httpDuration,
      help: 'Duration of REST API requests by method, route template and status code, in seconds.',
      labelNames: ['method', 'route', 'status_code'],
      buckets: HTTP_BUCKETS_SECONDS,
      registers,
    });
    this.revisions = new Counter({
      name: N.revisions,
      help: 'Mesh revisions committed (by any replica), as this replica loaded them, by kind (config or endpoints).',
      labelNames: ['kind'],
      registers,
    });
    collectDefaultMetrics({ register: this.registry });
  }

  /** Where the connected-proxies gauge reads its value at scrape time. */
  countConnected(source: () => number): void {
    this.connected = source;
  }
}

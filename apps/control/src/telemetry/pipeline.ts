/**
 * The telemetry pipeline of one control-plane process, assembled: frames from the proxy stream go to the live
 * view and to the store's pending buckets; timers flush those to Postgres, sweep rows past retention and tick the
 * live stream. Stopping flushes what is left, so a clean shutdown loses nothing.
 */
import type { TelemetryFrame, Topology } from '@trellis/schema';
import type { Logger } from 'pino';
import type { Db } from '../db/client.ts';
import type { ControlMetrics } from '../metrics.ts';
import { LiveView, type LiveViewOptions } from './live.ts';
import { TelemetryStore } from './store.ts';
import { TelemetryStream } from './stream.ts';
import { buildTopology, loadRegistry } from './topology.ts';

export interface TelemetryPipelineOptions {
  db: Db;
  clock: () => Date;
  logger: Logger;
  retentionFineMs: number;
  retentionCoarseMs: number;
  /** How often pending buckets are written. */
  flushIntervalMs: number;
  /** How often rows past retention are deleted. Default one minute. */
  sweepIntervalMs?: number;
  /** Interval of the live telemetry stream. Default 1000. */
  streamIntervalMs?: number;
  live?: Omit<LiveViewOptions, 'clock'>;
  /** Counts frames taken in and dropped (GET /metrics). */
  metrics?: ControlMetrics;
}

export class TelemetryPipeline {
  readonly live: LiveView;
  readonly store: TelemetryStore;
  readonly stream: TelemetryStream;
  private readonly log: Logger;
  private timers: NodeJS.Timeout[] = [];
  private flushing: Promise<unknown> | undefined;
  private stopped = false;

  constructor(private readonly options: TelemetryPipelineOptions) {
    this.log = options.logger.child({ component: 'telemetry' });
    this.live = new LiveView({ clock: options.clock, ...options.live });
    this.store = new TelemetryStore({
      db: options.db,
      clock: options.clock,
      retentionFineMs: options.retentionFineMs,
      retentionCoarseMs: options.retentionCoarseMs,
    });
    this.stream = new TelemetryStream({
      logger: options.logger,
      topology: () => this.topology(),
      ...(options.streamIntervalMs === undefined ? {} : { intervalMs: options.streamIntervalMs }),
    });
  }

  /** For ProxyStreamOptions.telemetry: called with every batch of frames a proxy sends. */
  ingest(frames: TelemetryFrame[]): void {
    const metrics = this.options.metrics;
    if (this.stopped) {
      metrics?.telemetryDropped.inc(frames.length);
      return;
    }
    try {
      this.live.ingest(frames);
      this.store.record(frames);
      metrics?.telemetryFrames.inc(frames.length);
    } catch (err) {
      // A bug here must cost telemetry, not the proxy's connection (this runs inside its message handler).
      this.log.error({ err }, 'could not take in telemetry frames');
      metrics?.telemetryDropped.inc(frames.length);
    }
  }

  async topology(): Promise<Topology> {
    const registry = await loadRegistry(this.options.db);
    return buildTopology(this.live.snapshot(), registry);
  }

  start(): void {
    const every = (ms: number, fn: () => void) => {
      const timer = setInterval(fn, ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(this.options.flushIntervalMs, () => {
      this.flush();
    });
    every(this.options.sweepIntervalMs ?? 60_000, () => {
      this.store.sweep().then(
        (n) => n > 0 && this.log.debug({ deleted: n }, 'deleted telemetry past its retention'),
        (err) => this.log.warn({ err }, 'telemetry retention sweep failed; will retry'),
      );
    });
    every(5000, () => this.live.prune());
    this.stream.start();
  }

  /** Writes pending buckets now (one flush at a time); failures are logged and retried by the next flush. */
  flush(): Promise<unknown> {
    if (!this.flushing) {
      this.flushing = this.store
        .flush()
        .catch((err) => this.log.warn({ err }, 'could not write telemetry; will retry'))
        .finally(() => {
          this.flushing = undefined;
        });
    }
    return this.flushing;
  }

  /** Stops the timers and the live stream, then writes what is pending. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.stream.close();
    await this.flushing;
    await this.flush();
  }
}

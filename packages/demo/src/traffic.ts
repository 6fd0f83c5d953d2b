/**
 * Steady load against the ingress: a fixed number of requests per second, started on a timer whether or not the
 * earlier ones have answered (open loop, like real users), so a slow mesh shows as latency and failures rather than
 * as a generator that politely slows down. Counts are public for tests and the demo's periodic summary: sent, ok,
 * failed (a non-2xx answer, a connection error or a timeout), and which version and instance of each service
 * answered, read from the chain each demo app puts in its answer.
 */
import http from 'node:http';
import { type ChainLink, chainOf } from './app.ts';

export interface TrafficOptions {
  /** e.g. http://127.0.0.1:7100/ */
  url: string;
  requestsPerSecond: number;
  /** A request without an answer after this long counts as failed. */
  timeoutMs?: number;
}

export interface TrafficResult {
  at: number;
  ok: boolean;
  /** HTTP status; 0 when there was no answer. */
  status: number;
  /** Why it failed: the proxy's x-trellis-error tag, an error code, "timeout". */
  error?: string;
  durationMs: number;
  chain: ChainLink[];
}

export interface TrafficStats {
  sent: number;
  ok: number;
  failed: number;
  inFlight: number;
  /** Answers by status ("200", "502"; "0" for no answer). */
  statuses: Record<string, number>;
  /** Answers by `service version` and by `service instance` along the chain, e.g. "service-b v2". */
  seen: Record<string, number>;
  /** The last few failures, newest last. */
  failures: TrafficResult[];
}

const KEPT_FAILURES = 20;

function emptyStats(): TrafficStats {
  return { sent: 0, ok: 0, failed: 0, inFlight: 0, statuses: {}, seen: {}, failures: [] };
}

/** Adds one answer's chain to a `seen` tally. */
export function tally(seen: Record<string, number>, chain: ChainLink[]): void {
  for (const link of chain) {
    const byVersion = `${link.service} ${link.version}`;
    const byInstance = `${link.service} ${link.instance}`;
    seen[byVersion] = (seen[byVersion] ?? 0) + 1;
    if (byInstance !== byVersion) seen[byInstance] = (seen[byInstance] ?? 0) + 1;
  }
}

export class TrafficGenerator {
  readonly stats: TrafficStats = emptyStats();
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  private readonly observers = new Set<(result: TrafficResult) => void>();
  private timer: NodeJS.Timeout | undefined;
  private pending = new Set<Promise<void>>();
  private startedAt = 0;
  private scheduled = 0;

  constructor(private readonly options: TrafficOptions) {
    if (!(options.requestsPerSecond > 0)) throw new Error('requestsPerSecond must be > 0');
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  start(): void {
    if (this.timer) return;
    this.startedAt = performance.now();
    this.scheduled = 0;
    // Tick often and send whatever is due, so the rate holds even when timers fire late.
    const interval = Math.max(5, Math.min(100, 1000 / this.options.requestsPerSecond));
    this.timer = setInterval(() => this.tick(), interval);
    this.tick();
  }

  /** Calls `observer` with every result from now on; returns the function that stops it. */
  observe(observer: (result: TrafficResult) => void): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  /** Stops sending and resolves when every request already sent has settled, so the counts are final. */
  async stop(): Promise<TrafficStats> {
    clearInterval(this.timer);
    this.timer = undefined;
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    this.agent.destroy();
    return this.stats;
  }

  private tick(): void {
    const due =
      Math.floor(((performance.now() - this.startedAt) / 1000) * this.options.requestsPerSecond) + 1;
    // After a long stall, do not burst to catch up: drop what is more than a second late.
    const behind = due - this.scheduled;
    if (behind > this.options.requestsPerSecond)
      this.scheduled = due - Math.ceil(this.options.requestsPerSecond);
    while (this.scheduled < due) {
      this.scheduled += 1;
      const request = this.send().finally(() => this.pending.delete(request));
      this.pending.add(request);
    }
  }

  private send(): Promise<void> {
    const stats = this.stats;
    stats.sent += 1;
    stats.inFlight += 1;
    const started = performance.now();
    const timeoutMs = this.options.timeoutMs ?? 10_000;
    return new Promise<TrafficResult>((resolve) => {
      const finish = (status: number, body: string, error?: string) => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(body);
        } catch {
          parsed = undefined;
        }
        const ok = error === undefined && status >= 200 && status < 300 && parsed !== undefined;
        resolve({
          at: Date.now(),
          ok,
          status,
          ...(ok ? {} : { error: error ?? (parsed === undefined ? 'not JSON' : `status ${status}`) }),
          durationMs: performance.now() - started,
          chain: chainOf(parsed),
        });
      };
      const req = http.get(this.options.url, { agent: this.agent, timeout: timeoutMs }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => {
          const tag = res.headers['x-trellis-error'];
          finish(res.statusCode ?? 0, body, typeof tag === 'string' ? tag : undefined);
        });
        res.on('error', (error) => finish(res.statusCode ?? 0, body, error.message));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (error: NodeJS.ErrnoException) => finish(0, '', error.code ?? error.message));
    }).then((result) => {
      stats.inFlight -= 1;
      const key = String(result.status);
      stats.statuses[key] = (stats.statuses[key] ?? 0) + 1;
      if (result.ok) {
        stats.ok += 1;
        tally(stats.seen, result.chain);
      } else {
        stats.failed += 1;
        stats.failures.push(result);
        if (stats.failures.length > KEPT_FAILURES) stats.failures.shift();
      }
      for (const observer of this.observers) observer(result);
    });
  }
}

/**
 * Active health checking, as Envoy's HTTP health checker: the proxy itself GETs a path on every endpoint each
 * interval, so that an endpoint that is down is taken out of load balancing before real requests find out, and
 * is put back once it answers again. Thresholds of consecutive results keep one lost probe (or one lucky one) from
 * flapping an endpoint. Endpoints that are draining belong to their operator and are neither probed nor changed.
 *
 * Probes use node:http with a fresh connection each (`agent: false`, `connection: close`): health must reflect
 * whether the endpoint accepts connections now, and no pooled socket outlives `stop()`. The interval is a chain of
 * timeouts started after each round, so rounds never overlap, whatever the probes' latency.
 */
import http from 'node:http';
import type { HealthCheck } from '@trellis/schema';
import { type Clock, type EndpointState, hostPort, systemClock } from '../types.ts';

export interface HealthCheckHooks {
  /** Some endpoint's health changed. */
  onChange(): void;
}

export interface HealthCheckOptions {
  clock?: Clock;
}

interface ProbeState {
  successes: number;
  failures: number;
  inFlight: Promise<void> | undefined;
}

/** The URL probed on `endpoint`; IPv6 addresses are bracketed. */
export function healthCheckUrl(endpoint: Pick<EndpointState, 'address' | 'port'>, path: string): string {
  return `http://${hostPort(endpoint.address, endpoint.port)}${path}`;
}

export class ActiveHealthChecker {
  private readonly config: HealthCheck;
  private readonly hooks: HealthCheckHooks;
  private readonly clock: Clock;
  private states = new Map<EndpointState, ProbeState>();
  private readonly requests = new Set<http.ClientRequest>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  /** Bumped by stop(): results of probes started before it are dropped. */
  private epoch = 0;

  constructor(config: HealthCheck, hooks: HealthCheckHooks, options: HealthCheckOptions = {}) {
    this.config = config;
    this.hooks = hooks;
    this.clock = options.clock ?? systemClock;
  }

  setEndpoints(endpoints: readonly EndpointState[]): void {
    const next = new Map<EndpointState, ProbeState>();
    for (const endpoint of endpoints) {
      next.set(endpoint, this.states.get(endpoint) ?? { successes: 0, failures: 0, inFlight: undefined });
    }
    this.states = next;
  }

  /** Probes now, then every intervalMs until stop(). */
  start(): void {
    if (this.running) return;
    this.running = true;
    void this.round();
  }

  /** Stops the timer and aborts the probes in flight; their results are ignored. */
  stop(): void {
    this.running = false;
    this.epoch++;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const request of this.requests) request.destroy();
    this.requests.clear();
    for (const state of this.states.values()) state.inFlight = undefined;
  }

  /** Probes every endpoint once (joining a probe already in flight) and applies the results. */
  async probeOnce(): Promise<void> {
    const probes: Promise<void>[] = [];
    for (const [endpoint, state] of this.states) {
      if (endpoint.health === 'draining') {
        state.successes = 0;
        state.failures = 0;
        continue;
      }
      state.inFlight ??= this.probe(endpoint, state);
      probes.push(state.inFlight);
    }
    await Promise.all(probes);
  }

  private async round(): Promise<void> {
    const epoch = this.epoch;
    const started = this.clock.now();
    await this.probeOnce();
    if (!this.running || epoch !== this.epoch) return;
    const elapsed = this.clock.now() - started;
    this.timer = setTimeout(() => void this.round(), Math.max(0, this.config.intervalMs - elapsed));
    this.timer.unref();
  }

  private async probe(endpoint: EndpointState, state: ProbeState): Promise<void> {
    const epoch = this.epoch;
    const healthy = await this.get(healthCheckUrl(endpoint, this.config.path));
    if (epoch !== this.epoch) return;
    state.inFlight = undefined;
    if (this.states.get(endpoint) !== state) return;
    if (healthy) {
      state.successes++;
      state.failures = 0;
    } else {
      state.failures++;
      state.successes = 0;
    }
    if (endpoint.health === 'healthy' && state.failures >= this.config.unhealthyThreshold) {
      endpoint.health = 'unhealthy';
      this.hooks.onChange();
    } else if (endpoint.health === 'unhealthy' && state.successes >= this.config.healthyThreshold) {
      endpoint.health = 'healthy';
      this.hooks.onChange();
    }
  }

  /** True for a 2xx within timeoutMs; false for any other status, a connection error or a timeout. */
  private get(url: string): Promise<boolean> {
    return new Promise((resolve) => {
      let settled = false;
      const settle = (ok: boolean) => {
        if (settled) return;
        settled = true;
        resolve(ok);
      };
      let request: http.ClientRequest;
      try {
        request = http.request(url, {
          method: 'GET',
          agent: false,
          headers: { connection: 'close', 'user-agent': 'trellis-health-check' },
        });
      } catch {
        settle(false);
        return;
      }
      const timer = setTimeout(() => {
        settle(false);
        request.destroy();
      }, this.config.timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.requests.delete(request);
        settle(false);
      };
      this.requests.add(request);
      request.on('response', (response) => {
        const status = response.statusCode ?? 0;
        settle(status >= 200 && status < 300);
        response.on('error', () => {});
        response.resume();
      });
      request.on('error', () => settle(false));
      request.on('close', done);
      request.end();
    });
  }
}

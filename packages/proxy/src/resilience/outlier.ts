/**
 * Passive health checking modelled on Envoy's outlier detection: the request path reports every attempt's
 * outcome, and endpoints that keep failing are ejected from load balancing for a while instead of waiting for an
 * active health check (or a human) to notice. Ejections grow longer for hosts that are ejected again and again
 * (base × times ejected, capped), and shrink back while a host behaves. `maxEjectionPercent` keeps a bad
 * deployment or a detector gone wrong from emptying the cluster.
 *
 * Consecutive-error detection runs inline in `report()`, which sits on the request path and so does a map lookup
 * and a few counter updates only. Un-ejection, the decay of the ejection multiplier and the success-rate detector
 * run in `tick()`, once per interval, as in Envoy.
 */
import type { OutlierDetection } from '@trellis/schema';
import type { Clock, EndpointState, Outcome } from '../types.ts';

export type EjectionReason = 'consecutive_5xx' | 'consecutive_gateway' | 'success_rate';

export interface OutlierHooks {
  /** Something was ejected or returned: the set of usable hosts changed. */
  onChange(): void;
  onEject?(endpoint: EndpointState, reason: EjectionReason): void;
  onUneject?(endpoint: EndpointState): void;
}

interface HostStats {
  consecutive5xx: number;
  consecutiveGateway: number;
  /** The ejection-time multiplier: +1 per ejection, −1 per interval spent not ejected. */
  timesEjected: number;
  /** Attempts and successes in the current interval, for the success-rate detector. */
  requests: number;
  successes: number;
}

function isGatewayStatus(status: number): boolean {
  return status === 502 || status === 503 || status === 504;
}

export class OutlierDetector {
  private readonly config: OutlierDetection;
  private readonly clock: Clock;
  private readonly hooks: OutlierHooks;
  private hosts = new Map<EndpointState, HostStats>();
  private ejected = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(config: OutlierDetection, clock: Clock, hooks: OutlierHooks) {
    this.config = config;
    this.clock = clock;
    this.hooks = hooks;
  }

  /** The cluster's current hosts. State is kept for hosts that stay and forgotten for hosts that left. */
  setEndpoints(endpoints: readonly EndpointState[]): void {
    const next = new Map<EndpointState, HostStats>();
    let ejected = 0;
    for (const endpoint of endpoints) {
      if (next.has(endpoint)) continue;
      next.set(endpoint, this.hosts.get(endpoint) ?? newStats(endpoint));
      if (endpoint.ejectedUntil !== 0) ejected++;
    }
    this.hosts = next;
    this.ejected = ejected;
  }

  /** The outcome of one attempt to `endpoint`. Unknown endpoints are ignored. */
  report(endpoint: EndpointState, outcome: Outcome): void {
    if (!this.config.enabled) return;
    const stats = this.hosts.get(endpoint);
    if (stats === undefined) return;
    stats.requests++;
    let gateway = true;
    if (outcome.kind === 'response') {
      if (outcome.status < 500) {
        stats.successes++;
        stats.consecutive5xx = 0;
        stats.consecutiveGateway = 0;
        return;
      }
      gateway = isGatewayStatus(outcome.status);
    }
    stats.consecutive5xx++;
    stats.consecutiveGateway = gateway ? stats.consecutiveGateway + 1 : 0;
    if (endpoint.ejectedUntil !== 0) return;

    const gatewayThreshold = this.config.consecutiveGatewayErrors;
    if (gatewayThreshold > 0 && stats.consecutiveGateway >= gatewayThreshold) {
      stats.consecutiveGateway = 0;
      if (this.eject(endpoint, stats, 'consecutive_gateway', this.clock.now())) {
        this.hooks.onChange();
        return;
      }
    }
    const threshold = this.config.consecutive5xx;
    if (threshold > 0 && stats.consecutive5xx >= threshold) {
      stats.consecutive5xx = 0;
      if (this.eject(endpoint, stats, 'consecutive_5xx', this.clock.now())) this.hooks.onChange();
    }
  }

  /** One interval: return hosts whose ejection ran out, decay the multipliers, run the success-rate detector. */
  tick(): void {
    const now = this.clock.now();
    let changed = false;
    let ejected = 0;
    for (const [endpoint, stats] of this.hosts) {
      if (endpoint.ejectedUntil === 0) {
        if (stats.timesEjected > 0) stats.timesEjected--;
      } else if (endpoint.ejectedUntil <= now) {
        endpoint.ejectedUntil = 0;
        stats.consecutive5xx = 0;
        stats.consecutiveGateway = 0;
        this.hooks.onUneject?.(endpoint);
        changed = true;
      } else {
        ejected++;
      }
    }
    this.ejected = ejected;
    if (this.config.enabled && this.config.successRate !== undefined && this.detectSuccessRate(now)) {
      changed = true;
    }
    for (const stats of this.hosts.values()) {
      stats.requests = 0;
      stats.successes = 0;
    }
    if (changed) this.hooks.onChange();
  }

  /** Runs `tick()` every `intervalMs` without keeping the process alive. */
  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.tick(), this.config.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  ejectedCount(): number {
    return this.ejected;
  }

  /**
   * Envoy's success-rate outlier detection over the hosts that are not ejected and saw enough requests in the
   * interval; the worst are tried first so that maxEjectionPercent leaves the clearest outliers ejected.
   */
  private detectSuccessRate(now: number): boolean {
    const config = this.config.successRate;
    if (config === undefined) return false;
    const candidates: { endpoint: EndpointState; stats: HostStats; rate: number }[] = [];
    for (const [endpoint, stats] of this.hosts) {
      if (endpoint.ejectedUntil !== 0 || stats.requests < config.requestVolume) continue;
      candidates.push({ endpoint, stats, rate: stats.successes / stats.requests });
    }
    if (candidates.length === 0 || candidates.length < config.minimumHosts) return false;
    let sum = 0;
    for (const c of candidates) sum += c.rate;
    const mean = sum / candidates.length;
    let squares = 0;
    for (const c of candidates) squares += (c.rate - mean) ** 2;
    const threshold = mean - config.stdevFactor * Math.sqrt(squares / candidates.length);
    candidates.sort((a, b) => a.rate - b.rate);
    let changed = false;
    for (const c of candidates) {
      if (c.rate >= threshold) break;
      if (this.eject(c.endpoint, c.stats, 'success_rate', now)) changed = true;
    }
    return changed;
  }

  private eject(endpoint: EndpointState, stats: HostStats, reason: EjectionReason, now: number): boolean {
    if (endpoint.ejectedUntil !== 0) return false;
    if (this.ejected > 0 && (this.ejected + 1) * 100 > this.config.maxEjectionPercent * this.hosts.size) {
      return false;
    }
    stats.timesEjected++;
    endpoint.ejectedUntil =
      now + Math.min(this.config.baseEjectionTimeMs * stats.timesEjected, this.config.maxEjectionTimeMs);
    this.ejected++;
    this.hooks.onEject?.(endpoint, reason);
    return true;
  }
}

function newStats(endpoint: EndpointState): HostStats {
  return {
    consecutive5xx: 0,
    consecutiveGateway: 0,
    timesEjected: endpoint.ejectedUntil === 0 ? 0 : 1,
    requests: 0,
    successes: 0,
  };
}

/**
 * Compiles a validated ProxyConfig into what the request path uses: per destination service a cluster (its
 * endpoints, breaker, retry budget, outlier detector, host sets per subset) and a router whose routes carry
 * ready-made stage chains. A compiled snapshot is immutable to the request path: a new config produces a new
 * one, swapped in at once, while requests that started on the old one finish there. Endpoint state objects
 * and connection pools are shared between snapshots so that ejections and connections survive a swap.
 */
import {
  type Listener,
  matchesSubset,
  type ProxyConfig,
  type RouteRuleSpec,
  type ServiceSpec,
  type Subset,
  subsetKey,
  type TrafficPolicySpec,
} from '@trellis/schema';
import { Authorizer } from './authz.ts';
import { HostSet } from './balance/host-set.ts';
import type { UpstreamPool } from './engine/upstream.ts';
import type { MeshTls } from './mtls.ts';
import type { Pools } from './pools.ts';
import { ActiveHealthChecker } from './resilience/health-check.ts';
import { type EjectionReason, OutlierDetector } from './resilience/outlier.ts';
import { RetryBudget } from './resilience/retry-budget.ts';
import { Router } from './router.ts';
import { defaultPolicy } from './schemas.ts';
import { balance } from './stages/balance.ts';
import { BreakerState, breaker } from './stages/breaker.ts';
import { connect } from './stages/connect.ts';
import { retry } from './stages/retry.ts';
import { timeout } from './stages/timeout.ts';
import type { TelemetryRecorder } from './telemetry/recorder.ts';
import {
  type Clock,
  compose,
  type Dispatch,
  type EndpointState,
  newEndpointState,
  type Rng,
} from './types.ts';

export interface RuntimeDeps {
  clock: Clock;
  rng: Rng;
  pools: Pools;
  recorder: TelemetryRecorder;
  /** Endpoint state shared across snapshots, keyed by service|address:port. */
  endpoints: Map<string, EndpointState>;
  source: string;
  onEjectionChange?(): void;
  /**
   * Every ejection, as Envoy's outlier event log has it: the service, the endpoint, why, and until when (ms on the
   * deps' clock). The proxy logs it.
   */
  onEject?(event: { service: string; endpoint: string; reason: EjectionReason; ejectedForMs: number }): void;
  /** Mutual TLS to mesh endpoints, once the proxy holds a certificate. */
  tls?: () => MeshTls | undefined;
}

export interface Destination {
  weight: number;
  subset: Subset;
  dispatch: Dispatch;
}

export interface RouteTarget {
  rule: RouteRuleSpec;
  destinations: Destination[];
  weights: number[];
  mirror?: { percent: number; dispatch: Dispatch } | undefined;
  hashHeader?: string | undefined;
}

export interface Cluster {
  service: ServiceSpec;
  endpoints: EndpointState[];
  policy: TrafficPolicySpec;
  breakers: Map<string, BreakerState>;
  budget: RetryBudget;
  outlier: OutlierDetector;
  health?: ActiveHealthChecker | undefined;
  hostSets: Map<string, HostSet>;
  router: Router<RouteTarget>;
  hostSet(subset: Subset): HostSet;
  policyFor(subset: Subset): TrafficPolicySpec;
  breakerFor(subset: Subset): BreakerState;
  /**
   * The connection pool requests to `endpoint` (picked for `subset`) go through: mutual TLS to a mesh endpoint as the
   * mode says, the subset's policy's connect timeout. Connection upgrades open their connection with its connector.
   */
  pool(endpoint: EndpointState, subset: Subset): UpstreamPool;
}

export interface Snapshot {
  config: ProxyConfig;
  clusters: Map<string, Cluster>;
  listeners: Map<string, Listener>;
  /** Host header value (without port) → service name. */
  hosts: Map<string, string>;
  /** The authorization policies inbound listeners enforce; undefined when none applies to this service. */
  authz: Authorizer | undefined;
  appliedAt: Date;
  /** Stops the detectors and health checkers of this snapshot (after it was replaced). */
  retire(): void;
  /** Starts them (once it is current). */
  activate(): void;
}

function endpointKey(service: string, address: string, port: number): string {
  return `${service}|${address}:${port}`;
}

export function buildSnapshot(config: ProxyConfig, deps: RuntimeDeps): Snapshot {
  const clusters = new Map<string, Cluster>();
  const liveKeys = new Set<string>();
  for (const service of config.services) {
    const endpoints: EndpointState[] = [];
    for (const e of config.endpoints) {
      if (e.service !== service.name) continue;
      const key = endpointKey(service.name, e.address, e.port);
      liveKeys.add(key);
      let state = deps.endpoints.get(key);
      if (!state) {
        state = newEndpointState(service.name, e.address, e.port, {
          weight: e.weight,
          labels: e.labels,
          zone: e.zone,
          health: e.health,
          mesh: e.source === 'proxy',
        });
        deps.endpoints.set(key, state);
      } else {
        state.weight = e.weight;
        state.labels = e.labels;
        state.zone = e.zone;
        state.health = e.health;
        state.mesh = e.source === 'proxy';
      }
      endpoints.push(state);
    }
    clusters.set(service.name, buildCluster(service, endpoints, config, deps));
  }
  for (const key of deps.endpoints.keys()) if (!liveKeys.has(key)) deps.endpoints.delete(key);

  return {
    config,
    clusters,
    listeners: new Map(config.listeners.map((l) => [l.name, l])),
    hosts: new Map(config.services.map((s) => [s.name, s.name])),
    authz: Authorizer.compile(config.authorizationPolicies, config.node.service),
    appliedAt: new Date(),
    activate() {
      for (const c of clusters.values()) {
        c.outlier.start();
        c.health?.start();
      }
    },
    retire() {
      for (const c of clusters.values()) {
        c.outlier.stop();
        c.health?.stop();
      }
    },
  };
}

function buildCluster(
  service: ServiceSpec,
  endpoints: EndpointState[],
  config: ProxyConfig,
  deps: RuntimeDeps,
): Cluster {
  const policies = config.policies.filter((p) => p.service === service.name);
  const servicePolicy =
    policies.find((p) => p.subset === undefined || subsetKey(p.subset) === '') ?? defaultPolicy(service.name);
  const policyFor = (subset: Subset): TrafficPolicySpec => {
    const key = subsetKey(subset);
    return (
      (key === '' ? undefined : policies.find((p) => p.subset && subsetKey(p.subset) === key)) ??
      servicePolicy
    );
  };
  const hostSets = new Map<string, HostSet>();
  const breakers = new Map<string, BreakerState>();
  const invalidateAll = () => {
    for (const h of hostSets.values()) h.invalidate();
    deps.onEjectionChange?.();
  };
  const outlier = new OutlierDetector(servicePolicy.outlierDetection, deps.clock, {
    onChange: invalidateAll,
    onEject: (endpoint, reason) => {
      deps.recorder.ejection(service.name, endpoint.key);
      deps.onEject?.({
        service: service.name,
        endpoint: endpoint.key,
        reason,
        ejectedForMs: Math.round(endpoint.ejectedUntil - deps.clock.now()),
      });
    },
  });
  outlier.setEndpoints(endpoints);
  const health = servicePolicy.healthCheck
    ? new ActiveHealthChecker(servicePolicy.healthCheck, { onChange: invalidateAll }, { clock: deps.clock })
    : undefined;
  health?.setEndpoints(endpoints);
  const budget = new RetryBudget(servicePolicy.retryBudget, deps.clock);

  const lookups = new Map<string, (endpoint: EndpointState) => UpstreamPool>();
  /** Per subset (its policy's pool settings), each endpoint's pool, looked up once per snapshot, not per request. */
  const poolLookup = (subset: Subset): ((endpoint: EndpointState) => UpstreamPool) => {
    const key = subsetKey(subset);
    let lookup = lookups.get(key);
    if (lookup) return lookup;
    const pool = policyFor(subset).connectionPool;
    const found = new WeakMap<EndpointState, { generation: number; pool: UpstreamPool }>();
    lookup = (endpoint) => {
      const meshTls = endpoint.mesh && config.mtls.mode !== 'off' ? deps.tls?.() : undefined;
      const generation = meshTls?.ready ? meshTls.generation : 0;
      let entry = found.get(endpoint);
      if (!entry || entry.generation !== generation) {
        const tls = generation > 0 ? meshTls?.client(service.name, config.mtls.mode) : undefined;
        entry = {
          generation,
          pool: deps.pools.get(endpoint.address, endpoint.port, {
            connections: pool.maxConnections,
            connectTimeoutMs: pool.connectTimeoutMs,
            ...(tls ? { tls } : {}),
          }),
        };
        found.set(endpoint, entry);
      }
      return entry.pool;
    };
    lookups.set(key, lookup);
    return lookup;
  };

  const cluster: Cluster = {
    service,
    endpoints,
    policy: servicePolicy,
    breakers,
    budget,
    outlier,
    health,
    hostSets,
    router: undefined as unknown as Router<RouteTarget>,
    pool: (endpoint, subset) => poolLookup(subset)(endpoint),
    policyFor,
    hostSet(subset) {
      const key = subsetKey(subset);
      let set = hostSets.get(key);
      if (!set) {
        const policy = policyFor(subset);
        set = new HostSet(
          endpoints.filter((e) => matchesSubset(e.labels, subset)),
          policy.loadBalancer,
          policy.panicThresholdPercent,
          deps.rng,
        );
        hostSets.set(key, set);
      }
      return set;
    },
    breakerFor(subset) {
      const policy = policyFor(subset);
      let state = breakers.get(policy.name);
      if (!state) {
        state = new BreakerState(policy.connectionPool);
        breakers.set(policy.name, state);
      }
      return state;
    },
  };

  const attempt = (subset: Subset): Dispatch =>
    compose(
      breaker(cluster.breakerFor(subset), () => deps.recorder.overflow(deps.source, service.name)),
      balance(cluster.hostSet(subset), service.name),
    )(
      connect({
        dispatcher: poolLookup(subset),
        report: (endpoint, outcome) => outlier.report(endpoint, outcome),
      }),
    );

  cluster.router = new Router<RouteTarget>(
    config.routes.filter((r) => r.service === service.name),
    (rule) => {
      const destinations = rule.destinations.map((d) => ({
        weight: d.weight,
        subset: d.subset,
        dispatch: compose(
          timeout(rule.timeoutMs),
          retry(rule.retries, {
            budget,
            breaker: cluster.breakerFor(d.subset),
            rng: deps.rng,
            onRetry: () => deps.recorder.retry(deps.source, service.name),
          }),
          timeout(rule.retries.perTryTimeoutMs),
        )(attempt(d.subset)),
      }));
      const lb = servicePolicy.loadBalancer;
      return {
        rule,
        destinations,
        weights: destinations.map((d) => d.weight),
        mirror: rule.mirror
          ? {
              percent: rule.mirror.percent,
              dispatch: compose(timeout(rule.timeoutMs))(attempt(rule.mirror.subset)),
            }
          : undefined,
        hashHeader: lb.type === 'ring_hash' ? lb.hashHeader.toLowerCase() : undefined,
      };
    },
    service.name,
  );
  return cluster;
}

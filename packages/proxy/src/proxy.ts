/**
 * createProxy(config): one proxy process's worth of listeners, clusters and telemetry, driven by a config
 * snapshot. `apply()` validates a new snapshot with the shared schema, builds it completely (binding any new
 * listener sockets) and only then swaps it in; on any failure the previous snapshot stays and the reason is
 * returned. Listeners that exist in both snapshots keep their sockets and connections.
 */
import type { Server as NetServer } from 'node:net';
import {
  DEFAULT_TRUST_DOMAIN,
  type EjectedEndpoint,
  type FieldError,
  type Listener,
  MAX_EJECTED_NOW,
  type ProxyConfig,
} from '@trellis/schema';
import { type Logger, pino } from 'pino';
import { reportActivity } from './activity.ts';
import { type AdminSource, startAdmin } from './admin.ts';
import type { IdentityManager } from './identity.ts';
import { HttpListener } from './listeners/http.ts';
import { TcpListener } from './listeners/tcp.ts';
import { acceptMeshConnections, connectionPeer, MeshTls } from './mtls.ts';
import { Pools } from './pools.ts';
import { defaultRng } from './rng.ts';
import { buildSnapshot, type Snapshot } from './runtime.ts';
import { checkProxyConfig } from './schemas.ts';
import { createMetrics } from './telemetry/metrics.ts';
import { TelemetryRecorder, type TelemetrySink } from './telemetry/recorder.ts';
import { type Clock, type EndpointState, type Rng, systemClock } from './types.ts';

export interface ProxyOptions {
  clock?: Clock;
  rng?: Rng;
  logger?: Logger;
  /** Admin listener; off unless given. */
  admin?: { host?: string; port: number };
  sink?: TelemetrySink;
  /** How long close() waits for requests in flight. */
  drainTimeoutMs?: number;
  /** One JSON log line per request, at info level. */
  accessLog?: boolean;
  /**
   * The process's own proxy: Node's process metrics (event-loop delay, GC, heap, CPU) on the admin /metrics, and its
   * requests as the process's activity reading (src/activity.ts).
   */
  processMetrics?: boolean;
}

export type ApplyResult =
  | { ok: true; revision: number }
  | { ok: false; message: string; errors: FieldError[] };

export class ProxyConfigError extends Error {
  override name = 'ProxyConfigError';
  constructor(
    message: string,
    readonly errors: FieldError[],
  ) {
    super(message);
  }
}

interface RunningListener {
  key: string;
  server: NetServer;
  /** Stops accepting, lets what is in flight finish for at most `drainMs`, then cuts the rest. */
  close(drainMs: number): Promise<void>;
}

function listenerKey(l: Listener): string {
  const protocol = 'protocol' in l ? l.protocol : 'http';
  return `${l.name}|${l.mode}|${protocol}|${l.address}|${l.port}`;
}

function listen(server: NetServer, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen(port, address, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** Stops accepting a TCP listener's connections; those open after `drainMs` are cut (their tunnels). */
function closeNetServer(server: NetServer, drainMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, drainMs);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export class TrellisProxy {
  readonly recorder: TelemetryRecorder;
  readonly log: Logger;
  private current!: Snapshot;
  private readonly listeners = new Map<string, RunningListener>();
  private readonly pools = new Pools();
  private readonly originPools = new Pools();
  private readonly endpoints = new Map<string, EndpointState>();
  private readonly clock: Clock;
  private readonly rng: Rng;
  private readonly reloads = { applied: 0, rejected: 0 };
  private admin: { url: string; close(): Promise<void> } | undefined;
  private identity: IdentityManager | undefined;
  private meshTls: MeshTls | undefined;
  private applying: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    node: { service: string; instance: string },
    private readonly options: ProxyOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.rng = options.rng ?? defaultRng;
    this.log = options.logger ?? pino({ level: 'silent' });
    this.recorder = new TelemetryRecorder(node);
    this.recorder.reportEjectedFrom(() => this.ejectedNow());
  }

  static async create(input: unknown, options: ProxyOptions = {}): Promise<TrellisProxy> {
    const checked = checkProxyConfig(input);
    if (!checked.ok) throw new ProxyConfigError(`invalid proxy config: ${checked.message}`, checked.errors);
    const proxy = new TrellisProxy(
      { service: checked.value.node.service, instance: checked.value.node.instance },
      options,
    );
    const result = await proxy.applyParsed(checked.value);
    if (!result.ok) throw new ProxyConfigError(result.message, result.errors);
    if (options.admin) proxy.admin = await startAdmin(proxy.adminSource(), options.admin);
    if (options.sink) proxy.recorder.start(options.sink);
    if (options.processMetrics) reportActivity(() => proxy.recorder.requestsBegun);
    return proxy;
  }

  get snapshot(): Snapshot {
    return this.current;
  }

  get adminUrl(): string | undefined {
    return this.admin?.url;
  }

  /** The bound address of a listener (useful with port 0). */
  address(name: string): { address: string; port: number } | undefined {
    for (const l of this.listeners.values()) {
      if (l.key.startsWith(`${name}|`)) {
        const a = l.server.address();
        if (a && typeof a === 'object') return { address: a.address, port: a.port };
      }
    }
    return undefined;
  }

  /** Validates and applies a new snapshot; on failure the current one stays. Calls are serialised. */
  apply(input: unknown): Promise<ApplyResult> {
    const run = this.applying.then(() => {
      const checked = checkProxyConfig(input);
      if (!checked.ok) return this.rejected(`invalid proxy config: ${checked.message}`, checked.errors);
      return this.applyParsed(checked.value);
    });
    this.applying = run.catch(() => {});
    return run;
  }

  private rejected(message: string, errors: FieldError[]): ApplyResult {
    this.reloads.rejected += 1;
    this.log.error({ errors }, message);
    return { ok: false, message, errors };
  }

  private async applyParsed(config: ProxyConfig): Promise<ApplyResult> {
    if (this.closed) return this.rejected('the proxy is shutting down', []);
    if (this.current && config.node.service !== this.current.config.node.service) {
      return this.rejected('node.service cannot change while the proxy runs', [
        { path: 'node.service', message: `must stay "${this.current.config.node.service}"` },
      ]);
    }
    let snapshot: Snapshot;
    try {
      snapshot = buildSnapshot(config, {
        clock: this.clock,
        rng: this.rng,
        pools: this.pools,
        recorder: this.recorder,
        endpoints: this.endpoints,
        source: config.node.service,
        tls: () => this.meshTls,
        onEject: (event) =>
          this.log.warn(
            event,
            `outlier detection ejected ${event.endpoint} of ${event.service} for ${event.ejectedForMs} ms (${event.reason})`,
          ),
      });
    } catch (error) {
      return this.rejected(`could not build the config: ${(error as Error).message}`, []);
    }
    const wanted = new Map(config.listeners.map((l) => [listenerKey(l), l]));
    const started: RunningListener[] = [];
    for (const [key, l] of wanted) {
      if (this.listeners.has(key)) continue;
      const running = this.createServer(l, config, key);
      try {
        await listen(running.server, l.address, l.port);
      } catch (error) {
        await Promise.all(started.map((s) => s.close(0)));
        return this.rejected(
          `listener ${l.name} cannot listen on ${l.address}:${l.port}: ${(error as Error).message}`,
          [{ path: `listeners[${config.listeners.indexOf(l)}].port`, message: (error as Error).message }],
        );
      }
      started.push(running);
    }
    for (const s of started) this.listeners.set(s.key, s);
    const previous = this.current;
    this.current = snapshot;
    snapshot.activate();
    previous?.retire();
    this.reloads.applied += 1;
    for (const [key, l] of this.listeners) {
      if (!wanted.has(key)) {
        this.listeners.delete(key);
        void l.close(this.options.drainTimeoutMs ?? 10_000);
      }
    }
    void this.pools.retainOnly(new Set(config.endpoints.map((e) => `${e.address}:${e.port}`)));
    this.log.info({ revision: config.revision, listeners: config.listeners.length }, 'config applied');
    return { ok: true, revision: config.revision };
  }

  private createServer(l: Listener, config: ProxyConfig, key: string): RunningListener {
    const node = { service: config.node.service };
    const protocol = 'protocol' in l ? l.protocol : 'http';
    if (protocol === 'tcp') {
      const server = new TcpListener(
        l.name,
        { current: () => this.current, recorder: this.recorder, clock: this.clock, node },
        config.limits,
      ).server;
      return { key, server, close: (drainMs) => closeNetServer(server, drainMs) };
    }
    const http = new HttpListener(
      l.name,
      {
        current: () => this.current,
        recorder: this.recorder,
        clock: this.clock,
        rng: this.rng,
        node,
        origin: (address, port) =>
          this.originPools.get(address, port, { connections: 1024, connectTimeoutMs: 10_000 }),
        log: this.log,
        accessLog: this.options.accessLog ?? false,
        peer: (socket) => connectionPeer(socket, this.meshTls?.trustDomain ?? DEFAULT_TRUST_DOMAIN),
        trustDomain: () => this.meshTls?.trustDomain ?? DEFAULT_TRUST_DOMAIN,
        strictMtls: () => this.current.config.mtls.mode === 'strict' && this.meshTls?.ready === true,
      },
      config.limits,
    );
    const server = http.server.server;
    if (l.mode === 'inbound') {
      acceptMeshConnections(
        server,
        () => this.meshTls?.server,
        () => this.current.config.mtls.mode,
      );
    }
    return { key, server, close: (drainMs) => http.server.close(drainMs) };
  }

  adminSource(): AdminSource {
    const metrics = createMetrics(this.recorder, {
      service: () => this.current.config.node.service,
      revision: () => this.current.config.revision,
      reloads: () => ({ ...this.reloads }),
      processMetrics: this.options.processMetrics === true,
      upstreamPools: () => this.pools.stats(),
    });
    return {
      ready: () => !this.closed && this.current !== undefined,
      config: () => ({
        revision: this.current.config.revision,
        appliedAt: this.current.appliedAt.toISOString(),
        config: this.current.config,
        authorization: this.authorizationStatus(),
      }),
      clusters: () => this.clusterStatus(),
      stats: () => ({
        revision: this.current.config.revision,
        reloads: this.reloads,
        edges: this.recorder.totals(),
      }),
      metrics: () => metrics.registry.metrics(),
      certificates: () => this.identity?.status() ?? { identity: null, certificate: null },
    };
  }

  /**
   * The workload identity whose certificate this proxy presents (shown on /certs): from its first certificate on,
   * calls to mesh endpoints use mutual TLS and inbound listeners accept it.
   */
  useIdentity(identity: IdentityManager): void {
    this.identity = identity;
    this.meshTls = new MeshTls(identity.trustDomain, identity);
  }

  /** The authorization policies inbound listeners enforce now (this service's and "*"), for /config. */
  authorizationStatus() {
    const policies = this.current.authz?.policies ?? [];
    return {
      enforced: policies.filter((p) => !p.dryRun),
      dryRun: policies.filter((p) => p.dryRun),
    };
  }

  clusterStatus() {
    const now = this.clock.now();
    return [...this.current.clusters.values()].map((c) => ({
      service: c.service.name,
      protocol: c.service.protocol,
      loadBalancer: c.policy.loadBalancer.type,
      panic: [...c.hostSets.values()].some((h) => h.panic),
      breakers: [...c.breakers.entries()].map(([policy, b]) => ({
        policy,
        active: b.active,
        pending: b.pending,
        retries: b.retries,
        limits: b.limits,
      })),
      retryBudgetAvailable: c.budget.available(),
      endpoints: c.endpoints.map((e) => ({
        address: e.address,
        port: e.port,
        weight: e.weight,
        zone: e.zone,
        labels: e.labels,
        health: e.health,
        ejected: e.ejectedUntil !== 0,
        ejectedForMs: e.ejectedUntil !== 0 ? Math.max(0, Math.round(e.ejectedUntil - now)) : 0,
        active: e.active,
      })),
    }));
  }

  /** Endpoints outlier detection holds ejected now (by the proxy's clock), at most MAX_EJECTED_NOW of them. */
  ejectedNow(): EjectedEndpoint[] {
    const held: EjectedEndpoint[] = [];
    if (this.current === undefined) return held;
    const now = this.clock.now();
    const seen = new Set<EndpointState>();
    for (const cluster of this.current.clusters.values()) {
      for (const e of cluster.endpoints) {
        if (e.ejectedUntil === 0 || e.ejectedUntil <= now || seen.has(e)) continue;
        seen.add(e);
        held.push({ service: e.service, endpoint: e.key, remainingMs: Math.ceil(e.ejectedUntil - now) });
        if (held.length === MAX_EJECTED_NOW) return held;
      }
    }
    return held;
  }

  /** Stops accepting, lets requests in flight finish (up to the drain timeout), then closes everything. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const drain = this.options.drainTimeoutMs ?? 10_000;
    await Promise.all([...this.listeners.values()].map((l) => l.close(drain)));
    this.listeners.clear();
    this.current?.retire();
    this.recorder.stop();
    await Promise.all([this.pools.close(), this.originPools.close()]);
    await this.admin?.close();
  }
}

export function createProxy(config: unknown, options?: ProxyOptions): Promise<TrellisProxy> {
  return TrellisProxy.create(config, options);
}

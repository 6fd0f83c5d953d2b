/**
 * L4 listeners for `protocol: tcp` services: each connection is balanced to one endpoint (retrying the connect
 * on another endpoint once), bounded by the connect timeout and the cluster's maxConnections, and its bytes
 * are counted both ways. Inbound tcp listeners forward to the local app, once the authorization policies allow
 * the connection: it carries no verified identity and no HTTP request, so only rules without `from` and with no
 * path or method can match it (an allow-list without such a rule refuses every connection).
 */
import net, { type Socket } from 'node:net';
import type { Listener, ProxyLimits } from '@trellis/schema';
import type { Snapshot } from '../runtime.ts';
import { RECORD_DENIED, type TelemetryRecorder } from '../telemetry/recorder.ts';
import { type Clock, type EndpointState, newEndpointState, type Outcome } from '../types.ts';

const CONNECTED: Outcome = { kind: 'response', status: 200 };
const CONNECT_FAILED: Outcome = { kind: 'connect-failure' };

export interface TcpListenerDeps {
  current(): Snapshot;
  recorder: TelemetryRecorder;
  clock: Clock;
  node: { service: string };
}

export class TcpListener {
  readonly server: net.Server;
  private active = 0;

  constructor(
    readonly name: string,
    private readonly deps: TcpListenerDeps,
    limits: ProxyLimits,
  ) {
    this.server = net.createServer((socket) => this.handle(socket));
    this.server.maxConnections = limits.maxConnections;
  }

  private handle(client: Socket): void {
    const { deps } = this;
    const started = deps.clock.now();
    const snapshot = deps.current();
    const config = snapshot.listeners.get(this.name) as Listener | undefined;
    client.on('error', () => client.destroy());
    let destination = '';
    let pick: (tried: EndpointState[]) => EndpointState | undefined = () => undefined;
    let report: (endpoint: EndpointState, ok: boolean) => void = () => {};
    let connectTimeoutMs = 10_000;
    let maxConnections = Number.POSITIVE_INFINITY;
    if (config?.mode === 'outbound' && config.service) {
      const cluster = snapshot.clusters.get(config.service);
      destination = config.service;
      if (cluster) {
        const hosts = cluster.hostSet({});
        connectTimeoutMs = cluster.policy.connectionPool.connectTimeoutMs;
        maxConnections = cluster.policy.connectionPool.maxConnections;
        pick = (tried) => {
          const first = hosts.pick({});
          if (!first || !tried.includes(first)) return first;
          return hosts.pick({});
        };
        report = (endpoint, ok) => cluster.outlier.report(endpoint, ok ? CONNECTED : CONNECT_FAILED);
      }
    } else if (config?.mode === 'inbound') {
      const { address, port } = config.upstream;
      destination = deps.node.service;
      const denied = snapshot.authz?.evaluate({ identity: undefined, method: '', path: '' }, '').denied;
      if (denied !== undefined) {
        deps.recorder.authorization('unknown', destination, denied, false);
        deps.recorder.record(
          'unknown',
          destination,
          '',
          403,
          deps.clock.now() - started,
          0,
          0,
          RECORD_DENIED,
        );
        client.destroy();
        return;
      }
      const local = newEndpointState(destination, address, port);
      pick = (tried) => (tried.length === 0 ? local : undefined);
    }
    if (this.active >= maxConnections) {
      deps.recorder.overflow(deps.node.service, destination);
      client.destroy();
      return;
    }
    this.active += 1;
    client.once('close', () => {
      this.active -= 1;
    });
    client.pause();
    const tried: EndpointState[] = [];
    const attempt = () => {
      const endpoint = pick(tried);
      if (!endpoint) {
        deps.recorder.record(deps.node.service, destination, '', 0, deps.clock.now() - started, 0, 0);
        client.destroy();
        return;
      }
      tried.push(endpoint);
      const upstream = net.connect({ host: endpoint.address, port: endpoint.port });
      const timer = setTimeout(() => upstream.destroy(new Error('connect timeout')), connectTimeoutMs);
      let connected = false;
      upstream.once('connect', () => {
        connected = true;
        clearTimeout(timer);
        report(endpoint, true);
        endpoint.active += 1;
        upstream.setNoDelay(true);
        client.setNoDelay(true);
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
        upstream.once('close', () => {
          endpoint.active -= 1;
          client.destroy();
          deps.recorder.record(
            deps.node.service,
            destination,
            endpoint.key,
            200,
            deps.clock.now() - started,
            upstream.bytesWritten,
            upstream.bytesRead,
          );
        });
        client.once('close', () => upstream.destroy());
      });
      upstream.on('error', () => {
        clearTimeout(timer);
        if (!connected) {
          report(endpoint, false);
          upstream.destroy();
          if (tried.length < 2) attempt();
          else {
            deps.recorder.record(
              deps.node.service,
              destination,
              endpoint.key,
              0,
              deps.clock.now() - started,
              0,
              0,
            );
            client.destroy();
          }
        }
      });
    };
    attempt();
  }
}

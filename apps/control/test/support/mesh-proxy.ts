/**
 * A real proxy with its control-plane client, and real HTTP upstreams, for end-to-end tests against a test
 * control plane (the pattern mesh-e2e, telemetry-e2e and others spell out; new tests use these).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ControlClient, createProxy, type TrellisProxy } from '@trellis/proxy';
import type { MtlsMode } from '@trellis/schema';
import { pino } from 'pino';
import { JOIN_TOKEN, streamUrl } from './proxy-client.ts';

export interface MeshProxy {
  proxy: TrellisProxy;
  client: ControlClient;
  /** The port of its listener: the outbound one, or with `inboundTo` the inbound one it registers. */
  port: number;
  stop(): Promise<void>;
}

export interface MeshProxyOptions {
  /** A sidecar in front of the app on this port (inbound listener "in", registered as its endpoint). */
  inboundTo?: number;
  /** The mTLS mode of its own file (the mesh settings replace it once the first slice arrives). */
  mtls?: MtlsMode;
  drainTimeoutMs?: number;
}

/**
 * Starts a proxy for `service`/`instance` connected to `plane`: with an outbound listener "out" on port 0, or with
 * `inboundTo` an inbound listener "in" in front of that app port.
 */
export async function startMeshProxy(
  plane: { url: string },
  service: string,
  instance: string,
  options: MeshProxyOptions = {},
): Promise<MeshProxy> {
  const bootstrap = {
    node: { service, instance },
    listeners:
      options.inboundTo === undefined
        ? [{ name: 'out', mode: 'outbound' as const, port: 0 }]
        : [{ name: 'in', mode: 'inbound' as const, port: 0, upstream: { port: options.inboundTo } }],
    ...(options.mtls ? { mtls: { mode: options.mtls } } : {}),
  };
  const proxy = await createProxy(
    { ...bootstrap, services: [] },
    { drainTimeoutMs: options.drainTimeoutMs ?? 500 },
  );
  const port = proxy.address(options.inboundTo === undefined ? 'out' : 'in')?.port ?? 0;
  const client = new ControlClient({
    url: streamUrl(plane),
    token: JOIN_TOKEN,
    identity: {
      service,
      instance,
      address: '127.0.0.1',
      port: options.inboundTo === undefined ? 15006 : port,
      zone: '',
      labels: {},
    },
    bootstrap,
    proxy,
    logger: pino({ level: 'silent' }),
  });
  await client.start();
  return {
    proxy,
    client,
    port,
    async stop() {
      await client.stop();
      await proxy.close();
    },
  };
}

/** An HTTP upstream on 127.0.0.1 port 0 that answers `{"upstream": name}`. */
export async function startUpstream(name: string): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ upstream: name }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** GETs `path` through the proxy's "out" listener for `host`: the upstream's name, or the status when not 200. */
export function requestThrough(proxy: TrellisProxy, host: string, path = '/'): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: proxy.address('out')?.port, path, headers: { host } }, (res) => {
        let text = '';
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => {
          try {
            resolve(
              res.statusCode === 200
                ? (JSON.parse(text) as { upstream: string }).upstream
                : `${res.statusCode}`,
            );
          } catch (error) {
            reject(error);
          }
        });
      })
      .on('error', reject);
  });
}

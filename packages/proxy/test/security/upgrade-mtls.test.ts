/**
 * Security review: connection upgrades (WebSocket) to mesh endpoints used to go over plaintext whatever the mesh's
 * mutual-TLS mode, so in strict mode they failed at the callee's sidecar, and in permissive mode they arrived
 * without the caller's identity, which authorization policies then judged as an unknown caller's. They also waited
 * for ever on an upstream that never answered. Here, on real sockets, with two sidecars holding certificates from a
 * test CA: a WebSocket through caller sidecar → callee sidecar → app works in strict mode and reaches the app with
 * the caller's verified identity; in permissive mode the hop is mutual TLS (plaintext only to a sidecar without a
 * certificate, which strict mode refuses); a policy allowing only service-a lets a's upgrade through and answers
 * service-c's 403; an upstream that never answers the upgrade gets the client a 504 once the route's timeout passes,
 * and one that never completes the TLS handshake a 502 at the connect timeout.
 */
import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { AuthorizationPolicySpecInput, ProxyConfigInput } from '@trellis/schema';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { TrellisProxy } from '../../src/proxy.ts';
import { issuedIdentity, makeRoot, type TestRoot } from '../support/ca.ts';
import { startProxy } from '../support/mesh.ts';

const TD = 'upgrade.test';
const spiffe = (service: string) => `spiffe://${TD}/ns/default/sa/${service}`;

type Mode = 'permissive' | 'strict';

let root: TestRoot;
/** service-b's app: a WebSocket echo server that keeps the headers of every upgrade it accepted. */
let app: http.Server;
let appPort: number;
const accepted: http.IncomingHttpHeaders[] = [];
/** Upstream servers the tests start, closed at the end. */
const servers: net.Server[] = [];
const proxies: TrellisProxy[] = [];

async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

async function silentServer(): Promise<number> {
  const server = net.createServer((socket) => socket.on('error', () => socket.destroy()));
  servers.push(server);
  return listen(server);
}

function inboundConfig(
  mode: Mode,
  authorizationPolicies: AuthorizationPolicySpecInput[] = [],
): ProxyConfigInput {
  return {
    node: { service: 'service-b', instance: 'b-1' },
    listeners: [{ name: 'in', mode: 'inbound', port: 0, upstream: { address: '127.0.0.1', port: appPort } }],
    mtls: { mode },
    authorizationPolicies,
  };
}

function outboundConfig(service: string, mode: Mode, inboundPort: number): ProxyConfigInput {
  return {
    mtls: { mode },
    node: { service, instance: `${service}-1` },
    listeners: [{ name: 'out', mode: 'outbound', port: 0 }],
    services: [{ name: 'service-b', port: 80 }],
    endpoints: [{ service: 'service-b', address: '127.0.0.1', port: inboundPort, source: 'proxy' }],
  };
}

async function sidecar(config: ProxyConfigInput, service: string) {
  const started = await startProxy(config);
  proxies.push(started.proxy);
  started.proxy.useIdentity(await issuedIdentity(root, service, TD));
  return started;
}

/** service-b's inbound sidecar and the outbound sidecars of `callers`, all in `mode`. */
async function mesh(mode: Mode, callers: string[], policies: AuthorizationPolicySpecInput[] = []) {
  const inbound = await sidecar(inboundConfig(mode, policies), 'service-b');
  const outbound = await Promise.all(
    callers.map((caller) => sidecar(outboundConfig(caller, mode, inbound.port('in')), caller)),
  );
  return { inbound, outbound };
}

type Opened =
  | { status: 101; ws: WebSocket }
  | { status: number; error: string | undefined; code?: string | undefined };

/**
 * Opens a WebSocket through an outbound listener: the socket once it is open, or the answer that refused it (its
 * x-trellis-error tag and the code of its problem document, read to the end).
 */
function openWs(port: number, host: string, path = '/chat'): Promise<Opened> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers: { host } });
    ws.once('open', () => resolve({ status: 101, ws }));
    ws.once('unexpected-response', (_req, res) => {
      const tag = res.headers['x-trellis-error'];
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.once('end', () => {
        const code = body.startsWith('{') ? (JSON.parse(body) as { code?: string }).code : undefined;
        resolve({ status: res.statusCode ?? 0, error: Array.isArray(tag) ? tag[0] : tag, code });
        ws.terminate();
      });
    });
    ws.on('error', (error) => resolve({ status: 0, error: error.message }));
  });
}

/** Sends `text` and resolves with what comes back. */
async function echo(ws: WebSocket, text: string): Promise<string> {
  const reply = once(ws, 'message');
  ws.send(text);
  const [data] = (await reply) as [Buffer];
  return data.toString();
}

async function closed(ws: WebSocket): Promise<void> {
  const done = once(ws, 'close');
  ws.close();
  await done;
}

function opened(result: Opened): WebSocket {
  expect(result).toMatchObject({ status: 101 });
  return (result as { ws: WebSocket }).ws;
}

beforeAll(async () => {
  root = await makeRoot();
  app = http.createServer((_req, res) => res.end('not an upgrade'));
  const wss = new WebSocketServer({ server: app });
  wss.on('connection', (ws, req) => {
    accepted.push(req.headers);
    ws.on('message', (data: Buffer) => ws.send(data.toString()));
  });
  appPort = await listen(app);
});

afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

afterAll(() => {
  app?.closeAllConnections();
  app?.close();
  for (const server of servers) server.close();
});

describe('upgrades between sidecars take the transport of ordinary requests', () => {
  it("strict: the WebSocket reaches the app over mutual TLS, with the caller's verified identity", async () => {
    const { outbound } = await mesh('strict', ['service-a']);
    const ws = opened(await openWs(outbound[0]?.port() ?? 0, 'service-b'));
    expect(await echo(ws, 'over mtls')).toBe('over mtls');
    const headers = accepted.at(-1);
    expect(headers?.['x-trellis-peer-identity']).toBe(spiffe('service-a'));
    expect(headers?.['x-trellis-source']).toBe('service-a');
    await closed(ws);
  });

  it('permissive: the hop is mutual TLS too, and both sidecars count the tunnel as such', async () => {
    const { inbound, outbound } = await mesh('permissive', ['service-a']);
    const caller = outbound[0];
    const ws = opened(await openWs(caller?.port() ?? 0, 'service-b'));
    expect(await echo(ws, 'permissive')).toBe('permissive');
    expect(accepted.at(-1)?.['x-trellis-peer-identity']).toBe(spiffe('service-a'));
    await closed(ws);
    // Counted once the tunnel is gone: by the callee as arriving from service-a over mTLS, by the caller as sent so.
    await vi.waitFor(() => {
      const edge = inbound.proxy.recorder.totals().edges.find((e) => e.source === 'service-a');
      expect(edge).toMatchObject({ destination: 'service-b', requests: 1, mtls: 1 });
      expect(edge?.byClass['1xx']).toBe(1);
    });
    await vi.waitFor(() => {
      const edge = caller?.proxy.recorder.totals().edges.find((e) => e.destination === 'service-b');
      expect(edge).toMatchObject({ source: 'service-a', requests: 1, mtls: 1 });
    });
  });

  it('a callee sidecar without a certificate yet: plaintext when permissive, refused when strict', async () => {
    const bare = await startProxy(inboundConfig('permissive'));
    proxies.push(bare.proxy);
    const permissive = await sidecar(outboundConfig('service-a', 'permissive', bare.port('in')), 'service-a');
    const strict = await sidecar(outboundConfig('service-a', 'strict', bare.port('in')), 'service-a');
    const ws = opened(await openWs(permissive.port(), 'service-b'));
    expect(await echo(ws, 'fallback')).toBe('fallback');
    expect(accepted.at(-1)?.['x-trellis-peer-identity']).toBeUndefined();
    await closed(ws);
    const refused = await openWs(strict.port(), 'service-b');
    expect(refused.status).toBe(502);
  });

  it("a policy allowing only service-a lets a's upgrade through and denies service-c's with 403", async () => {
    const onlyA: AuthorizationPolicySpecInput = {
      name: 'only-a',
      destination: 'service-b',
      action: 'allow',
      rules: [{ from: [{ principal: 'service:service-a' }] }],
    };
    const { inbound, outbound } = await mesh('permissive', ['service-a', 'service-c'], [onlyA]);
    const [a, c] = outbound;
    const ws = opened(await openWs(a?.port() ?? 0, 'service-b'));
    expect(await echo(ws, 'allowed')).toBe('allowed');
    expect(accepted.at(-1)?.['x-trellis-peer-identity']).toBe(spiffe('service-a'));
    await closed(ws);

    const seen = accepted.length;
    expect(await openWs(c?.port() ?? 0, 'service-b')).toEqual({
      status: 403,
      error: 'rbac_denied',
      code: 'TRELLIS_ERR_RBAC_DENIED',
    });
    expect(accepted.length).toBe(seen);
    await vi.waitFor(() => {
      const fromC = inbound.proxy.recorder.totals().edges.find((e) => e.source === 'service-c');
      expect(fromC).toMatchObject({ requests: 1, mtls: 1, denied: 1 });
    });
  });
});

describe('an upgrade waits for its upstream no longer than an ordinary request would', () => {
  async function callerOf(
    policy: { connectTimeoutMs?: number },
    route: { timeoutMs?: number },
    port?: number,
  ) {
    port ??= await silentServer();
    const config: ProxyConfigInput = {
      mtls: { mode: 'permissive' },
      node: { service: 'service-a', instance: 'a-1' },
      listeners: [{ name: 'out', mode: 'outbound', port: 0 }],
      services: [{ name: 'mute', port: 80 }],
      // A mesh endpoint: reached over mutual TLS, whose handshake never completes; or, as a plain one, in plaintext.
      endpoints: [
        {
          service: 'mute',
          address: '127.0.0.1',
          port,
          source: policy.connectTimeoutMs ? 'proxy' : 'static',
        },
      ],
      routes: [{ name: 'mute-route', service: 'mute', ...route }],
      policies: [{ name: 'mute-pool', service: 'mute', connectionPool: policy }],
    };
    return sidecar(config, 'service-a');
  }

  it('an upstream that never answers the upgrade: 504 upstream_timeout after the route timeout', async () => {
    const caller = await callerOf({}, { timeoutMs: 100 });
    expect(await openWs(caller.port(), 'mute')).toEqual({
      status: 504,
      error: 'upstream_timeout',
      code: 'TRELLIS_ERR_UPSTREAM_TIMEOUT',
    });
  }, 10_000);

  it('a mesh endpoint that never completes the TLS handshake: 502 upstream_connect_failure after the connect timeout', async () => {
    const caller = await callerOf({ connectTimeoutMs: 100 }, {});
    expect(await openWs(caller.port(), 'mute')).toEqual({
      status: 502,
      error: 'upstream_connect_failure',
      code: 'TRELLIS_ERR_UPSTREAM_CONNECT',
    });
  }, 10_000);

  it('an upstream that closes the connection without answering: 502 upstream_reset', async () => {
    const hangUp = net.createServer((socket) => socket.once('data', () => socket.destroy()));
    servers.push(hangUp);
    const caller = await callerOf({}, {}, await listen(hangUp));
    expect(await openWs(caller.port(), 'mute')).toEqual({
      status: 502,
      error: 'upstream_reset',
      code: 'TRELLIS_ERR_UPSTREAM_RESET',
    });
  }, 10_000);
});

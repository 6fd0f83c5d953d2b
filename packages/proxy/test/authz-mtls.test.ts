/**
 * Authorization policies on real sockets: service-b's inbound sidecar, with mutual TLS, enforces policies on calls
 * from the outbound sidecars of service-a and service-c (certificates from a test CA). A deny policy for service-a
 * blocks exactly a→b with 403 rbac_denied while c→b passes; the identity comes from the certificate only (a
 * plaintext caller forging the peer-identity header matches nothing); dry-run policies count and let through;
 * telemetry, /metrics and /config show it all.
 */
import net from 'node:net';
import { type AuthorizationPolicySpecInput, type ProxyConfigInput, TelemetryFrame } from '@trellis/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IdentityManager } from '../src/identity.ts';
import type { TrellisProxy } from '../src/proxy.ts';
import { issuedIdentity, makeRoot, type TestRoot } from './support/ca.ts';
import { send, startProxy } from './support/mesh.ts';
import { startUpstream, type Upstream } from './support/upstream.ts';

const TD = 'authz.test';
let root: TestRoot;
let app: Upstream;
let inbound: Awaited<ReturnType<typeof startProxy>>;
let callerA: Awaited<ReturnType<typeof startProxy>>;
let callerC: Awaited<ReturnType<typeof startProxy>>;
const proxies: TrellisProxy[] = [];

function inboundConfig(
  authorizationPolicies: AuthorizationPolicySpecInput[],
  revision: number,
): ProxyConfigInput {
  return {
    revision,
    node: { service: 'service-b', instance: 'b-1' },
    listeners: [{ name: 'in', mode: 'inbound', port: 0, upstream: { address: '127.0.0.1', port: app.port } }],
    mtls: { mode: 'permissive' },
    authorizationPolicies,
  };
}

function outboundConfig(service: string, inboundPort: number): ProxyConfigInput {
  return {
    mtls: { mode: 'strict' },
    node: { service, instance: `${service}-1` },
    listeners: [{ name: 'out', mode: 'outbound', port: 0 }],
    services: [{ name: 'service-b', port: 80 }],
    endpoints: [{ service: 'service-b', address: '127.0.0.1', port: inboundPort, source: 'proxy' }],
  };
}

async function sidecar(config: ProxyConfigInput, identity: IdentityManager, admin = false) {
  const started = await startProxy(config, admin ? { admin: { port: 0 } } : {});
  started.proxy.useIdentity(identity);
  proxies.push(started.proxy);
  return started;
}

async function apply(policies: AuthorizationPolicySpecInput[], revision: number) {
  // The same listener (port 0 as before) keeps its socket.
  const result = await inbound.proxy.apply(inboundConfig(policies, revision));
  expect(result).toEqual({ ok: true, revision });
}

const denyA: AuthorizationPolicySpecInput = {
  name: 'no-a',
  destination: 'service-b',
  action: 'deny',
  rules: [{ from: [{ principal: 'service:service-a' }] }],
};

/** Writes `head` on a plaintext connection and resolves with everything read until the peer closes. */
function rawRequest(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(head));
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(text));
  });
}

/** The edges of the next telemetry frame of `proxy` (its window closes now). */
function frameOf(proxy: TrellisProxy) {
  return TelemetryFrame.parse(proxy.recorder.flush(Date.now()));
}

beforeAll(async () => {
  root = await makeRoot();
  app = await startUpstream('b-app');
  inbound = await sidecar(inboundConfig([], 1), await issuedIdentity(root, 'service-b', TD), true);
  callerA = await sidecar(
    outboundConfig('service-a', inbound.port('in')),
    await issuedIdentity(root, 'service-a', TD),
  );
  callerC = await sidecar(
    outboundConfig('service-c', inbound.port('in')),
    await issuedIdentity(root, 'service-c', TD),
  );
});

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await app?.close();
});

describe('authorization at the inbound sidecar', () => {
  it('a deny policy for service-a blocks exactly a→b with 403 rbac_denied; c→b passes', async () => {
    expect((await send(callerA.port(), 'service-b', '/before')).status).toBe(200);
    frameOf(inbound.proxy);
    frameOf(callerA.proxy);

    await apply([denyA], 2);
    const seen = app.seen.length;
    const denied = await send(callerA.port(), 'service-b', '/orders');
    expect(denied.status).toBe(403);
    expect(denied.headers['x-trellis-error']).toBe('rbac_denied');
    expect(denied.headers['content-type']).toBe('application/problem+json');
    const problem = JSON.parse(denied.text) as { code: string; status: number; detail: string };
    expect(problem).toMatchObject({ code: 'TRELLIS_ERR_RBAC_DENIED', status: 403 });
    expect(problem.detail).toContain('no-a');
    expect(app.seen.length).toBe(seen);

    const allowed = await send(callerC.port(), 'service-b', '/orders');
    expect(allowed.status).toBe(200);
    expect(app.seen.at(-1)?.headers['x-trellis-peer-identity']).toBe(
      `spiffe://${TD}/ns/default/sa/service-c`,
    );

    // Telemetry, as the callee reports it: both edges arrived over mTLS, one request of a's was denied.
    const edges = frameOf(inbound.proxy).edges;
    const fromA = edges.find((e) => e.source === 'service-a');
    const fromC = edges.find((e) => e.source === 'service-c');
    expect(fromA).toMatchObject({
      destination: 'service-b',
      requests: 1,
      mtls: 1,
      denied: 1,
      dryRunDenied: 0,
    });
    expect(fromA?.byClass['4xx']).toBe(1);
    expect(fromC).toMatchObject({ requests: 1, mtls: 1, denied: 0 });
    // ... and as the caller reports it (strict mTLS; the callee's 403 rbac_denied).
    const outA = frameOf(callerA.proxy).edges.find((e) => e.destination === 'service-b');
    expect(outA).toMatchObject({ requests: 1, mtls: 1, denied: 1 });

    const metrics = await (await fetch(`${inbound.proxy.adminUrl}/metrics`)).text();
    expect(metrics).toContain(
      'trellis_authz_denied_total{source="service-a",destination="service-b",policy="no-a"} 1',
    );
  });

  it('the identity comes from the certificate only: a plaintext caller forging the header matches no principal', async () => {
    await apply(
      [
        {
          name: 'only-c',
          destination: 'service-b',
          action: 'allow',
          rules: [{ from: [{ principal: `spiffe://${TD}/ns/default/sa/service-c` }] }],
        },
      ],
      3,
    );
    const forged = await send(inbound.port('in'), 'service-b', '/x', {
      headers: {
        'x-trellis-peer-identity': `spiffe://${TD}/ns/default/sa/service-c`,
        'x-trellis-source': 'service-c',
      },
    });
    expect(forged.status).toBe(403);
    expect(forged.headers['x-trellis-error']).toBe('rbac_denied');
    expect((await send(callerC.port(), 'service-b', '/x')).status).toBe(200);
    expect((await send(callerA.port(), 'service-b', '/x')).status).toBe(403);
    // A connection upgrade (WebSocket) is authorized too, before anything reaches the app.
    const seen = app.seen.length;
    const upgrade = await rawRequest(
      inbound.port('in'),
      `GET /ws HTTP/1.1\r\nhost: service-b\r\nconnection: upgrade\r\nupgrade: websocket\r\nx-trellis-peer-identity: spiffe://${TD}/ns/default/sa/service-c\r\n\r\n`,
    );
    expect(upgrade).toMatch(/^HTTP\/1\.1 403 /);
    expect(upgrade).toContain('x-trellis-error: rbac_denied');
    expect(app.seen.length).toBe(seen);
  });

  it('a dry-run policy counts what it would deny and lets it through; /config shows the active policies', async () => {
    frameOf(inbound.proxy);
    await apply([{ ...denyA, name: 'no-a-trial', dryRun: true }], 4);
    const before = app.seen.length;
    expect((await send(callerA.port(), 'service-b', '/trial')).status).toBe(200);
    expect((await send(callerA.port(), 'service-b', '/trial')).status).toBe(200);
    expect((await send(callerC.port(), 'service-b', '/trial')).status).toBe(200);
    expect(app.seen.length).toBe(before + 3);

    const edges = frameOf(inbound.proxy).edges;
    expect(edges.find((e) => e.source === 'service-a')).toMatchObject({
      requests: 2,
      dryRunDenied: 2,
      denied: 0,
    });
    expect(edges.find((e) => e.source === 'service-c')).toMatchObject({ requests: 1, dryRunDenied: 0 });
    const metrics = await (await fetch(`${inbound.proxy.adminUrl}/metrics`)).text();
    expect(metrics).toContain(
      'trellis_authz_dry_run_denied_total{source="service-a",destination="service-b",policy="no-a-trial"} 2',
    );

    const config = (await (await fetch(`${inbound.proxy.adminUrl}/config`)).json()) as {
      revision: number;
      authorization: { enforced: { name: string }[]; dryRun: { name: string }[] };
      config: { authorizationPolicies: { name: string }[] };
    };
    expect(config.revision).toBe(4);
    expect(config.authorization.enforced).toEqual([]);
    expect(config.authorization.dryRun.map((p) => p.name)).toEqual(['no-a-trial']);
    expect(config.config.authorizationPolicies.map((p) => p.name)).toEqual(['no-a-trial']);
  });

  it('policies of other services do not apply here', async () => {
    await apply([{ ...denyA, name: 'no-a-to-d', destination: 'service-d' }], 5);
    expect((await send(callerA.port(), 'service-b', '/y')).status).toBe(200);
  });
});

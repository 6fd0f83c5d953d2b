/**
 * Mutual TLS between sidecars, on real sockets: an outbound sidecar of service-a calls service-b's inbound sidecar
 * (a mesh endpoint, registered by a proxy) over TLS 1.3 with certificates from a test CA. The inbound side takes
 * the caller's identity from its certificate, not from a header; strict mode refuses plaintext, clients without a
 * certificate and certificates of another CA; the outbound side refuses a peer that is not the destination
 * service; an expired certificate is refused; and neither a renewal nor a root rotation (both roots trusted for
 * the overlap, then the old one dropped) under steady traffic loses a request.
 */
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import type { ProxyConfigInput } from '@trellis/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IdentityManager } from '../src/identity.ts';
import type { TrellisProxy } from '../src/proxy.ts';
import { issuedFiles, issuedIdentity, makeRoot, renew, type TestRoot } from './support/ca.ts';
import { send, startProxy } from './support/mesh.ts';
import { startUpstream, type Upstream } from './support/upstream.ts';

const TD = 'mtls.test';
let root: TestRoot;
let app: Upstream;
const proxies: TrellisProxy[] = [];

function inboundConfig(upstreamPort: number, mode: 'permissive' | 'strict'): ProxyConfigInput {
  return {
    node: { service: 'service-b', instance: 'b-1' },
    listeners: [
      { name: 'in', mode: 'inbound', port: 0, upstream: { address: '127.0.0.1', port: upstreamPort } },
    ],
    mtls: { mode },
  };
}

function outboundConfig(inboundPort: number, mode: 'permissive' | 'strict' = 'permissive'): ProxyConfigInput {
  return {
    mtls: { mode },
    node: { service: 'service-a', instance: 'a-1' },
    listeners: [{ name: 'out', mode: 'outbound', port: 0 }],
    services: [{ name: 'service-b', port: 80 }],
    endpoints: [{ service: 'service-b', address: '127.0.0.1', port: inboundPort, source: 'proxy' }],
  };
}

async function sidecar(config: ProxyConfigInput, identity?: IdentityManager) {
  const started = await startProxy(config);
  if (identity) started.proxy.useIdentity(identity);
  proxies.push(started.proxy);
  return started;
}

/** A raw client on the inbound port, over TLS with `options` or in plaintext: the status it got, or "refused". */
function rawClient(port: number, options?: tls.ConnectionOptions): Promise<'refused' | number> {
  return new Promise((resolve) => {
    const ask = () => socket.write('GET / HTTP/1.1\r\nhost: service-b\r\nconnection: close\r\n\r\n');
    const socket: net.Socket = options
      ? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options }, ask)
      : net.connect(port, '127.0.0.1', ask);
    let text = '';
    socket.on('data', (c: Buffer) => {
      text += c.toString();
    });
    socket.on('error', () => resolve('refused'));
    socket.on('close', () => resolve(text.startsWith('HTTP/1.1 ') ? Number(text.slice(9, 12)) : 'refused'));
  });
}

beforeAll(async () => {
  root = await makeRoot();
  app = await startUpstream('b-app');
});

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await app?.close();
});

describe('mutual TLS between sidecars', () => {
  it("carries the caller's identity from its certificate, whatever header it sends", async () => {
    const inbound = await sidecar(
      inboundConfig(app.port, 'strict'),
      await issuedIdentity(root, 'service-b', TD),
    );
    const outbound = await sidecar(
      outboundConfig(inbound.port('in')),
      await issuedIdentity(root, 'service-a', TD),
    );
    const answer = await send(outbound.port(), 'service-b', '/who', {
      headers: { 'x-trellis-peer-identity': 'spiffe://mtls.test/ns/default/sa/admin' },
    });
    expect(answer.status).toBe(200);
    const seen = app.seen.at(-1);
    expect(seen?.headers['x-trellis-peer-identity']).toBe('spiffe://mtls.test/ns/default/sa/service-a');
    expect(seen?.headers['x-trellis-source']).toBe('service-a');
  });

  it('strict: plaintext, no certificate and another CA are refused; the mesh certificate is accepted', async () => {
    const inbound = await sidecar(
      inboundConfig(app.port, 'strict'),
      await issuedIdentity(root, 'service-b', TD),
    );
    const port = inbound.port('in');
    const stranger = await makeRoot();
    const foreign = await issuedIdentity(stranger, 'service-a', TD);
    const member = await issuedIdentity(root, 'service-a', TD);
    const creds = (id: IdentityManager) => ({
      key: id.current?.keyPem,
      cert: id.current?.chainPem.join(''),
      ca: [root.pem],
    });
    expect(await rawClient(port)).toBe('refused');
    expect(await rawClient(port, { ca: [root.pem] })).toBe('refused');
    expect(await rawClient(port, creds(foreign))).toBe('refused');
    expect(await rawClient(port, creds(member))).toBe(200);
  });

  it('permissive: plaintext still passes, with neither its source nor its peer-identity header', async () => {
    const inbound = await sidecar(
      inboundConfig(app.port, 'permissive'),
      await issuedIdentity(root, 'service-b', TD),
    );
    const answer = await send(inbound.port('in'), 'service-b', '/plain', {
      headers: { 'x-trellis-source': 'legacy', 'x-trellis-peer-identity': 'spiffe://forged' },
    });
    expect(answer.status).toBe(200);
    const seen = app.seen.at(-1);
    expect(seen?.headers['x-trellis-source']).toBeUndefined();
    expect(seen?.headers['x-trellis-peer-identity']).toBeUndefined();
  });

  it('the outbound side refuses a peer that is not the destination service', async () => {
    // The "service-b" endpoint is really a proxy holding service-c's identity.
    const impostor = await sidecar(
      inboundConfig(app.port, 'strict'),
      await issuedIdentity(root, 'service-c', TD),
    );
    const outbound = await sidecar(
      outboundConfig(impostor.port('in')),
      await issuedIdentity(root, 'service-a', TD),
    );
    const before = app.seen.length;
    const answer = await send(outbound.port(), 'service-b', '/impostor');
    expect(answer.status).toBe(502);
    expect(answer.headers['x-trellis-error']).toMatch(/upstream_(connect_failure|reset)/);
    expect(app.seen.length).toBe(before);
  });

  it('a peer without a certificate yet is reached in plaintext when permissive, and refused when strict', async () => {
    const bare = await sidecar(inboundConfig(app.port, 'permissive'));
    const permissive = await sidecar(
      outboundConfig(bare.port('in')),
      await issuedIdentity(root, 'service-a', TD),
    );
    const strict = await sidecar(
      outboundConfig(bare.port('in'), 'strict'),
      await issuedIdentity(root, 'service-a', TD),
    );
    expect((await send(permissive.port(), 'service-b', '/fallback')).status).toBe(200);
    expect(app.seen.at(-1)?.headers['x-trellis-peer-identity']).toBeUndefined();
    expect((await send(strict.port(), 'service-b', '/no-fallback')).status).toBe(502);
  });

  it('switching the caller from permissive to strict stops the plaintext fallback at once', async () => {
    const bare = await sidecar(inboundConfig(app.port, 'permissive'));
    const caller = await sidecar(
      outboundConfig(bare.port('in')),
      await issuedIdentity(root, 'service-a', TD),
    );
    expect((await send(caller.port(), 'service-b', '/before')).status).toBe(200);
    const applied = await caller.proxy.apply({ ...outboundConfig(bare.port('in'), 'strict'), revision: 2 });
    expect(applied.ok).toBe(true);
    expect((await send(caller.port(), 'service-b', '/after')).status).toBe(502);
  });

  it('a renewal on both sides under steady traffic loses no request', async () => {
    const bIdentity = await issuedIdentity(root, 'service-b', TD);
    const aIdentity = await issuedIdentity(root, 'service-a', TD);
    const inbound = await sidecar(inboundConfig(app.port, 'strict'), bIdentity);
    const outbound = await sidecar(outboundConfig(inbound.port('in')), aIdentity);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    let failed = 0;
    let sent = 0;
    const once = () =>
      new Promise<void>((resolve) => {
        sent += 1;
        http
          .get({ port: outbound.port(), path: '/steady', headers: { host: 'service-b' }, agent }, (res) => {
            if (res.statusCode !== 200) failed += 1;
            res.resume();
            res.on('end', () => resolve());
          })
          .on('error', () => {
            failed += 1;
            resolve();
          });
      });
    const serials = [aIdentity.current?.serial];
    for (let round = 0; round < 3; round++) {
      await Promise.all(Array.from({ length: 20 }, once));
      await renew(bIdentity, root, { serial: `1${round}` });
      await Promise.all(Array.from({ length: 20 }, once));
      await renew(aIdentity, root, { serial: `2${round}` });
      serials.push(aIdentity.current?.serial);
    }
    await Promise.all(Array.from({ length: 20 }, once));
    agent.destroy();
    expect(new Set(serials).size).toBe(4);
    expect(sent).toBe(140);
    expect(failed).toBe(0);
  });

  it('strict: an expired client certificate from the mesh root is refused, a current one accepted', async () => {
    const bIdentity = await issuedIdentity(root, 'service-b', TD);
    const inbound = await sidecar(inboundConfig(app.port, 'strict'), bIdentity);
    const caller = spiffe('service-a');
    const expired = await issuedFiles(root, caller, { now: Date.now() - 48 * 3_600_000 });
    const current = await issuedFiles(root, caller);
    expect(await rawClient(inbound.port('in'), { key: expired.keyPem, cert: expired.certPem })).toBe(
      'refused',
    );
    expect(await rawClient(inbound.port('in'), { key: current.keyPem, cert: current.certPem })).toBe(200);
  });

  it('a root rotation under continuous traffic loses no request: overlap, new leaves, old root dropped', async () => {
    const next = await makeRoot();
    const bIdentity = await issuedIdentity(root, 'service-b', TD);
    const aIdentity = await issuedIdentity(root, 'service-a', TD);
    const inbound = await sidecar(inboundConfig(app.port, 'strict'), bIdentity);
    const outbound = await sidecar(outboundConfig(inbound.port('in'), 'strict'), aIdentity);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    let ok = 0;
    const failures: string[] = [];
    let running = true;
    const loop = async () => {
      while (running) {
        await new Promise<void>((resolve) => {
          http
            .get(
              { port: outbound.port(), path: '/rotation', headers: { host: 'service-b' }, agent },
              (res) => {
                if (res.statusCode === 200) ok += 1;
                else failures.push(`status ${res.statusCode}`);
                res.resume();
                res.on('end', () => resolve());
              },
            )
            .on('error', (error) => {
              failures.push(error.message);
              resolve();
            });
        });
      }
    };
    /** Resolves once `n` more requests have succeeded: traffic flowed across the step just taken. */
    const flowed = async (n: number) => {
      const target = ok + n;
      while (ok < target && failures.length === 0) await new Promise((r) => setImmediate(r));
    };
    const loops = Array.from({ length: 4 }, loop);
    await flowed(30);
    // 1. Overlap: both roots trusted everywhere, leaves still from the old root.
    await renew(bIdentity, root, { serial: '31', trust: [root, next] });
    await renew(aIdentity, root, { serial: '32', trust: [root, next] });
    await flowed(30);
    // 2. The callee, then the caller, get leaves from the new root (callers still on the old one are trusted).
    await renew(bIdentity, next, { serial: '33', trust: [next, root] });
    await flowed(30);
    await renew(aIdentity, next, { serial: '34', trust: [next, root] });
    await flowed(30);
    // 3. The old root drops out.
    await renew(bIdentity, next, { serial: '35', trust: [next] });
    await renew(aIdentity, next, { serial: '36', trust: [next] });
    await flowed(30);
    running = false;
    await Promise.all(loops);
    agent.destroy();
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThanOrEqual(150);
    // The old root is no longer trusted: a caller with a leaf from it is refused now.
    const stale = await issuedFiles(root, spiffe('service-a'));
    expect(await rawClient(inbound.port('in'), { key: stale.keyPem, cert: stale.certPem })).toBe('refused');
    const fresh = await issuedFiles(next, spiffe('service-a'));
    expect(await rawClient(inbound.port('in'), { key: fresh.keyPem, cert: fresh.certPem })).toBe(200);
  });
});

function spiffe(service: string): string {
  return `spiffe://${TD}/ns/default/sa/${service}`;
}

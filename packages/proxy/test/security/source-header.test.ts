/**
 * Security issue M8 §5: `x-trellis-source` from a plaintext caller is not the telemetry source, and the header is
 * stripped before the app, whatever the caller. An inbound sidecar (permissive mutual TLS, certificates from a test
 * CA) is called in plaintext and over verified mutual TLS, each time with a forged header: a plaintext caller is
 * recorded as "unknown" and the app gets no header; a verified caller is recorded, and named to the app, as the
 * service its certificate says, never as what its header claimed. Upgrades are held to the same.
 */
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrellisProxy } from '../../src/proxy.ts';
import { issuedIdentity, makeRoot, type TestRoot } from '../support/ca.ts';
import { startProxy } from '../support/mesh.ts';
import { exchange, statusOf } from '../support/raw.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

const TD = 'source.test';
let root: TestRoot;
let app: Upstream;
let proxy: TrellisProxy;
let port: number;

beforeAll(async () => {
  root = await makeRoot();
  app = await startUpstream('b-app');
  const started = await startProxy({
    node: { service: 'service-b', instance: 'b-1' },
    listeners: [{ name: 'in', mode: 'inbound', port: 0, upstream: { port: app.port } }],
    mtls: { mode: 'permissive' },
  });
  proxy = started.proxy;
  proxy.useIdentity(await issuedIdentity(root, 'service-b', TD));
  port = started.port('in');
});
afterAll(async () => {
  await proxy?.close();
  await app?.close();
});

const forged = (path: string, source: string) =>
  `GET ${path} HTTP/1.1\r\nhost: service-b\r\nx-trellis-source: ${source}\r\nconnection: close\r\n\r\n`;

/** The callers the proxy has recorded for its own service. */
const sources = () =>
  proxy.recorder
    .totals()
    .pairs.filter((p) => p.destination === 'service-b')
    .map((p) => p.source);

/** Sends `payload` over mutual TLS with a certificate of `service` from the mesh's CA. */
async function overMtls(service: string, payload: string): Promise<string> {
  const id = await issuedIdentity(root, service, TD);
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      {
        host: '127.0.0.1',
        port,
        rejectUnauthorized: false,
        key: id.current?.keyPem,
        cert: id.current?.chainPem.join(''),
      },
      () => socket.write(payload),
    );
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(text));
  });
}

describe('x-trellis-source', () => {
  it('plaintext caller: not the telemetry source ("unknown"), and stripped before the app', async () => {
    const answer = await exchange(port, forged('/plain', 'frontend'));
    expect(statusOf(answer)).toBe(200);
    const seen = app.seen.at(-1);
    expect(seen?.url).toBe('/plain');
    expect(seen?.headers['x-trellis-source']).toBeUndefined();
    expect(sources()).toContain('unknown');
    expect(sources()).not.toContain('frontend');
  });

  it('verified mutual-TLS caller: the source is its certificate’s service, for telemetry and the app alike', async () => {
    const answer = await overMtls('service-a', forged('/verified', 'admin'));
    expect(statusOf(answer)).toBe(200);
    const seen = app.seen.at(-1);
    expect(seen?.url).toBe('/verified');
    expect(seen?.headers['x-trellis-source']).toBe('service-a');
    expect(seen?.headers['x-trellis-peer-identity']).toBe(`spiffe://${TD}/ns/default/sa/service-a`);
    expect(sources()).toContain('service-a');
    expect(sources()).not.toContain('admin');
  });

  it('an upgrade request from a plaintext caller: the header is stripped too', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () =>
        socket.write(
          'GET /ws HTTP/1.1\r\nhost: service-b\r\nconnection: upgrade\r\nupgrade: websocket\r\nx-trellis-source: frontend\r\n\r\n',
        ),
      );
      let text = '';
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
      });
      socket.on('error', reject);
      socket.on('close', () => resolve(text));
    });
    expect(statusOf(answer)).toBe(200);
    const seen = app.seen.at(-1);
    expect(seen?.url).toBe('/ws');
    expect(seen?.headers['x-trellis-source']).toBeUndefined();
  });
});

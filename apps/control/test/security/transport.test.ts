/**
 * The control plane's transport: join tokens and certificates never cross a network in clear. Proxies join over
 * the proxy stream's TLS port (like istiod's 15012), verifying a certificate issued by the mesh CA whose bundle the
 * control plane writes for them; the API serves HTTPS when it listens beyond loopback and refuses to start in
 * plain HTTP there unless told to; and a plaintext stream from another host is refused before any hello.
 */
import { readFile } from 'node:fs/promises';
import https from 'node:https';
import { STREAM_PATH, STREAM_PROTOCOL_VERSION } from '@trellis/schema';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ConfigError, loadConfig } from '../../src/config.ts';
import type { ControlPlane } from '../../src/server.ts';
import { ProxyStream } from '../../src/stream/hub.ts';
import { TEST_ADMIN_TOKEN } from '../support/api.ts';
import { createDatabase } from '../support/db.ts';
import { deadline, sendJson, startPlane } from '../support/proxy-client.ts';

let plane: ControlPlane;
let httpsPlane: ControlPlane;

beforeAll(async () => {
  const database = await createDatabase('sec_transport');
  plane = await startPlane(database, { joinToken: undefined });
  httpsPlane = await startPlane(database, { joinToken: undefined, tls: true });
});
afterAll(async () => {
  await plane?.stop();
  await httpsPlane?.stop();
});

/** Opens a WebSocket and resolves with what happened first: open, or the error. */
function attempt(
  url: string,
  options: ConstructorParameters<typeof WebSocket>[2] = {},
): Promise<WebSocket | Error> {
  const ws = new WebSocket(url, options);
  return deadline(
    new Promise((resolve) => {
      ws.once('open', () => resolve(ws));
      ws.once('error', (err) => resolve(err));
    }),
    5000,
    `a connection to ${url}`,
  );
}

describe('the proxy stream over TLS', () => {
  it('serves WSS with a certificate from the mesh CA, which proxies verify with the written bundle', async () => {
    expect(plane.streamUrl).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/api\/v1\/stream\/proxy$/);
    const ca = await readFile(plane.caFile, 'utf8');
    expect(ca).toContain('BEGIN CERTIFICATE');
    expect(ca).toBe(plane.certificates.trustBundle.join(''));

    const created = await sendJson(
      'POST',
      `${plane.url}/api/v1/join-tokens`,
      { service: 'service-a' },
      {
        authorization: `Bearer ${TEST_ADMIN_TOKEN}`,
      },
    );
    const ws = await attempt(plane.streamUrl as string, { ca });
    expect(ws).toBeInstanceOf(WebSocket);
    const socket = ws as WebSocket;
    const first = new Promise<any>((resolve) => socket.once('message', (d) => resolve(JSON.parse(`${d}`))));
    socket.send(
      JSON.stringify({
        type: 'hello',
        protocol: STREAM_PROTOCOL_VERSION,
        token: created.body.token,
        node: { service: 'service-a', instance: 'a-wss', address: '127.0.0.1', port: 9901 },
      }),
    );
    expect((await deadline(first, 5000, 'the snapshot')).type).toBe('snapshot');
    socket.close();
  });

  it('a client that does not trust the mesh CA cannot connect; plain ws:// to the TLS port gets nothing', async () => {
    const untrusted = await attempt(plane.streamUrl as string);
    expect(untrusted).toBeInstanceOf(Error);
    expect((untrusted as NodeJS.ErrnoException).code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
    const plain = await attempt((plane.streamUrl as string).replace(/^wss:/, 'ws:'));
    expect(plain).toBeInstanceOf(Error);
  });

  it('the API serves HTTPS with a certificate from the mesh CA when TLS is on', async () => {
    expect(httpsPlane.url).toMatch(/^https:\/\//);
    const ca = await readFile(httpsPlane.caFile, 'utf8');
    const status = await new Promise<number>((resolve, reject) => {
      https
        .get(`${httpsPlane.url}/healthz`, { ca }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', reject);
    });
    expect(status).toBe(200);
  });
});

describe('plaintext', () => {
  it('the API refuses to start in plain HTTP on a non-loopback address unless explicitly allowed', () => {
    expect(loadConfig({}).tls).toBe(false);
    expect(loadConfig({ TRELLIS_CONTROL_HOST: '0.0.0.0' }).tls).toBe(true);
    expect(() => loadConfig({ TRELLIS_CONTROL_HOST: '0.0.0.0', TRELLIS_CONTROL_TLS: 'false' })).toThrow(
      ConfigError,
    );
    expect(() => loadConfig({ TRELLIS_CONTROL_HOST: '10.1.2.3', TRELLIS_CONTROL_TLS: 'false' })).toThrow(
      /TRELLIS_CONTROL_TLS.*TRELLIS_ALLOW_PLAINTEXT/,
    );
    expect(
      loadConfig({
        TRELLIS_CONTROL_HOST: '10.1.2.3',
        TRELLIS_CONTROL_TLS: 'false',
        TRELLIS_ALLOW_PLAINTEXT: 'true',
      }).tls,
    ).toBe(false);
    expect(() => loadConfig({ TRELLIS_TLS_CERT_FILE: '/x.pem' })).toThrow(/TRELLIS_TLS_KEY_FILE/);
  });

  it('a plaintext proxy stream from another host is refused before the upgrade', () => {
    const stream = new ProxyStream({
      store: { db: {} as never, clock: () => new Date(), newId: () => 'x' },
      logger: pino({ level: 'silent' }),
      helloTimeoutMs: 1000,
      graceMs: 1000,
      ttlMs: 1000,
      pingMs: 1000,
    });
    const answers: string[] = [];
    const socket = {
      on() {},
      end(text: string) {
        answers.push(text);
      },
      destroy() {},
    };
    const from = (remoteAddress: string, encrypted: boolean) =>
      stream.handleUpgrade(
        { url: STREAM_PATH, headers: {}, socket: { remoteAddress, encrypted } } as never,
        socket as never,
        Buffer.alloc(0),
      );
    from('10.0.0.5', false);
    expect(answers[0]).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n[\s\S]*wss:\/\//);
    from('::ffff:192.168.1.9', false);
    expect(answers[1]).toMatch(/^HTTP\/1\.1 403/);
    expect(answers).toHaveLength(2);
  });
});

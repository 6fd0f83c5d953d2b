/**
 * A proxy without a control plane gets its mTLS identity from files an operator issued (--identity-dir): two
 * executables in strict mode talk mutual TLS, the inbound side hands its app the caller's verified SPIFFE ID and
 * refuses plaintext; a certificate naming another service stops the proxy at start with the reason.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spiffeId } from '@trellis/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issuedFiles, makeRoot, type TestRoot } from './support/ca.ts';
import { type RunningCli, startCli } from './support/cli.ts';
import { send } from './support/mesh.ts';

const TRUST_DOMAIN = 'cli.test';
let root: TestRoot;
let app: http.Server;
let appPort: number;
const running: RunningCli[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  root = await makeRoot();
  app = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ peer: req.headers['x-trellis-peer-identity'] ?? null }));
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  appPort = (app.address() as AddressInfo).port;
});

afterAll(async () => {
  await Promise.all(running.map((c) => c.stop()));
  await new Promise((r) => app.close(r));
  await Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true })));
});

async function identityDir(uri: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-identity-'));
  dirs.push(dir);
  const { keyPem, certPem } = await issuedFiles(root, uri);
  await fs.writeFile(path.join(dir, 'key.pem'), keyPem, { mode: 0o600 });
  await fs.writeFile(path.join(dir, 'cert.pem'), certPem);
  await fs.writeFile(path.join(dir, 'roots.pem'), root.pem);
  return dir;
}

async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

async function start(config: unknown, dir: string): Promise<RunningCli> {
  const cli = await startCli(config, '.json', ['--identity-dir', dir, '--trust-domain', TRUST_DOMAIN]);
  running.push(cli);
  await cli.waitFor(/obtained a certificate/);
  return cli;
}

describe('--identity-dir', () => {
  it('gives two standalone proxies mutual TLS in strict mode; the app sees the verified caller', async () => {
    const inboundPort = await freePort();
    await start(
      {
        node: { service: 'svc', instance: 'in' },
        listeners: [{ name: 'in', mode: 'inbound', port: inboundPort, upstream: { port: appPort } }],
        mtls: { mode: 'strict' },
      },
      await identityDir(spiffeId(TRUST_DOMAIN, 'svc')),
    );
    const outbound = await start(
      {
        node: { service: 'client', instance: 'out' },
        listeners: [{ name: 'out', mode: 'outbound', port: 0 }],
        services: [{ name: 'svc', port: 80 }],
        endpoints: [{ service: 'svc', address: '127.0.0.1', port: inboundPort, source: 'proxy' }],
        mtls: { mode: 'strict' },
      },
      await identityDir(spiffeId(TRUST_DOMAIN, 'client')),
    );
    const up = JSON.parse(await outbound.waitFor(/trellis-proxy is up/)) as { listeners: string[] };
    const outPort = Number(/:(\d+)$/.exec(up.listeners[0] as string)?.[1]);

    const res = await send(outPort, 'svc');
    expect(res.status, res.text).toBe(200);
    expect(JSON.parse(res.text)).toEqual({ peer: spiffeId(TRUST_DOMAIN, 'client') });

    // Strict: a plaintext client never reaches the app.
    await expect(fetch(`http://127.0.0.1:${inboundPort}/`)).rejects.toThrow();
  });

  it('a certificate for another service stops the proxy at start, naming the reason', async () => {
    const cli = await startCli(
      { node: { service: 'svc', instance: 'x' }, listeners: [{ name: 'out', mode: 'outbound', port: 0 }] },
      '.json',
      ['--identity-dir', await identityDir(spiffeId(TRUST_DOMAIN, 'other')), '--trust-domain', TRUST_DOMAIN],
    );
    running.push(cli);
    expect(await cli.exited).toBe(1);
    expect(cli.logs.join('\n')).toContain(`not ${spiffeId(TRUST_DOMAIN, 'svc')}`);
  });
});

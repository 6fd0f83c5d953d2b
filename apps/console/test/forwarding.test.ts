/**
 * The console's server in front of the control plane, run as `npm start` runs it (scripts/serve.mjs over the
 * production build, which `npm test` makes before the tests), with a stand-in control plane that records what
 * reaches it. The attack: every browser's login reached the control plane from the console's one address, so one
 * guesser locked every user of the console out, and nothing told two browsers apart. Here each browser's address
 * arrives as X-Forwarded-For, for API calls and WebSocket upgrades alike, taken from its socket: a browser cannot
 * name another address. (The control plane's side, believing it only from the console and counting each address
 * apart, is apps/control/test/security/login-throttle.test.ts.)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_ADDRESS_HEADER, forwardedHeaders } from '../src/proxy.ts';

const CONSOLE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface Seen {
  kind: 'request' | 'upgrade';
  url: string;
  headers: http.IncomingHttpHeaders;
}

const seen: Seen[] = [];
let control: http.Server;
let consoleApp: ChildProcess;
let consoleUrl: string;

beforeAll(async () => {
  if (!existsSync(path.join(CONSOLE_DIR, '.next', 'BUILD_ID'))) {
    throw new Error('no console build: run `npx turbo run build --filter=@trellis/console` first');
  }
  control = http.createServer((req, res) => {
    seen.push({ kind: 'request', url: req.url ?? '', headers: req.headers });
    res.writeHead(401, { 'content-type': 'application/problem+json' });
    res.end(JSON.stringify({ code: 'TRELLIS_ERR_UNAUTHENTICATED' }));
  });
  control.on('upgrade', (req, socket) => {
    seen.push({ kind: 'upgrade', url: req.url ?? '', headers: req.headers });
    socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
  const controlUrl = `http://127.0.0.1:${(control.address() as AddressInfo).port}`;
  consoleApp = spawn(process.execPath, [path.join(CONSOLE_DIR, 'scripts/serve.mjs'), '--port', '0'], {
    cwd: CONSOLE_DIR,
    env: { ...process.env, TRELLIS_CONSOLE_CONTROL_URL: controlUrl, NEXT_TELEMETRY_DISABLED: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  consoleUrl = await new Promise<string>((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const up = /Trellis console is up: (http\S+)/.exec(output);
      if (up) resolve(up[1] as string);
    };
    consoleApp.stdout?.on('data', onData);
    consoleApp.stderr?.on('data', onData);
    consoleApp.once('exit', (code) => reject(new Error(`the console exited (${code}):\n${output}`)));
  });
}, 60_000);

afterAll(async () => {
  if (consoleApp && consoleApp.exitCode === null) {
    const exited = new Promise((resolve) => consoleApp.once('exit', resolve));
    consoleApp.kill('SIGTERM');
    await exited;
  }
  await new Promise((resolve) => control?.close(resolve));
});

/** A request to the console from `localAddress` (any 127.x address is this machine). */
function fromBrowser(localAddress: string, urlPath: string, headers: Record<string, string> = {}) {
  return new Promise<number>((resolve, reject) => {
    const req = http.request(`${consoleUrl}${urlPath}`, { localAddress, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

const lastSeen = (kind: Seen['kind'], url: string) =>
  seen.filter((s) => s.kind === kind && s.url === url).at(-1);

describe('the console forwards each browser’s address to the control plane', () => {
  it('two browsers arrive as two addresses, whatever they claim', async () => {
    expect(await fromBrowser('127.0.0.2', '/api/v1/auth/me?from=a')).toBe(401);
    expect(
      await fromBrowser('127.0.0.3', '/api/v1/auth/me?from=b', {
        'x-forwarded-for': '198.51.100.1',
        [CLIENT_ADDRESS_HEADER]: '198.51.100.2',
      }),
    ).toBe(401);
    expect(lastSeen('request', '/api/v1/auth/me?from=a')?.headers['x-forwarded-for']).toBe('127.0.0.2');
    const b = lastSeen('request', '/api/v1/auth/me?from=b');
    expect(b?.headers['x-forwarded-for']).toBe('127.0.0.3');
    expect(b?.headers[CLIENT_ADDRESS_HEADER]).toBeUndefined();
  });

  it('so do the WebSocket feeds, with the page’s Origin and the console’s host', async () => {
    const status = await fromBrowser('127.0.0.4', '/api/v1/stream/events', {
      connection: 'Upgrade',
      upgrade: 'websocket',
      'sec-websocket-version': '13',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      origin: consoleUrl,
      'x-forwarded-for': '198.51.100.9',
    });
    expect(status).toBe(403);
    const upgrade = lastSeen('upgrade', '/api/v1/stream/events');
    expect(upgrade?.headers['x-forwarded-for']).toBe('127.0.0.4');
    expect(upgrade?.headers.origin).toBe(consoleUrl);
    expect(upgrade?.headers['x-forwarded-host']).toBe(new URL(consoleUrl).host);
  });

  it('without the server’s stamp (next dev) no address is forwarded at all', () => {
    const headers = forwardedHeaders(new Headers({ 'x-forwarded-for': '198.51.100.1', accept: 'text/html' }));
    expect(headers.get('x-forwarded-for')).toBeNull();
    expect(headers.get('accept')).toBe('text/html');
  });
});

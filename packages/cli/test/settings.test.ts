/**
 * Where the CLI sends its requests and what it answers when things go wrong: `login` and the precedence of
 * --server, TRELLIS_SERVER and the stored file; the token as a bearer header (to its own server only); exit codes
 * for usage errors, an unreachable server and a conflict. A small `node:http` server on port 0 stands in for the
 * control plane where a test needs an answer the real one gives only in a race (409 between GET and PUT).
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../../../apps/control/test/support/ports.ts';
import { run } from '../src/run.ts';
import { tempDir, trellis } from './support/cli.ts';

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  body: string;
}

const ROUTE = {
  id: '5b1e2a7e-4c1f-4f6a-9d43-2a8f0c1d9e11',
  name: 'service-b-canary',
  service: 'service-b',
  priority: 100,
  match: [],
  destinations: [{ subset: {}, weight: 100 }],
  timeoutMs: 2000,
  retries: {
    attempts: 2,
    retryOn: ['connect-failure', 'reset'],
    retriableStatusCodes: [],
    backoff: { baseIntervalMs: 25, maxIntervalMs: 250 },
  },
  headers: { request: { set: {}, remove: [] }, response: { set: {}, remove: [] } },
  version: 4,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
};

let server: Server;
let url: string;
const seen: Seen[] = [];
let temp: Awaited<ReturnType<typeof tempDir>>;
let config: string;

function problem(status: number, code: string, detail: string, extra: object = {}) {
  return JSON.stringify({ type: 'about:blank', title: detail, status, detail, code, ...extra });
}

/** GET answers the route above; PUT answers 409 as if someone had changed it after the GET. */
function answer(req: IncomingMessage, body: string): [number, string] {
  seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, body });
  if (req.method === 'GET' && req.url === '/api/v1/routes/service-b-canary')
    return [200, JSON.stringify(ROUTE)];
  if (req.method === 'PUT' && req.url === '/api/v1/routes/service-b-canary') {
    return [
      409,
      problem(409, 'TRELLIS_ERR_VERSION_CONFLICT', 'route "service-b-canary" is at version 5, not 4', {
        current: { ...ROUTE, version: 5 },
      }),
    ];
  }
  if (req.method === 'GET' && req.url === '/api/v1/routes/new-route') {
    return [404, problem(404, 'TRELLIS_ERR_NOT_FOUND', 'route "new-route" does not exist')];
  }
  if (req.method === 'POST' && req.url === '/api/v1/routes') {
    return [
      400,
      problem(400, 'TRELLIS_ERR_VALIDATION', 'the route is invalid', {
        errors: [{ path: 'timeoutMs', message: 'must be at most 60000 ms on this server' }],
      }),
    ];
  }
  if (req.method === 'GET' && req.url?.startsWith('/api/v1/revisions')) {
    return [200, JSON.stringify({ items: [], nextCursor: null })];
  }
  if (req.method === 'GET' && req.url?.startsWith('/api/v1/services')) {
    return [200, JSON.stringify({ items: [], nextCursor: null })];
  }
  return [404, problem(404, 'TRELLIS_ERR_ROUTE_NOT_FOUND', 'no such API route')];
}

const manifest = [
  'apiVersion: trellis.dev/v1',
  'kind: RouteRule',
  'metadata: { name: service-b-canary }',
  'spec: { service: service-b, timeoutMs: 2500 }',
  '',
].join('\n');

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => {
      body += d;
    });
    req.on('end', () => {
      const [status, text] = answer(req, body);
      res.writeHead(status, {
        'content-type': status >= 400 ? 'application/problem+json' : 'application/json',
      });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(async () => {
  seen.length = 0;
  temp = await tempDir('settings');
  config = path.join(temp.dir, 'trellis', 'config.json');
});

afterEach(async () => {
  await temp.remove();
});

describe('trellis login', () => {
  it('stores the server and token in $XDG_CONFIG_HOME/trellis/config.json, readable by its owner only', async () => {
    const res = await trellis(['login', '--server', `${url}/`, '--token', 's3cret'], {
      env: { XDG_CONFIG_HOME: temp.dir },
    });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(`saved ${url} and a token to ${config}\nthe control plane at ${url} answers\n`);
    expect(JSON.parse(await readFile(config, 'utf8'))).toEqual({ server: url, token: 's3cret' });
    expect((await stat(config)).mode & 0o777).toBe(0o600);
    expect((await stat(path.dirname(config))).mode & 0o777).toBe(0o700);

    // Later commands use the stored server and send the token as a bearer header.
    seen.length = 0;
    const apply = await trellis(['diff', '-f', '-'], { env: { XDG_CONFIG_HOME: temp.dir }, input: manifest });
    expect(apply.code).toBe(1);
    expect(seen.map((s) => s.authorization)).toEqual(['Bearer s3cret']);
  });

  it('falls back to ~/.config/trellis without XDG_CONFIG_HOME', async () => {
    const res = await trellis(['login', '--server', url], { env: { HOME: temp.dir } });
    expect(res.code).toBe(0);
    const file = path.join(temp.dir, '.config', 'trellis', 'config.json');
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ server: url });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('saves even when the server cannot be reached, with a warning', async () => {
    const port = await freePort();
    const res = await trellis(['login', '--server', `127.0.0.1:${port}`], {
      env: { XDG_CONFIG_HOME: temp.dir },
    });
    expect(res.code).toBe(0);
    expect(res.stderr).toBe(
      `warning: cannot reach the control plane at http://127.0.0.1:${port}: ECONNREFUSED\n`,
    );
    expect(JSON.parse(await readFile(config, 'utf8'))).toEqual({ server: `http://127.0.0.1:${port}` });
  });

  it("--server and TRELLIS_SERVER override the stored server, which never receives the others' token", async () => {
    const port = await freePort();
    await trellis(['login', '--server', `http://127.0.0.1:${port}`, '--token', 'elsewhere'], {
      env: { XDG_CONFIG_HOME: temp.dir },
    });
    const stored = await trellis(['get', 'services'], { env: { XDG_CONFIG_HOME: temp.dir } });
    expect(stored.code).toBe(4);

    seen.length = 0;
    const env = await trellis(['get', 'services'], {
      env: { XDG_CONFIG_HOME: temp.dir, TRELLIS_SERVER: url },
    });
    expect(env.code).toBe(0);
    const flag = await trellis(['get', 'services', '--server', url], {
      env: { XDG_CONFIG_HOME: temp.dir, TRELLIS_SERVER: `http://127.0.0.1:${port}` },
    });
    expect(flag.code).toBe(0);
    expect(seen.map((s) => s.authorization)).toEqual([undefined, undefined]);

    const withToken = await trellis(['get', 'services', '--server', url, '--token', 'given']);
    expect(withToken.code).toBe(0);
    expect(seen.at(-1)?.authorization).toBe('Bearer given');
  });
});

describe('output', () => {
  /** Runs the CLI in this process with a stdout that says whether it is a terminal. */
  async function inProcess(args: string[], env: Record<string, string>, isTTY: boolean) {
    let out = '';
    let err = '';
    const code = await run(args, env, {
      stdout: { write: (t: string) => (out += t), isTTY },
      stderr: { write: (t: string) => (err += t) },
      stdin: Readable.from([manifest.replace('service-b-canary', 'new-route')]),
    });
    return { code, out, err };
  }

  it('colors diffs on a terminal only, and never with NO_COLOR', async () => {
    const args = ['diff', '-f', '-', '--server', url];
    const tty = await inProcess(args, { XDG_CONFIG_HOME: temp.dir }, true);
    expect(tty.code).toBe(1);
    expect(tty.out).toContain('\x1b[32m+kind: RouteRule\x1b[0m');
    expect(tty.out).toContain('\x1b[1m--- routerule/new-route (absent)\x1b[0m');
    const pipe = await inProcess(args, { XDG_CONFIG_HOME: temp.dir }, false);
    expect(pipe.out).toContain('\n+kind: RouteRule\n');
    expect(pipe.out).not.toContain('\x1b[');
    const noColor = await inProcess(args, { XDG_CONFIG_HOME: temp.dir, NO_COLOR: '1' }, true);
    expect(noColor.out).toBe(pipe.out);
  });
});

describe('exit codes', () => {
  it('4 when the server cannot be reached', async () => {
    const port = await freePort();
    const res = await trellis(['get', 'routes', '--server', `http://127.0.0.1:${port}`]);
    expect(res).toEqual({
      code: 4,
      stdout: '',
      stderr: `error: cannot reach the control plane at http://127.0.0.1:${port}: ECONNREFUSED\n`,
    });
  });

  it('5 when the resource changed between the read and the write (409)', async () => {
    const res = await trellis(['apply', '-f', '-', '--server', url], { input: manifest });
    expect(res.code).toBe(5);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe(
      'error: routerule/service-b-canary: TRELLIS_ERR_VERSION_CONFLICT: route "service-b-canary" is at version 5, not 4\n',
    );
    const put = seen.find((s) => s.method === 'PUT');
    expect(JSON.parse(put?.body ?? '{}')).toMatchObject({
      name: 'service-b-canary',
      timeoutMs: 2500,
      version: 4,
    });
  });

  it('1 when the server refuses, with the problem code and its field paths', async () => {
    const res = await trellis(['apply', '-f', '-', '--server', url], {
      input: manifest.replace('service-b-canary', 'new-route'),
    });
    expect(res).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'error: routerule/new-route: TRELLIS_ERR_VALIDATION: the route is invalid (timeoutMs: must be at most 60000 ms on this server)\n',
    });
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'GET /api/v1/routes/new-route',
      'POST /api/v1/routes',
    ]);
  });

  it('2 for usage errors, with a message', async () => {
    const cases: [string[], RegExp][] = [
      [[], /^trellis: drive a Trellis mesh/],
      [['frobnicate'], /^error: unknown command "frobnicate"/],
      [['apply'], /^error: apply needs -f/],
      [['get'], /^error: get needs a resource/],
      [['get', 'widgets'], /^error: unknown resource "widgets"/],
      [['get', 'services', '-o', 'xml'], /^error: -o must be one of table, yaml, json, got "xml"/],
      [['get', 'services', '--bogus'], /^error: unknown flag --bogus/],
      [['rollback', 'latest'], /^error: usage: trellis rollback <revision>/],
      [['login'], /^error: usage: trellis login --server URL/],
      [['login', '--server', 'ftp://x'], /^error: the server URL must start with http/],
      [['get', 'services', '--dry-run'], /^error: --dry-run goes with apply only/],
      [['get', 'services', '-f', 'x.yaml'], /^error: -f goes with apply and diff only/],
      [['apply', '-f', '/no/such/file.yaml'], /^error: cannot read \/no\/such\/file.yaml: ENOENT/],
    ];
    for (const [args, stderr] of cases) {
      const res = await trellis(args, { env: { XDG_CONFIG_HOME: temp.dir } });
      expect({ args, code: res.code }).toEqual({ args, code: 2 });
      expect(res.stderr).toMatch(stderr);
      expect(res.stdout).toBe('');
    }
  });

  it('0 for help and version', async () => {
    const help = await trellis(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Exit codes: 0 ok; 1 diff found differences');
    const version = await trellis(['version']);
    expect(version).toEqual({ code: 0, stdout: 'trellis 0.1.0 (API v1)\n', stderr: '' });
  });

  it('3 for a document that is not YAML, naming file, document and position', async () => {
    const file = path.join(temp.dir, 'broken.yaml');
    await writeFile(file, `${manifest}---\nkind: [RouteRule\n`);
    const res = await trellis(['diff', '-f', file, '--server', url]);
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(
      new RegExp(`^error: ${file}: document 2: not valid YAML or JSON at line [67], column \\d+: `),
    );
    expect(seen).toEqual([]);
  });
});

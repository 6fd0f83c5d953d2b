/**
 * M8 §2: no request can freeze the control plane. The attack: one unauthenticated 1 MB body of nested arrays (or
 * objects) to POST /api/v1/auth/login, which held the event loop for minutes while the storable-text walk copied
 * the path at every level. Here, against a control plane on a real port, each such body is answered 400
 * TRELLIS_ERR_TOO_DEEP naming the limit while a /readyz sent during its upload is answered too; the limit holds at
 * exactly its depth (brackets inside strings do not count), is configurable, and also guards the proxy stream.
 */
import http from 'node:http';
import { CLOSE_CODES, STREAM_PROTOCOL_VERSION } from '@trellis/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import type { ControlPlane } from '../../src/server.ts';
import { call } from '../support/api.ts';
import { createDatabase, testControl } from '../support/db.ts';
import { deadline, FakeProxy, JOIN_TOKEN, startPlane, streamUrl } from '../support/proxy-client.ts';

/** `[` × 500,000 then `]` × 500,000: exactly 1,000,000 bytes. */
const NESTED_ARRAYS = `${'['.repeat(500_000)}${']'.repeat(500_000)}`;
/** The same depth of objects, as deep as fits in the same megabyte: `{"a":` × n, `null`, `}` × n. */
const OBJECT_DEPTH = Math.floor((1_000_000 - 4) / 6);
const NESTED_OBJECTS = `${'{"a":'.repeat(OBJECT_DEPTH)}null${'}'.repeat(OBJECT_DEPTH)}`;

let plane: ControlPlane;

beforeAll(async () => {
  plane = await startPlane(await createDatabase('jsondepth'), { bodyLimitBytes: 1024 * 1024 });
});
afterAll(async () => {
  await plane?.stop();
});

interface Answer {
  status: number;
  body: string;
  contentType: string | undefined;
}

/** One request on its own connection; `onSent` runs once the whole body has been handed to the socket. */
function request(
  method: string,
  path: string,
  body: string | undefined,
  onSent: () => void = () => {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${plane.url}${path}`,
      {
        method,
        agent: false,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            contentType: res.headers['content-type'],
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.on('finish', onSent);
    req.end(body);
  });
}

describe('a deeply nested body cannot hold the event loop', () => {
  it.each([
    ['arrays', NESTED_ARRAYS],
    ['objects', NESTED_OBJECTS],
  ])(
    '1 MB of nested %s to the login: 400 naming the limit, and /readyz answers meanwhile',
    async (_kind, body) => {
      expect(body.length).toBeGreaterThan(999_000);
      let ready: Promise<Answer> | undefined;
      const login = request('POST', '/api/v1/auth/login', body, () => {
        ready = request('GET', '/readyz', undefined);
      });
      // A hang guard only: the answers take milliseconds; the old walk took minutes.
      const refused = await deadline(login, 5000, 'the answer to the nested body');
      expect(ready, 'the body was sent before it was answered').toBeDefined();
      const readiness = await deadline(ready as Promise<Answer>, 5000, 'the concurrent /readyz');
      expect(readiness.status).toBe(200);
      expect(refused.status, refused.body.slice(0, 300)).toBe(400);
      expect(refused.contentType).toMatch(/^application\/problem\+json/);
      const problem = JSON.parse(refused.body);
      expect(problem.code).toBe('TRELLIS_ERR_TOO_DEEP');
      expect(problem.detail).toMatch(/\b64\b/);
    },
  );

  it('the limit is exact, counts no bracket inside a string, and is the same on every route', async () => {
    const nested = (depth: number, inner = '1') => `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;
    const login = (body: string) => call(plane.app, 'POST', '/api/v1/auth/login', body, { token: null });
    // 64 levels parse (and then fail validation: a login is an object); 65 do not.
    expect((await login(nested(64))).body.code).toBe('TRELLIS_ERR_VALIDATION');
    expect((await login(nested(65))).body.code).toBe('TRELLIS_ERR_TOO_DEEP');
    const brackets = JSON.stringify(`\\"${'['.repeat(1000)}{{{`);
    expect((await login(nested(64, brackets))).body.code).toBe('TRELLIS_ERR_VALIDATION');
    const wrong = await login(
      JSON.stringify({ username: 'nobody', password: `[{${'['.repeat(200)}"\\${'{'.repeat(200)}` }),
    );
    expect(wrong.status).toBe(401);
    // A write with credentials is refused the same way (64 levels of labels in the body: 65), before any route
    // looks at it.
    const service = await call(plane.app, 'POST', '/api/v1/services', {
      name: 'deep',
      port: 1,
      labels: JSON.parse(`${'{"a":'.repeat(64)}"x"${'}'.repeat(64)}`),
    });
    expect(service.body.code).toBe('TRELLIS_ERR_TOO_DEEP');
  });

  it('the depth limit is a setting', async () => {
    expect(loadConfig({}).jsonMaxDepth).toBe(64);
    expect(loadConfig({ TRELLIS_JSON_MAX_DEPTH: '8' }).jsonMaxDepth).toBe(8);
    expect(() => loadConfig({ TRELLIS_JSON_MAX_DEPTH: '0' })).toThrow(/TRELLIS_JSON_MAX_DEPTH/);
    const t = await testControl({ app: { jsonMaxDepth: 4 } });
    try {
      const send = (depth: number) =>
        call(t.app, 'POST', '/api/v1/auth/login', `${'['.repeat(depth)}${']'.repeat(depth)}`, {
          token: null,
        });
      expect((await send(4)).body.code).toBe('TRELLIS_ERR_VALIDATION');
      const refused = await send(5);
      expect(refused.status).toBe(400);
      expect(refused.body.code).toBe('TRELLIS_ERR_TOO_DEEP');
      expect(refused.body.detail).toMatch(/\b4\b/);
    } finally {
      await t.close();
    }
  });

  it('a proxy stream message nested too deep is a protocol error naming the limit', async () => {
    const proxy = await FakeProxy.connect(streamUrl(plane));
    const labels = `${'{"a":'.repeat(5000)}"x"${'}'.repeat(5000)}`;
    proxy.send(
      `{"type":"hello","protocol":${STREAM_PROTOCOL_VERSION},"token":${JSON.stringify(JOIN_TOKEN)},` +
        `"node":{"service":"service-a","instance":"deep-1","address":"127.0.0.1","port":9000,"labels":${labels}}}`,
    );
    const closed = await deadline(proxy.closed, 5000, 'the server to close the connection');
    expect(closed.code).toBe(CLOSE_CODES.protocolError);
    expect(closed.reason).toMatch(/nested more than 64 levels/);
  });
});

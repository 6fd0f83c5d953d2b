/**
 * Security issue M8 §3: routing and authorization must see the path the application sees. The attacker's requests,
 * written raw to real listeners: an inbound sidecar whose policy denies `/admin` and `/admin/*` must deny the
 * absolute-form `GET http://x/admin`, and refuse `/admin#frag` and `/%61dmin/x%zz` (400) instead of passing them
 * to the app; in every listener mode the normalised path is the one matched and the one forwarded; runs of slashes
 * are merged when the mesh setting says so.
 */
import type { ProxyConfigInput } from '@trellis/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrellisProxy } from '../../src/proxy.ts';
import { closeAll, meshConfig, startProxy } from '../support/mesh.ts';
import { exchange, headerOf, statusOf } from '../support/raw.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

let app: Upstream;
let web: Upstream;
let admin: Upstream;
let external: Upstream;
let proxy: TrellisProxy;
let port: (name?: string) => number;
let config: ProxyConfigInput;

beforeAll(async () => {
  [app, web, admin, external] = await Promise.all([
    startUpstream('app'),
    startUpstream('web'),
    startUpstream('admin'),
    startUpstream('external'),
  ]);
  config = {
    ...meshConfig({
      services: [
        { name: 'web', endpoints: [{ upstream: web }] },
        { name: 'admin', endpoints: [{ upstream: admin }] },
      ],
      listeners: [
        { name: 'out', mode: 'outbound', port: 0 },
        {
          name: 'edge',
          mode: 'ingress',
          port: 0,
          routes: [
            { pathPrefix: '/admin', service: 'admin' },
            { pathPrefix: '/', service: 'web' },
          ],
        },
        { name: 'in', mode: 'inbound', port: 0, upstream: { port: app.port } },
        { name: 'egress', mode: 'egress', port: 0, allow: [{ host: 'localhost', ports: [external.port] }] },
      ],
    }),
    authorizationPolicies: [
      {
        name: 'no-admin',
        destination: '*',
        action: 'deny',
        rules: [{ to: [{ paths: ['/admin', '/admin/*'] }] }],
      },
    ],
  };
  const started = await startProxy(config);
  proxy = started.proxy;
  port = started.port;
});
afterAll(() => closeAll(proxy, [app, web, admin, external]));

const request = (target: string, host = 'x') =>
  `GET ${target} HTTP/1.1\r\n${host ? `host: ${host}\r\n` : ''}connection: close\r\n\r\n`;

describe('the attacker’s bypasses of a deny rule for /admin and /admin/*', () => {
  it.each([
    [
      'absolute form, no Host',
      403,
      'rbac_denied',
      'GET http://x/admin HTTP/1.1\r\nconnection: close\r\n\r\n',
    ],
    ['absolute form and its Host', 403, 'rbac_denied', request('http://x/admin')],
    ['absolute form and another Host', 400, 'bad_request_target', request('http://x/admin', 'y')],
    ['a fragment', 400, 'bad_request_target', request('/admin#frag')],
    ['an invalid escape that turned decoding off', 400, 'bad_request_target', request('/%61dmin/x%zz')],
    ['an escaped letter', 403, 'rbac_denied', request('/%61dmin/x')],
    ['encoded dot segments', 403, 'rbac_denied', request('/public/%2e%2E/admin')],
    ['backslashes', 403, 'rbac_denied', request('/public\\..\\admin')],
    ['two slashes', 403, 'rbac_denied', request('//admin')],
  ])('%s → %i %s, and nothing reaches the app', async (_name, status, tag, payload) => {
    const before = app.seen.length;
    const answer = await exchange(port('in'), payload);
    expect(statusOf(answer)).toBe(status);
    expect(headerOf(answer, 'x-trellis-error')).toBe(tag);
    expect(app.seen.slice(before)).toEqual([]);
  });

  it('an ordinary request to another path still reaches the app', async () => {
    const answer = await exchange(port('in'), request('/public/x'));
    expect(statusOf(answer)).toBe(200);
    expect(app.seen.at(-1)?.url).toBe('/public/x');
  });
});

describe('in every listener mode the normalised path is matched and forwarded', () => {
  it('outbound: the upstream gets the normal path, the query as it was', async () => {
    const answer = await exchange(port('out'), request('/x/../%7euser/./a?q=%zz&r=/../', 'web'));
    expect(statusOf(answer)).toBe(200);
    expect(web.seen.at(-1)?.url).toBe('/~user/a?q=%zz&r=/../');
  });

  it('ingress: the path prefix is matched on the normal path', async () => {
    const answer = await exchange(port('edge'), request('/x/../%61dmin/panel', 'shop'));
    expect(statusOf(answer)).toBe(200);
    expect(admin.seen.at(-1)?.url).toBe('/admin/panel');
  });

  it('inbound: the app gets the normal path', async () => {
    const answer = await exchange(port('in'), request('/public/%2e/x'));
    expect(statusOf(answer)).toBe(200);
    expect(app.seen.at(-1)?.url).toBe('/public/x');
  });

  it('egress: an absolute-form target goes to its authority, in origin form', async () => {
    const answer = await exchange(
      port('egress'),
      `GET http://localhost:${external.port}/a/../b HTTP/1.1\r\nconnection: close\r\n\r\n`,
    );
    expect(statusOf(answer)).toBe(200);
    expect(external.seen.at(-1)?.url).toBe('/b');
    expect(external.seen.at(-1)?.headers.host).toBe(`localhost:${external.port}`);
  });

  it.each(['out', 'edge', 'in', 'egress'])(
    '%s: a fragment or a bad escape is refused with 400',
    async (name) => {
      for (const target of ['/a#b', '/a%zz', '/a%4']) {
        const answer = await exchange(port(name), request(target, 'web'));
        expect(statusOf(answer), target).toBe(400);
        expect(headerOf(answer, 'x-trellis-error')).toBe('bad_request_target');
        expect(headerOf(answer, 'content-type')).toBe('application/problem+json');
        expect(answer).toContain('"code":"TRELLIS_ERR_BAD_REQUEST_TARGET"');
      }
    },
  );
});

describe('merging slashes (mesh setting http.mergeSlashes)', () => {
  it('off by default: runs of slashes are forwarded as they are; on: merged before matching and forwarding', async () => {
    await exchange(port('in'), request('//public//x'));
    expect(app.seen.at(-1)?.url).toBe('//public//x');
    const applied = await proxy.apply({ ...config, revision: 2, http: { mergeSlashes: true } });
    expect(applied.ok).toBe(true);
    await exchange(port('in'), request('//public//x'));
    expect(app.seen.at(-1)?.url).toBe('/public/x');
    await exchange(port('edge'), request('//admin//panel', 'shop'));
    expect(admin.seen.at(-1)?.url).toBe('/admin/panel');
  });
});

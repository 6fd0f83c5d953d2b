/**
 * The OpenAPI document against the running control plane (real Postgres, the seeded mesh, a real stream and
 * telemetry pipeline): it names exactly the routes fastify registers, with the roles they enforce; it is sound
 * OpenAPI 3.1 (every $ref resolves, every schema compiles as JSON Schema 2020-12); and real answers, successes
 * and errors alike, validate against the schemas it documents for their status. The reference page loads its
 * viewer from the control plane itself.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registeredRoutes } from '../src/auth/guard.ts';
import { openApiPath } from '../src/http/openapi.ts';
import type { ControlPlane } from '../src/server.ts';
import { type ApiResponse, call } from './support/api.ts';
import { createDatabase } from './support/db.ts';
import { startPlane } from './support/proxy-client.ts';

type Json = Record<string, any>;
let plane: ControlPlane;
let doc: Json;
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
const checked = new Set<string>();

beforeAll(async () => {
  plane = await startPlane(await createDatabase('openapi'));
  expect(plane.seeded).toBe(true);
  const res = await plane.app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  doc = res.json();
  ajv.addSchema({ $id: 'https://trellis.test/openapi', components: doc.components });
});

afterAll(async () => {
  await plane?.stop();
});

/** The documented answer of `method path` for a status; fails the test when the status is not documented. */
function documented(method: string, path: string, status: number): Json {
  const op = doc.paths[openApiPath(path)]?.[method.toLowerCase()];
  expect(op, `${method} ${path} is documented`).toBeDefined();
  const response = op.responses[String(status)];
  expect(response, `${method} ${path} documents status ${status}`).toBeDefined();
  return response;
}

/** Asserts that a real answer matches the schema documented for its status, and returns it. */
function conforms<T extends ApiResponse>(method: string, path: string, res: T): T {
  const response = documented(method, path, res.status);
  const content = response.content as Json | undefined;
  if (res.status === 204 || !content) {
    expect(res.body, `${method} ${path} ${res.status} has no body`).toBeUndefined();
  } else {
    const type = String(res.headers['content-type']).split(';')[0] as string;
    expect(Object.keys(content), `${method} ${path} ${res.status} answers ${type}`).toContain(type);
    const schema = content[type].schema as Json;
    const validate = ajv.compile(
      schema.$ref
        ? { $ref: `https://trellis.test/openapi${schema.$ref}` }
        : { ...schema, $id: undefined, components: undefined },
    );
    const ok = validate(res.body);
    expect(ok, `${method} ${path} ${res.status}: ${ajv.errorsText(validate.errors)}`).toBe(true);
  }
  checked.add(`${method} ${path} ${res.status}`);
  return res;
}

/** Calls the API as the test admin (or as told) and checks the answer against the document. */
async function api(
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  template: string,
  params: Record<string, string | number> = {},
  payload?: unknown,
  options: Parameters<typeof call>[4] & { query?: string } = {},
): Promise<ApiResponse> {
  let url = template;
  for (const [name, value] of Object.entries(params)) url = url.replace(`:${name}`, String(value));
  const res = await call(plane.app, method, `${url}${options.query ?? ''}`, payload, options);
  return conforms(method, template, res);
}

const meta = ({ id, version, createdAt, updatedAt, ...spec }: Json) => spec;

describe('the OpenAPI document', () => {
  it('describes exactly the routes fastify registers, with the role each enforces', () => {
    const registered = registeredRoutes(plane.app);
    const gets = new Set(registered.filter((r) => r.method === 'GET').map((r) => r.url));
    for (const head of registered.filter((r) => r.method === 'HEAD')) expect(gets).toContain(head.url);
    const fromApp = registered
      .filter((r) => r.method !== 'HEAD')
      .map((r) => `${r.method} ${openApiPath(r.url)} ${r.access}`)
      .sort();
    const fromDoc: string[] = [];
    for (const [path, item] of Object.entries(doc.paths as Json)) {
      for (const [method, op] of Object.entries(item as Json)) {
        fromDoc.push(`${method.toUpperCase()} ${path} ${(op as Json)['x-trellis-role']}`);
      }
    }
    expect(fromDoc.sort()).toEqual(fromApp);
    expect(fromApp.length).toBeGreaterThan(50);
  });

  it('is sound OpenAPI 3.1: refs resolve, schemas compile, parameters match the path, errors are problems', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(doc.components.securitySchemes).toMatchObject({
      bearer: { type: 'http', scheme: 'bearer' },
      session: { type: 'apiKey', in: 'cookie', name: 'trellis_session' },
      csrf: { type: 'apiKey', in: 'header', name: 'x-trellis-csrf' },
    });
    for (const name of Object.keys(doc.components.schemas)) {
      expect(() => ajv.getSchema(`https://trellis.test/openapi#/components/schemas/${name}`)).not.toThrow();
    }
    const text = JSON.stringify(doc);
    for (const [, ref] of text.matchAll(/"\$ref":"([^"]+)"/g)) {
      const target = (ref as string)
        .slice(2)
        .split('/')
        .reduce((node: any, key) => node?.[key], doc);
      expect(target, `${ref} resolves`).toBeDefined();
    }
    const operationIds = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths as Json)) {
      expect(path).toMatch(/^\//);
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      for (const [method, op] of Object.entries(item as Record<string, Json>)) {
        const where = `${method.toUpperCase()} ${path}`;
        expect(['get', 'put', 'post', 'delete']).toContain(method);
        expect(operationIds.has(op.operationId), `${where} has a unique operationId`).toBe(false);
        operationIds.add(op.operationId);
        expect(op.summary).toBeTruthy();
        expect(['public', 'viewer', 'editor', 'admin']).toContain(op['x-trellis-role']);
        expect(op.description).toContain(
          op['x-trellis-role'] === 'public' ? 'No credentials' : op['x-trellis-role'],
        );
        expect(op.security.length === 0).toBe(op['x-trellis-role'] === 'public');
        const pathParams = op.parameters.filter((p: Json) => p.in === 'path');
        expect(pathParams.map((p: Json) => p.name).sort(), where).toEqual(inPath);
        for (const p of op.parameters) expect(['path', 'query']).toContain(p.in);
        for (const [status, response] of Object.entries(op.responses as Record<string, Json>)) {
          expect(response.description, `${where} ${status}`).toBeTruthy();
          if (status === 'default' || Number(status) >= 400) {
            expect(response.content['application/problem+json'].schema).toEqual({
              $ref: '#/components/schemas/Problem',
            });
          }
        }
        expect(op.responses.default).toBeDefined();
        if (op['x-trellis-role'] !== 'public')
          expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['401', '403']));
        if (op.requestBody) expect(op.responses['400']).toBeDefined();
      }
    }
  });
});

describe('real answers match the document', () => {
  it('every GET route, on the seeded mesh', async () => {
    await api('GET', '/healthz');
    await api('GET', '/readyz');
    await api('GET', '/api/v1/auth/me');
    const services = await api('GET', '/api/v1/services');
    expect(services.body.items.length).toBeGreaterThan(2);
    await api('GET', '/api/v1/services/:name', { name: 'service-a' });
    const endpoint = await api(
      'POST',
      '/api/v1/services/:name/endpoints',
      { name: 'service-c' },
      {
        address: '10.9.0.1',
        port: 8080,
        labels: { version: 'v1' },
      },
    );
    expect(endpoint.status).toBe(201);
    const endpoints = await api('GET', '/api/v1/services/:name/endpoints', { name: 'service-c' });
    expect(endpoints.body.items.length).toBeGreaterThan(0);
    await api('GET', '/api/v1/services/:name/endpoints/:id', { name: 'service-c', id: endpoint.body.id });
    await api('POST', '/api/v1/services/:name/endpoints/:id/heartbeat', {
      name: 'service-c',
      id: endpoint.body.id,
    });
    const routes = await api('GET', '/api/v1/routes', {}, undefined, { query: '?service=service-b' });
    expect(routes.body.items.length).toBeGreaterThan(0);
    await api('GET', '/api/v1/routes/:name', { name: 'service-b-canary' });
    const policies = await api('GET', '/api/v1/policies');
    expect(policies.body.items.length).toBeGreaterThan(0);
    await api('GET', '/api/v1/policies/:name', { name: policies.body.items[0].name });
    const authz = await api(
      'POST',
      '/api/v1/authorization-policies',
      {},
      {
        name: 'only-a-to-b',
        destination: 'service-b',
        action: 'allow',
        rules: [{ from: [{ principal: 'service:service-a' }] }],
      },
    );
    expect(authz.status).toBe(201);
    expect((await api('GET', '/api/v1/authorization-policies')).body.items.length).toBeGreaterThan(0);
    await api('GET', '/api/v1/authorization-policies/:name', { name: 'only-a-to-b' });
    await api('GET', '/api/v1/mesh/settings');
    const revisions = await api('GET', '/api/v1/revisions');
    await api('GET', '/api/v1/revisions/:revision', { revision: revisions.body.items[0].revision });
    await api('GET', '/api/v1/revisions/:revision', { revision: 1 });
    await api('GET', '/api/v1/audit');
    await api('GET', '/api/v1/security-events');
    await api('GET', '/api/v1/proxies');
    await api('GET', '/api/v1/topology');
    await api('GET', '/api/v1/metrics', {}, undefined, { query: '?service=service-a' });
    await api('GET', '/api/v1/users');
    await api('GET', '/api/v1/tokens');
    await api('GET', '/api/v1/join-tokens');

    const gets = registeredRoutes(plane.app).filter((r) => r.method === 'GET');
    const notJson = new Set(['/metrics', '/api/v1/openapi.json', '/api/v1/docs', '/api/v1/docs/:asset']);
    const missing = gets
      .filter((r) => !notJson.has(r.url))
      .filter((r) => ![...checked].some((c) => c.startsWith(`GET ${r.url} 2`)));
    expect(missing.map((r) => r.url)).toEqual([]);
  });

  it('creating and replacing each kind of resource', async () => {
    const service = await api('POST', '/api/v1/services', {}, { name: 'service-d', port: 8080 });
    expect(service.status).toBe(201);
    const svc = await api(
      'PUT',
      '/api/v1/services/:name',
      { name: 'service-d' },
      {
        ...meta(service.body),
        description: 'a fourth service',
        version: service.body.version,
      },
    );
    expect(svc.status).toBe(200);

    const ep = await api(
      'POST',
      '/api/v1/services/:name/endpoints',
      { name: 'service-d' },
      {
        address: '10.9.0.2',
        port: 8080,
      },
    );
    const { service: _s, lastSeen: _l, expiresAt: _e, ...epSpec } = meta(ep.body);
    expect(
      (
        await api(
          'PUT',
          '/api/v1/services/:name/endpoints/:id',
          { name: 'service-d', id: ep.body.id },
          {
            ...epSpec,
            weight: 2,
            version: ep.body.version,
          },
        )
      ).status,
    ).toBe(200);

    const canary = (await api('GET', '/api/v1/routes/:name', { name: 'service-b-canary' })).body;
    const route = await api('POST', '/api/v1/routes', {}, { ...meta(canary), name: 'service-b-copy' });
    expect(route.status).toBe(201);
    expect(
      (
        await api(
          'PUT',
          '/api/v1/routes/:name',
          { name: 'service-b-copy' },
          {
            ...meta(route.body),
            version: route.body.version,
          },
        )
      ).status,
    ).toBe(200);

    const policy = (await api('GET', '/api/v1/policies')).body.items[0];
    const created = await api(
      'POST',
      '/api/v1/policies',
      {},
      { ...meta(policy), name: 'copy-policy', service: 'service-d' },
    );
    expect(created.status).toBe(201);
    expect(
      (
        await api(
          'PUT',
          '/api/v1/policies/:name',
          { name: 'copy-policy' },
          {
            ...meta(created.body),
            version: created.body.version,
          },
        )
      ).status,
    ).toBe(200);

    const authz = (await api('GET', '/api/v1/authorization-policies/:name', { name: 'only-a-to-b' })).body;
    expect(
      (
        await api(
          'PUT',
          '/api/v1/authorization-policies/:name',
          { name: 'only-a-to-b' },
          {
            ...meta(authz),
            dryRun: true,
            version: authz.version,
          },
        )
      ).status,
    ).toBe(200);

    const settings = (await api('GET', '/api/v1/mesh/settings')).body;
    const { version: settingsVersion, updatedAt: _u, ...settingsSpec } = settings;
    expect(
      (await api('PUT', '/api/v1/mesh/settings', {}, { ...settingsSpec, version: settingsVersion })).status,
    ).toBe(200);

    const user = await api(
      'POST',
      '/api/v1/users',
      {},
      {
        username: 'reader',
        role: 'viewer',
        password: 'a-long-enough-password',
      },
    );
    expect(user.status).toBe(201);
    expect(
      (await api('PUT', '/api/v1/users/:username', { username: 'reader' }, { role: 'editor' })).status,
    ).toBe(200);
    const token = await api('POST', '/api/v1/tokens', {}, { name: 'prometheus', role: 'viewer' });
    expect(token.status).toBe(201);
    const join = await api('POST', '/api/v1/join-tokens', {}, { service: 'service-d' });
    expect(join.status).toBe(201);
    const login = await api(
      'POST',
      '/api/v1/auth/login',
      {},
      {
        username: 'reader',
        password: 'a-long-enough-password',
      },
    );
    expect(login.status).toBe(200);
    const rollback = await api('POST', '/api/v1/revisions/:revision/rollback', { revision: 1 }, {});
    expect(rollback.status).toBe(200);

    expect((await api('DELETE', '/api/v1/tokens/:id', { id: token.body.id })).status).toBe(204);
    expect((await api('DELETE', '/api/v1/join-tokens/:id', { id: join.body.id })).status).toBe(204);
    expect((await api('DELETE', '/api/v1/users/:username', { username: 'reader' })).status).toBe(204);
  });

  it('errors are the problems the document promises', async () => {
    const invalid = await api('POST', '/api/v1/services', {}, { name: 'Not A Label', port: 0 });
    expect(invalid.status).toBe(400);
    expect(invalid.body.errors.length).toBeGreaterThan(0);
    expect((await api('GET', '/api/v1/services/:name', { name: 'no-such-service' })).status).toBe(404);
    const current = (await api('GET', '/api/v1/services/:name', { name: 'service-a' })).body;
    const stale = await api(
      'PUT',
      '/api/v1/services/:name',
      { name: 'service-a' },
      {
        ...meta(current),
        version: current.version + 5,
      },
    );
    expect(stale.status).toBe(409);
    expect((await api('GET', '/api/v1/services', {}, undefined, { token: null })).status).toBe(401);
    const viewer = (await api('POST', '/api/v1/tokens', {}, { name: 'read-only', role: 'viewer' })).body
      .token;
    expect(
      (
        await api('DELETE', '/api/v1/routes/:name', { name: 'service-b-canary' }, undefined, {
          token: viewer,
        })
      ).status,
    ).toBe(403);
    expect((await api('GET', '/api/v1/docs/:asset', { asset: 'nothing.js' })).status).toBe(404);
    expect((await api('GET', '/api/v1/metrics', {}, undefined, { query: '?step=nonsense' })).status).toBe(
      400,
    );
  });
});

describe('the reference page', () => {
  it('is HTML that loads the viewer from the control plane itself, under a CSP', async () => {
    const page = await plane.app.inject({ method: 'GET', url: '/api/v1/docs' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    const sources = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)]
      .map((m) => m[1] as string)
      .filter((s) => !s.startsWith('data:'));
    expect(sources.length).toBe(3);
    for (const source of sources) {
      expect(source).toMatch(/^\/api\/v1\/docs\//);
      const file = await fetch(`${plane.url}${source}`);
      expect(file.status, source).toBe(200);
      expect(file.headers.get('content-type')).toMatch(/^text\/(css|javascript)/);
      expect((await file.text()).length).toBeGreaterThan(source.endsWith('init.js') ? 50 : 10_000);
    }
    const init = await (await fetch(`${plane.url}/api/v1/docs/init.js`)).text();
    expect(init).toContain('/api/v1/openapi.json');
    expect(page.body).not.toMatch(/<script>[^<]/);
  });
});

/**
 * Property-based fuzzing of every REST route (fast-check) against a whole control plane (real Postgres, the seeded
 * mesh, the proxy stream and telemetry pipeline, the first-run admin): random JSON, valid bodies with one field
 * mutated (wrong types, huge strings, deep nesting, unicode edge cases), prototype-pollution keys, random path
 * parameters, query strings and credentials. Invariants, for every request: no 5xx; every error is problem+json
 * with a stable code; wrong login credentials are 401 (429 once rate-limited), never anything else; a body nested
 * deeper than the limit is 400 TRELLIS_ERR_TOO_DEEP on every write route, whoever sends it; and afterwards
 * the database holds exactly the writes the API accepted (each 201 counted in, each 204 counted out, each
 * rollback's listed changes applied, revoked tokens still there with revokedAt), with nothing added to
 * Object.prototype. The last test fails when a route is registered that this file does not fuzz, and proves the
 * others reached every route from the control plane's own per-route request metrics.
 * Runs are bounded and seeded: see support/fuzz.ts.
 */

import { LoginRequest, MtlsMode } from '@trellis/schema';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registeredRoutes } from '../src/auth/guard.ts';
import { CONTROL_METRIC_NAMES } from '../src/metrics.ts';
import type { ControlPlane } from '../src/server.ts';
import { TTL_ACTOR } from '../src/store/endpoints.ts';
import { bearer, TEST_ADMIN_TOKEN } from './support/api.ts';
import { createDatabase } from './support/db.ts';
import { bodyFor, FUZZ_TIMEOUT_MS, headerValue, nastyString, pct, rawQuery, run } from './support/fuzz.ts';
import { startPlane } from './support/proxy-client.ts';

let plane: ControlPlane;
const KINDS = [
  'services',
  'routes',
  'policies',
  'authz',
  'endpoints',
  'users',
  'apiTokens',
  'joinTokens',
] as const;
type Kind = (typeof KINDS)[number];
const zero = (): Record<Kind, number> => Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<Kind, number>;
const accepted = zero();
let baseline = zero();
const baselineRevoked = { apiTokens: 0, joinTokens: 0 };
/** Ids the fuzz created, so that some random path parameters name real rows; and those the API revoked. */
const pools = { users: [] as string[], apiTokens: [] as string[], joinTokens: [] as string[] };
const revoked = { apiTokens: new Set<string>(), joinTokens: new Set<string>() };
/** The mesh settings the last accepted write left. */
let settings = { mode: 'permissive', mergeSlashes: false, version: 1 };
const seen5xx: string[] = [];
let created = 0;

/**
 * Every route this file fuzzes, as registered with fastify (HEAD comes with each GET). A route added to the
 * control plane must be added here, with requests below, or the last test fails.
 */
const P = '/api/v1';
const FUZZED_ROUTES = [
  'GET /healthz',
  'GET /readyz',
  'GET /metrics',
  `GET ${P}/openapi.json`,
  `GET ${P}/docs`,
  `GET ${P}/docs/:asset`,
  `POST ${P}/auth/login`,
  `POST ${P}/auth/logout`,
  `GET ${P}/auth/me`,
  `POST ${P}/auth/password`,
  `GET ${P}/users`,
  `POST ${P}/users`,
  `PUT ${P}/users/:username`,
  `DELETE ${P}/users/:username`,
  `GET ${P}/tokens`,
  `POST ${P}/tokens`,
  `DELETE ${P}/tokens/:id`,
  `GET ${P}/join-tokens`,
  `POST ${P}/join-tokens`,
  `DELETE ${P}/join-tokens/:id`,
  ...['services', 'routes', 'policies', 'authorization-policies'].flatMap((r) => [
    `GET ${P}/${r}`,
    `POST ${P}/${r}`,
    `GET ${P}/${r}/:name`,
    `PUT ${P}/${r}/:name`,
    `DELETE ${P}/${r}/:name`,
  ]),
  `GET ${P}/services/:name/endpoints`,
  `POST ${P}/services/:name/endpoints`,
  `GET ${P}/services/:name/endpoints/:id`,
  `PUT ${P}/services/:name/endpoints/:id`,
  `DELETE ${P}/services/:name/endpoints/:id`,
  `POST ${P}/services/:name/endpoints/:id/heartbeat`,
  `GET ${P}/mesh/settings`,
  `PUT ${P}/mesh/settings`,
  `GET ${P}/revisions`,
  `GET ${P}/revisions/:revision`,
  `POST ${P}/revisions/:revision/rollback`,
  `GET ${P}/audit`,
  `GET ${P}/security-events`,
  `GET ${P}/proxies`,
  `GET ${P}/topology`,
  `GET ${P}/metrics`,
];

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE';

interface Sent {
  method: Method;
  url: string;
  body?: string | undefined;
  contentType?: string;
  /** Sent instead of the admin bearer token. */
  headers?: Record<string, string>;
  remoteAddress?: string;
}

async function send(req: Sent) {
  const headers = {
    ...(req.headers ?? bearer()),
    ...(req.body === undefined ? {} : { 'content-type': req.contentType ?? 'application/json' }),
  };
  const res = await plane.app.inject({
    method: req.method,
    url: req.url,
    headers,
    ...(req.body === undefined ? {} : { payload: req.body }),
    ...(req.remoteAddress ? { remoteAddress: req.remoteAddress } : {}),
  });
  const where = `${req.method} ${req.url} ${req.body?.slice(0, 300) ?? ''}`;
  if (res.statusCode >= 500) seen5xx.push(`${res.statusCode} ${where}: ${res.body.slice(0, 300)}`);
  expect(res.statusCode, where).toBeLessThan(500);
  if (res.statusCode >= 400) {
    expect(res.headers['content-type'], where).toMatch(/^application\/problem\+json/);
    if (req.method === 'HEAD') return res;
    const problem = JSON.parse(res.body);
    expect(typeof problem.code, where).toBe('string');
    expect(problem.code, where).toMatch(/^TRELLIS_ERR_[A-Z_]+$/);
    expect(problem.status, where).toBe(res.statusCode);
  }
  return res;
}

/** `template` with each `:param` replaced by its (already encoded) value. */
function at(template: string, params: Record<string, string>): string {
  return template.replace(/:(\w+)/g, (_, name: string) => params[name] ?? 'x');
}

/** Path parameters: names that exist, that don't, and that should never reach the database. */
const pathParam = fc
  .oneof(
    fc.constantFrom('known', 'known-route', 'known-policy', 'known-authz', 'admin', 'nope', 'a'.repeat(300)),
    nastyString,
  )
  .map(pct);

/** A path parameter that is, as often as not, one of the ids the fuzz created (drawn when the request is made). */
function poolParam(pool: readonly string[]): fc.Arbitrary<() => string> {
  return fc.oneof(
    pathParam.map((p) => () => p),
    fc.nat().map((n) => () => pool[n % Math.max(1, pool.length)] ?? 'none'),
  );
}

const revisionParam = fc.oneof(
  fc.integer({ min: 1, max: 40 }).map(String),
  fc.constantFrom('0', '-1', '1.5', '2147483648', '1e2', '0x10'),
  pathParam,
);
const assetParam = fc.oneof(fc.constantFrom('swagger-ui.css', 'init.js', 'swagger-ui-bundle.js'), pathParam);

const queryValue = fc.oneof(
  fc.constantFrom(
    '1',
    '0',
    '-1',
    '500',
    '501',
    'abc',
    '1e3',
    '',
    '99999999999999999999',
    'config',
    'endpoints',
    'local',
    'all',
    'known',
    'a>b',
    '*',
    '2026-11-26T00:00:00Z',
  ),
  nastyString,
);
const query = fc.oneof({ weight: 4, arbitrary: queryDictionary() }, { weight: 1, arbitrary: rawQuery });

function queryDictionary() {
  return fc
    .dictionary(
      fc.constantFrom(
        'limit',
        'cursor',
        'service',
        'kind',
        'resourceName',
        'revision',
        'version',
        'scope',
        'from',
        'to',
        'step',
        'edge',
        'source',
        'destination',
        'window',
        '__proto__',
      ),
      queryValue,
      { maxKeys: 4 },
    )
    .map((q) => {
      const s = new URLSearchParams(q as Record<string, string>).toString();
      return s ? `?${s}` : '';
    });
}

/** What a write says its body is: JSON mostly, else something the API must refuse (415) or cannot parse (400). */
const contentType = fc.oneof(
  { weight: 6, arbitrary: fc.constant('application/json') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'application/json; charset=utf-16',
      'application/json; charset=latin1',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/problem+json',
      'application/json, text/plain',
      '',
    ),
  },
);

const validService = {
  name: 'fz-svc',
  port: 8080,
  protocol: 'http',
  labels: { team: 'a' },
  description: 'fuzz',
  dependencies: ['known'],
};
const validRoute = {
  name: 'fz-route',
  service: 'known',
  priority: 10,
  match: [{ path: { prefix: '/' }, method: 'GET' }],
  destinations: [{ subset: {}, weight: 100 }],
  timeoutMs: 1000,
  retries: { attempts: 2, perTryTimeoutMs: 100, retryOn: ['5xx'] },
};
const validPolicy = {
  name: 'fz-policy',
  service: 'known',
  loadBalancer: { type: 'round_robin' },
  connectionPool: { maxConnections: 10, maxPendingRequests: 10, maxRequests: 10 },
  outlierDetection: { consecutive5xx: 3 },
};
const validAuthz = {
  name: 'fz-authz',
  destination: 'known',
  action: 'allow',
  rules: [{ from: [{ principal: 'service:known' }], to: [{ paths: ['/api/*'], methods: ['GET'] }] }],
  dryRun: true,
};
const validEndpoint = { address: '10.0.0.9', port: 8080, labels: {}, weight: 1, ttlSeconds: 86_400 };
const validUser = { username: 'fz-user', role: 'viewer', password: 'fz-password-0001' };
const validToken = { name: 'fz-token', role: 'viewer', expiresInDays: 30 };
const validJoinToken = { service: 'known', expiresInDays: 7 };
const validLogin = { username: 'admin', password: 'not-the-password-0001' };
/** Users the fuzz never names: one signs in for the session routes, one proves login still works afterwards. */
const SESSION_USER = { username: 'fz-session', role: 'viewer', password: 'fz-session-password-1' };
const CHECK_USER = { username: 'fz-login-check', role: 'viewer', password: 'fz-check-password-1' };
let session = { cookie: '', csrf: '' };

async function counts(): Promise<Record<Kind, number>> {
  const db = plane.db;
  return {
    services: await db.service.count(),
    routes: await db.routeRule.count(),
    policies: await db.trafficPolicy.count(),
    authz: await db.authorizationPolicy.count(),
    endpoints: await db.endpoint.count(),
    users: await db.user.count(),
    apiTokens: await db.apiToken.count(),
    joinTokens: await db.joinToken.count(),
  };
}

async function revokedCounts() {
  return {
    apiTokens: await plane.db.apiToken.count({ where: { revokedAt: { not: null } } }),
    joinTokens: await plane.db.joinToken.count({ where: { revokedAt: { not: null } } }),
  };
}

/** Tracks what the API accepted, so the database can be checked against it. */
function tally(kind: Kind, status: number) {
  if (status === 201) created += 1;
  if (status === 201) accepted[kind] += 1;
  if (status === 204) accepted[kind] -= 1;
}

/** Bodies that are valid as often as not: writes whose every field is checked rarely survive a mutation. */
function often(valid: Record<string, unknown>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(JSON.stringify(valid)) },
    { weight: 2, arbitrary: bodyFor(valid) },
  );
}

/** A fresh name for valid-looking bodies now and then, so that creates succeed and are counted too. */
function renamed(body: string, name: string, suffix: string): string {
  return body.replace(`"${name}"`, `"${name}-${suffix.replace(/[^a-z0-9]/g, 'x').toLowerCase()}"`);
}

function parsesAs(schema: { safeParse(v: unknown): { success: boolean } }, body: string): boolean {
  try {
    return !/__proto__|constructor|prototype/.test(body) && schema.safeParse(JSON.parse(body)).success;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  plane = await startPlane(await createDatabase('fuzz'), { bodyLimitBytes: 256 * 1024 });
  const post = async (url: string, body: unknown) => {
    const res = await plane.app.inject({
      method: 'POST',
      url,
      payload: JSON.stringify(body),
      headers: { ...bearer(), 'content-type': 'application/json' },
    });
    expect(res.statusCode, `${url}: ${res.body}`).toBeLessThan(300);
    return res;
  };
  await post(`${P}/services`, { name: 'known', port: 80 });
  await post(`${P}/routes`, { name: 'known-route', service: 'known' });
  await post(`${P}/policies`, { name: 'known-policy', service: 'known' });
  await post(`${P}/authorization-policies`, {
    name: 'known-authz',
    destination: 'known',
    action: 'deny',
    rules: [],
    dryRun: true,
  });
  await post(`${P}/users`, SESSION_USER);
  await post(`${P}/users`, CHECK_USER);
  const login = await post(`${P}/auth/login`, {
    username: SESSION_USER.username,
    password: SESSION_USER.password,
  });
  session = {
    cookie: String(login.headers['set-cookie']).split(';')[0] as string,
    csrf: login.json().csrfToken,
  };
  baseline = await counts();
  Object.assign(baselineRevoked, await revokedCounts());
  expect(await plane.db.user.findUnique({ where: { username: 'admin' } })).not.toBeNull();
  const current = await plane.db.meshState.findUnique({ where: { id: 1 } });
  settings = {
    mode: current?.mtlsMode ?? 'permissive',
    mergeSlashes: current?.httpMergeSlashes ?? false,
    version: current?.settingsVersion ?? 1,
  };
}, 60_000);
afterAll(() => plane?.stop());

describe('REST fuzzing', { timeout: FUZZ_TIMEOUT_MS }, () => {
  const MESH: [Kind, string, Record<string, unknown>][] = [
    ['services', `${P}/services`, validService],
    ['routes', `${P}/routes`, validRoute],
    ['policies', `${P}/policies`, validPolicy],
    ['authz', `${P}/authorization-policies`, validAuthz],
  ];

  it('POST /services, /routes, /policies, /authorization-policies with random and mutated bodies', async () => {
    for (const [kind, url, valid] of MESH) {
      await run(
        fc.asyncProperty(
          bodyFor(valid),
          fc.string({ minLength: 1, maxLength: 8 }),
          contentType,
          async (body, suffix, type) => {
            const sent = renamed(body, valid.name as string, suffix);
            const res = await send({ method: 'POST', url, body: sent, contentType: type });
            tally(kind, res.statusCode);
          },
        ),
      );
    }
  });

  it('PUT and DELETE of mesh resources with random names, bodies and versions', async () => {
    for (const [kind, base, valid] of MESH) {
      await run(
        fc.asyncProperty(
          pathParam,
          bodyFor({ ...valid, version: 1 }),
          query,
          contentType,
          async (name, body, q, type) => {
            await send({ method: 'PUT', url: `${base}/${name}`, body, contentType: type });
            // The seeded service stays: deleting it would take the seeded rule and policy with it.
            if (kind === 'services' && name === 'known') return;
            // fastify reads a DELETE's body too: a junk one must not get past the checks either.
            const junk = body.length % 3 === 0 ? body : undefined;
            const res = await send({
              method: 'DELETE',
              url: `${base}/${name}${q}`,
              body: junk,
              contentType: type,
            });
            tally(kind, res.statusCode);
          },
        ),
      );
    }
  });

  it('endpoint routes with random services, ids and bodies', async () => {
    const base = `${P}/services/:name/endpoints`;
    await run(
      fc.asyncProperty(pathParam, pathParam, bodyFor(validEndpoint), query, async (name, id, body, q) => {
        const made = await send({ method: 'POST', url: at(base, { name }), body });
        tally('endpoints', made.statusCode);
        await send({ method: 'PUT', url: at(`${base}/:id`, { name, id }), body });
        await send({
          method: 'POST',
          url: at(`${base}/:id/heartbeat`, { name, id }),
          body: q ? body : undefined,
        });
        await send({ method: 'GET', url: at(`${base}/:id`, { name, id }) });
        const removed = await send({ method: 'DELETE', url: `${at(`${base}/:id`, { name, id })}${q}` });
        tally('endpoints', removed.statusCode);
      }),
    );
  });

  it('users: create, change and delete with random names and bodies', async () => {
    await run(
      fc.asyncProperty(often(validUser), fc.string({ minLength: 1, maxLength: 8 }), async (body, suffix) => {
        const res = await send({ method: 'POST', url: `${P}/users`, body: renamed(body, 'fz-user', suffix) });
        tally('users', res.statusCode);
        if (res.statusCode === 201) pools.users.push(res.json().username);
      }),
      0.5,
    );
    expect(pools.users.length).toBeGreaterThan(0);
    await run(
      fc.asyncProperty(
        poolParam(pools.users),
        bodyFor({ role: 'editor', password: 'fz-password-0002' }),
        fc.boolean(),
        async (pick, body, remove) => {
          const username = pick();
          await send({ method: 'PUT', url: `${P}/users/${username}`, body });
          if (!remove) return;
          const res = await send({ method: 'DELETE', url: `${P}/users/${username}` });
          tally('users', res.statusCode);
          if (res.statusCode === 204) pools.users.splice(pools.users.indexOf(username), 1);
        },
      ),
      0.5,
    );
  });

  it('API and join tokens: create and revoke with random bodies and ids', async () => {
    for (const [kind, url, valid] of [
      ['apiTokens', `${P}/tokens`, validToken],
      ['joinTokens', `${P}/join-tokens`, validJoinToken],
    ] as const) {
      await run(
        fc.asyncProperty(often(valid), poolParam(pools[kind]), query, async (body, pick, q) => {
          const res = await send({ method: 'POST', url, body });
          tally(kind, res.statusCode);
          if (res.statusCode === 201) pools[kind].push(res.json().id);
          const id = pick();
          // Revoking keeps the row (with revokedAt), and revoking twice is no error.
          const gone = await send({ method: 'DELETE', url: `${url}/${id}${q}` });
          if (gone.statusCode === 204) revoked[kind].add(id);
        }),
      );
      expect(pools[kind].length, kind).toBeGreaterThan(0);
    }
  });

  it('login with random bodies: wrong credentials are 401, or 429 once rate-limited, never anything else', async () => {
    // Its own client addresses, so that the fuzz locks out neither the default address nor another user.
    const statuses = new Set<number>();
    await run(
      fc.asyncProperty(
        often(validLogin),
        fc.constantFrom('10.77.0.1', '10.77.0.2', '10.77.0.3'),
        async (body, remoteAddress) => {
          const res = await send({
            method: 'POST',
            url: `${P}/auth/login`,
            body,
            headers: {},
            remoteAddress,
          });
          statuses.add(res.statusCode);
          if (parsesAs(LoginRequest, body)) expect([401, 429], body.slice(0, 200)).toContain(res.statusCode);
          else expect([400, 401, 413, 415, 429], body.slice(0, 200)).toContain(res.statusCode);
          expect(res.headers['set-cookie']).toBeUndefined();
        },
      ),
    );
    expect(statuses).toContain(401);
  });

  it('me, logout and password with random credentials, cookies and bodies', async () => {
    const credentials: fc.Arbitrary<Record<string, string>> = fc.oneof(
      fc.constant<Record<string, string>>({}),
      fc.constant(bearer()),
      headerValue.map((v) => ({ authorization: v })),
      headerValue.map((v) => ({ authorization: `Bearer ${v}` })),
      headerValue.map((v) => ({ cookie: `trellis_session=${v}` })),
      fc
        .boolean()
        .map((csrf) => ({ cookie: session.cookie, ...(csrf ? { 'x-trellis-csrf': session.csrf } : {}) })),
    );
    await run(
      fc.asyncProperty(credentials, fc.option(bodyFor({ a: 1 })), async (headers, body) => {
        const me = await send({ method: 'GET', url: `${P}/auth/me`, headers });
        if (headers.authorization === `Bearer ${TEST_ADMIN_TOKEN}`) expect(me.statusCode).toBe(200);
        // Logging out the fuzz's own session would end it for the rest of this test.
        if (headers.cookie !== session.cookie) {
          await send({ method: 'POST', url: `${P}/auth/logout`, headers, body: body ?? undefined });
        }
      }),
    );
    let current = SESSION_USER.password;
    await run(
      fc.asyncProperty(
        bodyFor({ currentPassword: SESSION_USER.password, newPassword: 'fz-session-password-2' }),
        fc.constantFrom('session', 'no-csrf', 'bearer'),
        async (body, how) => {
          const headers =
            how === 'bearer'
              ? bearer()
              : { cookie: session.cookie, ...(how === 'session' ? { 'x-trellis-csrf': session.csrf } : {}) };
          const res = await send({ method: 'POST', url: `${P}/auth/password`, headers, body });
          if (res.statusCode === 204) current = JSON.parse(body).newPassword;
        },
      ),
      0.5,
    );
    // The session survived its own password changes; logging out ends it.
    const out = await send({
      method: 'POST',
      url: `${P}/auth/logout`,
      headers: { cookie: session.cookie, 'x-trellis-csrf': session.csrf },
    });
    expect(out.statusCode).toBe(204);
    const after = await send({ method: 'GET', url: `${P}/auth/me`, headers: { cookie: session.cookie } });
    expect(after.statusCode).toBe(401);
    const relog = await send({
      method: 'POST',
      url: `${P}/auth/login`,
      headers: {},
      body: JSON.stringify({ username: SESSION_USER.username, password: current }),
    });
    expect(relog.statusCode).toBe(200);
  });

  it('rollback to random revisions with random bodies', async () => {
    const now = (await plane.db.meshState.findUnique({ where: { id: 1 } }))?.revision ?? 1;
    const key: Record<string, Kind | undefined> = {
      service: 'services',
      route: 'routes',
      policy: 'policies',
      'authorization-policy': 'authz',
    };
    let rolledBack = 0;
    await run(
      fc.asyncProperty(
        fc.oneof(revisionParam, fc.integer({ min: 1, max: now }).map(String)),
        fc.option(bodyFor({ expectedRevision: now }), { freq: 2 }),
        async (revision, body) => {
          const res = await send({
            method: 'POST',
            url: `${P}/revisions/${revision}/rollback`,
            body: body ?? undefined,
          });
          if (res.statusCode !== 200) return;
          rolledBack += 1;
          for (const change of res.json().changes as { kind: string; action: string }[]) {
            const kind = key[change.kind];
            if (kind && change.action === 'create') accepted[kind] += 1;
            if (kind && change.action === 'delete') accepted[kind] -= 1;
          }
        },
      ),
      0.5,
    );
    expect(rolledBack).toBeGreaterThan(0);
    const current = await plane.db.meshState.findUnique({ where: { id: 1 } });
    settings = {
      mode: current?.mtlsMode ?? '',
      mergeSlashes: current?.httpMergeSlashes ?? false,
      version: current?.settingsVersion ?? 0,
    };
  });

  it('mesh settings: PUT with random bodies and versions', async () => {
    let changed = 0;
    await run(
      fc.asyncProperty(
        often({ mtls: { mode: 'strict' }, http: { mergeSlashes: true }, version: 1 }),
        fc.boolean(),
        fc.constantFrom(...MtlsMode.options),
        fc.boolean(),
        async (body, currentVersion, mode, merge) => {
          const sent = currentVersion
            ? body
                .replace('"version":1', `"version":${settings.version}`)
                .replace('"strict"', `"${mode}"`)
                .replace('"mergeSlashes":true', `"mergeSlashes":${merge}`)
            : body;
          const res = await send({ method: 'PUT', url: `${P}/mesh/settings`, body: sent });
          if (res.statusCode !== 200) return;
          const stored = res.json();
          settings = {
            mode: stored.mtls.mode,
            mergeSlashes: stored.http.mergeSlashes,
            version: stored.version,
          };
          changed += 1;
        },
      ),
    );
    expect(changed).toBeGreaterThan(0);
  });

  it('every write with a body nested too deep: 400 TOO_DEEP naming the limit, before any route reads it', async () => {
    const writes = FUZZED_ROUTES.filter((r) => !r.startsWith('GET ')).map((r) => {
      const [method, template] = r.split(' ') as [Method, string];
      return { method, template };
    });
    // Levels of arrays and objects, some keys and strings full of brackets, and shallow text after the deep part.
    const level = fc.constantFrom('[', '{"a":', '{"[{":', '["]}",', '{"\\"[":');
    const deepBody = fc
      .record({
        depth: fc.integer({ min: 65, max: 30_000 }),
        levels: fc.array(level, { minLength: 1, maxLength: 4 }),
        inner: fc.constantFrom('1', '"x"', '"]]]}}}"', '[]', '{}'),
      })
      .map(({ depth, levels, inner }) => {
        let open = '';
        let close = '';
        for (let i = 0; i < depth; i++) {
          const l = levels[i % levels.length] as string;
          open += l;
          close = (l.startsWith('[') ? ']' : '}') + close;
        }
        return `${open}${inner}${close}`;
      });
    await run(
      fc.asyncProperty(
        fc.constantFrom(...writes),
        deepBody,
        // Path parameters a route matches (a malformed one is refused before any body is read).
        fc.record({
          name: fc.constantFrom('known', 'nope'),
          id: fc.constantFrom('nope', '00000000-0000-4000-8000-000000000000'),
          username: fc.constantFrom('admin', 'nope'),
          revision: fc.constantFrom('1', '2'),
        }),
        async ({ method, template }, body, params) => {
          const login = template === `${P}/auth/login`;
          const res = await send({
            method,
            url: at(template, params),
            body,
            headers: login ? {} : bearer(),
            ...(login ? { remoteAddress: '10.78.0.1' } : {}),
          });
          const where = `${method} ${template} (${body.length} bytes)`;
          expect(res.statusCode, where).toBe(400);
          expect(res.json().code, where).toBe('TRELLIS_ERR_TOO_DEEP');
          expect(res.json().detail, where).toMatch(/\b64\b/);
        },
      ),
    );
  });

  it('every GET (and HEAD) with random path parameters and query strings', async () => {
    const gets = FUZZED_ROUTES.filter((r) => r.startsWith('GET ')).map((r) => r.slice(4));
    await run(
      fc.asyncProperty(
        fc.record({
          name: pathParam,
          id: pathParam,
          username: pathParam,
          revision: revisionParam,
          asset: assetParam,
        }),
        query,
        async (params, q) => {
          for (const template of gets) {
            await send({ method: 'GET', url: `${at(template, params)}${q}` });
            await send({ method: 'HEAD', url: `${at(template, params)}${q}` });
          }
        },
      ),
      0.5,
    );
  });

  it('the database holds exactly the accepted writes, and nothing polluted Object.prototype', async () => {
    expect(seen5xx).toEqual([]);
    // Not vacuous: some of the fuzzed writes were valid and went in.
    expect(created).toBeGreaterThan(0);
    // Endpoints registered with a short TTL and no heartbeat expire while the fuzz runs: the control plane's own
    // deletions, each audited.
    const expired = await plane.db.auditEntry.count({ where: { actor: TTL_ACTOR, action: 'delete' } });
    accepted.endpoints -= expired;
    const expected = Object.fromEntries(KINDS.map((k) => [k, baseline[k] + accepted[k]]));
    // A deleted service takes its endpoints with it; none of the fuzzed services had any that outlived it.
    expect(await counts()).toEqual(expected);
    expect(await revokedCounts()).toEqual({
      apiTokens: baselineRevoked.apiTokens + revoked.apiTokens.size,
      joinTokens: baselineRevoked.joinTokens + revoked.joinTokens.size,
    });
    const state = await plane.db.meshState.findUnique({ where: { id: 1 } });
    expect({
      mode: state?.mtlsMode,
      mergeSlashes: state?.httpMergeSlashes,
      version: state?.settingsVersion,
    }).toEqual(settings);
    const probe = {} as Record<string, unknown>;
    expect(probe.admin).toBeUndefined();
    expect(Object.keys(Object.prototype)).toEqual([]);
    // The login fuzz locked out only its own addresses and names.
    const login = await send({
      method: 'POST',
      url: `${P}/auth/login`,
      headers: {},
      body: JSON.stringify({ username: CHECK_USER.username, password: CHECK_USER.password }),
    });
    expect(login.statusCode).toBe(200);
  });

  it('fuzzes every registered route, and reached each of them', async () => {
    const registered = registeredRoutes(plane.app).map((r) => `${r.method} ${r.url}`);
    const fuzzed = FUZZED_ROUTES.flatMap((r) => (r.startsWith('GET ') ? [r, `HEAD ${r.slice(4)}`] : [r]));
    expect(registered.filter((r) => !fuzzed.includes(r)).sort(), 'registered but not fuzzed').toEqual([]);
    expect(fuzzed.filter((r) => !registered.includes(r)).sort(), 'fuzzed but not registered').toEqual([]);
    // The control plane's own per-route request histogram says which routes the requests above were matched to.
    const scrape = await send({ method: 'GET', url: '/metrics' });
    const reached = new Set<string>();
    const series = new RegExp(`^${CONTROL_METRIC_NAMES.httpDuration}_count\\{([^}]*)\\}`, 'gm');
    for (const [, labels] of scrape.body.matchAll(series)) {
      const method = /method="([^"]*)"/.exec(labels ?? '')?.[1];
      const route = /route="([^"]*)"/.exec(labels ?? '')?.[1];
      reached.add(`${method} ${route}`);
    }
    expect(registered.filter((r) => !reached.has(r)).sort(), 'registered but never requested').toEqual([]);
  });
});

/**
 * The read-side commands and rollback, end to end: `get` in its three formats, `describe service`, `proxy-status`
 * with a connected proxy, `get revisions` and `rollback`, as child processes against a real control plane on a
 * real Postgres database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import type { ControlPlane } from '../../../apps/control/src/server.ts';
import { TEST_ADMIN_TOKEN } from '../../../apps/control/test/support/api.ts';
import { createDatabase } from '../../../apps/control/test/support/db.ts';
import {
  eventually,
  FakeProxy,
  getJson,
  proxyStatus,
  sendJson,
  startPlane,
  streamUrl,
} from '../../../apps/control/test/support/proxy-client.ts';
import { type Result, trellis } from './support/cli.ts';

let plane: ControlPlane;
let synced: FakeProxy;
let refusing: FakeProxy;

function cli(args: string[]): Promise<Result> {
  return trellis(args, { env: { TRELLIS_SERVER: plane.url, TRELLIS_TOKEN: TEST_ADMIN_TOKEN } });
}

beforeAll(async () => {
  plane = await startPlane(await createDatabase('cli_read'));
  refusing = await FakeProxy.join(streamUrl(plane), {
    service: 'service-c',
    instance: 'c-1',
    address: '10.0.3.1',
    port: 9301,
  });
  await refusing.snapshot();
  synced = await FakeProxy.join(streamUrl(plane), {
    service: 'service-b',
    instance: 'b-v2-1',
    address: '10.0.2.2',
    port: 9202,
    labels: { version: 'v2' },
  });
  const { data } = await synced.snapshot();
  synced.ack(data);
  await eventually(
    async () => ((await proxyStatus(plane, 'service-b', 'b-v2-1'))?.status === 'SYNCED' ? true : undefined),
    'b-v2-1 SYNCED',
  );
  // c-1 refuses the last message it was sent (once the control plane's idea of "last" and its own agree).
  const last = await eventually(async () => {
    const status = await proxyStatus(plane, 'service-c', 'c-1');
    const received = refusing.received.at(-1)?.data;
    return status?.lastSent?.nonce === received?.nonce ? received : undefined;
  }, 'c-1 to have received the last message sent to it');
  refusing.send({
    type: 'nack',
    revision: last.revision,
    nonce: last.nonce,
    error: 'listener port in use',
    errors: [],
  });
  // And every later one: a revision made while these tests run (a sweep on a loaded machine) is refused too, so that
  // c-1 stays NACKED instead of turning STALE until it answers.
  refusing.ws.on('message', (raw) => {
    const message = JSON.parse(String(raw)) as { revision?: number; nonce?: string };
    if (typeof message.nonce !== 'string' || typeof message.revision !== 'number') return;
    refusing.send({
      type: 'nack',
      revision: message.revision,
      nonce: message.nonce,
      error: 'listener port in use',
      errors: [],
    });
  });
  await eventually(
    async () => ((await proxyStatus(plane, 'service-c', 'c-1'))?.status === 'NACKED' ? true : undefined),
    'c-1 NACKED',
  );
});

afterAll(async () => {
  await synced?.close().catch(() => undefined);
  await refusing?.close().catch(() => undefined);
  await plane?.stop();
});

describe('trellis get', () => {
  it('prints an aligned table by default', async () => {
    const res = await cli(['get', 'services']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const lines = res.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME {8}PROTOCOL {3}PORT {3}DEPENDENCIES {3}LABELS {10}VERSION {3}AGE$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual([
      'ingress',
      'service-a',
      'service-b',
      'service-c',
    ]);
    // Every column starts at the same offset on every line.
    const at = lines[0]?.indexOf('PORT');
    expect(lines.every((l) => l.slice(at).match(/^(PORT|8080)/))).toBe(true);
    expect(lines[4]).toMatch(/^service-c {3}http {7}8080 {3}<none> {9}tier=data {7}1 {9}\d+s$/);

    const routes = await cli(['get', 'routes']);
    expect(routes.stdout).toMatch(/\nservice-b-canary +service-b +100 +version=v1:90 version=v2:10 +2000ms /);
    const policies = await cli(['get', 'policies']);
    expect(policies.stdout).toMatch(
      /\nservice-c-defaults +service-c +<all> +least_request +3×5xx eject 10s +1 /,
    );
  });

  it('-o yaml and -o json print manifests that apply takes back unchanged', async () => {
    const yaml = await cli(['get', 'routes', '-o', 'yaml']);
    expect(yaml.code).toBe(0);
    const docs = parseAllDocuments(yaml.stdout).map((d) => d.toJS());
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual([
      'RouteRule/service-b-canary',
      'RouteRule/service-c-retries',
    ]);
    expect(docs[0]).toMatchObject({
      apiVersion: 'trellis.dev/v1',
      metadata: { name: 'service-b-canary', version: 1 },
      spec: {
        service: 'service-b',
        destinations: [
          { subset: { version: 'v1' }, weight: 90 },
          { subset: { version: 'v2' }, weight: 10 },
        ],
      },
    });
    expect(docs[0].spec.name).toBeUndefined();
    expect(docs[0].spec.id).toBeUndefined();

    const json = await cli(['get', 'service', 'service-b', '-o', 'json']);
    expect(JSON.parse(json.stdout)).toEqual({
      apiVersion: 'trellis.dev/v1',
      kind: 'Service',
      metadata: { name: 'service-b', version: 1 },
      spec: {
        protocol: 'http',
        port: 8080,
        labels: { tier: 'backend' },
        description: 'Calls service-c; v1 and a v2 canary',
        dependencies: ['service-c'],
      },
    });

    const back = await trellis(['apply', '-f', '-'], {
      env: { TRELLIS_SERVER: plane.url, TRELLIS_TOKEN: TEST_ADMIN_TOKEN },
      input: yaml.stdout,
    });
    expect(back).toEqual({
      code: 0,
      stdout: 'routerule/service-b-canary unchanged\nrouterule/service-c-retries unchanged\n',
      stderr: '',
    });
  });

  it("a name that does not exist exits 1 with the server's code", async () => {
    const res = await cli(['get', 'policies', 'nope']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^error: TRELLIS_ERR_NOT_FOUND: /);
  });

  it('lists proxies and revisions', async () => {
    const res = await cli(['get', 'proxies', '-o', 'json']);
    const items = JSON.parse(res.stdout);
    expect(items.map((p: any) => `${p.node.service}/${p.node.instance}:${p.status}`)).toEqual([
      'service-b/b-v2-1:SYNCED',
      'service-c/c-1:NACKED',
    ]);
    const revisions = await cli(['get', 'revisions']);
    expect(revisions.stdout.split('\n')[0]).toMatch(/^REVISION +KIND +ACTOR +AGE +SUMMARY$/);
    expect(revisions.stdout).toMatch(/\n1 +config +system:seed +\d+s +create service ingress\n/);
    const one = await cli(['get', 'revisions', '5', '-o', 'yaml']);
    expect(parse(one.stdout)).toMatchObject({
      revision: 5,
      kind: 'config',
      summary: 'create route service-b-canary',
    });
  });
});

describe('trellis describe and proxy-status', () => {
  it('describe service shows the spec, endpoints with health, routes, policies and proxies', async () => {
    const res = await cli(['describe', 'service', 'service-b']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const out = res.stdout;
    expect(out).toMatch(/^Name: +service-b\n/);
    expect(out).toMatch(/\nDependencies: +service-c\n/);
    expect(out).toMatch(
      /\nEndpoints:\n {2}ADDRESS +HEALTH +LABELS .*\n {2}10\.0\.2\.2:9202 +healthy +version=v2 +- +1 +proxy /,
    );
    expect(out).toMatch(
      /\nRoutes:\n {2}NAME .*\n {2}service-b-canary +service-b +100 +version=v1:90 version=v2:10/,
    );
    expect(out).toMatch(/\nPolicies:\n {2}<none>\n/);
    expect(out).toMatch(
      /\nProxies:\n {2}SERVICE .*\n {2}service-b +b-v2-1 +10\.0\.2\.2:9202 +SYNCED +\d+ +\d+\s*\n$/,
    );

    const c = await cli(['describe', 'service', 'service-c']);
    expect(c.stdout).toMatch(/\nPolicies:\n {2}NAME .*\n {2}service-c-defaults +service-c/);
  });

  it("proxy-status shows each proxy's sync status and last error", async () => {
    const res = await cli(['proxy-status']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const lines = res.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^SERVICE +INSTANCE +ADDRESS +STATUS +ACKED +CURRENT +LAST ERROR$/);
    expect(lines[1]).toMatch(/^service-b +b-v2-1 +10\.0\.2\.2:9202 +SYNCED +\d+ +\d+$/);
    expect(lines[2]).toMatch(
      /^service-c +c-1 +10\.0\.3\.1:9301 +NACKED +- +\d+ +revision \d+: listener port in use$/,
    );
    const only = await cli(['proxy-status', 'service-c', '-o', 'json']);
    expect(JSON.parse(only.stdout).map((p: any) => p.node.instance)).toEqual(['c-1']);
  });
});

describe('trellis rollback', () => {
  it('restores the configuration of an earlier revision and lists what it changed', async () => {
    const before = (await getJson(`${plane.url}/api/v1/revisions?limit=1`)).body.items[0].revision;
    const current = await getJson(`${plane.url}/api/v1/routes/service-b-canary`);
    const { id: _i, createdAt: _c, updatedAt: _u, ...spec } = current.body;
    const put = await sendJson('PUT', `${plane.url}/api/v1/routes/service-b-canary`, {
      ...spec,
      destinations: [
        { subset: { version: 'v1' }, weight: 50 },
        { subset: { version: 'v2' }, weight: 50 },
      ],
    });
    expect(put.status).toBe(200);

    const res = await cli(['rollback', String(before)]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(
      `rolled back to the configuration of revision ${before} (revision ${before + 2})\nrouterule/service-b-canary configured\n`,
    );
    const weights = (await getJson(`${plane.url}/api/v1/routes/service-b-canary`)).body.destinations.map(
      (d: { weight: number }) => d.weight,
    );
    expect(weights).toEqual([90, 10]);

    const again = await cli(['rollback', String(before)]);
    expect(again.stdout).toBe(`the configuration already matches revision ${before}; nothing changed\n`);

    const missing = await cli(['rollback', '99999']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: TRELLIS_ERR_NOT_FOUND: /);
  });
});

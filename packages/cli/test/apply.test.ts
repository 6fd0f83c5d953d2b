/**
 * `trellis apply` and `trellis diff` end to end: the real CLI as a child process against a real control plane
 * (seeded with the demo mesh) on a real Postgres database, with a fake proxy joined so that a dry run has proxies
 * to name.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../../../apps/control/src/server.ts';
import { TEST_ADMIN_TOKEN } from '../../../apps/control/test/support/api.ts';
import { createDatabase } from '../../../apps/control/test/support/db.ts';
import {
  FakeProxy,
  getJson,
  sendJson,
  startPlane,
  streamUrl,
} from '../../../apps/control/test/support/proxy-client.ts';
import { EXAMPLES, type Result, tempDir, trellis } from './support/cli.ts';

let plane: ControlPlane;
let proxy: FakeProxy;
let temp: Awaited<ReturnType<typeof tempDir>>;

function cli(args: string[], input?: string): Promise<Result> {
  return trellis(args, {
    env: { TRELLIS_SERVER: plane.url, TRELLIS_TOKEN: TEST_ADMIN_TOKEN },
    ...(input === undefined ? {} : { input }),
  });
}

async function currentRevision(): Promise<number> {
  const page = await getJson(`${plane.url}/api/v1/revisions?limit=1`);
  return page.body.items[0].revision;
}

async function canaryWeights(): Promise<number[]> {
  const route = await getJson(`${plane.url}/api/v1/routes/service-b-canary`);
  return route.body.destinations.map((d: { weight: number }) => d.weight);
}

/** examples/routes.yaml with the canary's weights changed. */
async function canaryFile(v1: number, v2: number, name = `canary-${v1}-${v2}.yaml`): Promise<string> {
  const text = (await readFile(path.join(EXAMPLES, 'routes.yaml'), 'utf8'))
    .replace('weight: 90', `weight: ${v1}`)
    .replace('weight: 10', `weight: ${v2}`);
  expect(text).toContain(`weight: ${v2}`);
  const file = path.join(temp.dir, name);
  await writeFile(file, text);
  return file;
}

const ALL_UNCHANGED = [
  'service/ingress unchanged',
  'service/service-a unchanged',
  'service/service-b unchanged',
  'service/service-c unchanged',
  'routerule/service-b-canary unchanged',
  'routerule/service-c-retries unchanged',
  'trafficpolicy/service-c-defaults unchanged',
  '',
].join('\n');

beforeAll(async () => {
  temp = await tempDir('apply');
  plane = await startPlane(await createDatabase('cli_apply'));
  proxy = await FakeProxy.join(streamUrl(plane), { service: 'service-a', instance: 'a-1' });
  const { data } = await proxy.snapshot();
  proxy.ack(data);
});

afterAll(async () => {
  await proxy?.close().catch(() => undefined);
  await plane?.stop();
  await temp?.remove();
});

describe('trellis apply', () => {
  it('applying examples/ to the freshly seeded mesh changes nothing', async () => {
    const before = await currentRevision();
    const res = await cli(['apply', '-f', 'examples/']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(ALL_UNCHANGED);
    expect(await currentRevision()).toBe(before);

    const diff = await cli(['diff', '-f', 'examples']);
    expect(diff).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('--dry-run prints the diff and the proxies reached, and changes nothing', async () => {
    const file = await canaryFile(70, 30);
    const before = await currentRevision();
    const res = await cli(['apply', '--dry-run', '-f', file]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const lines = res.stdout.split('\n');
    expect(lines[0]).toBe('routerule/service-b-canary configured (dry run)');
    expect(lines[1]).toBe('--- routerule/service-b-canary (live, version 1)');
    expect(lines[2]).toBe('+++ routerule/service-b-canary (manifest)');
    expect(lines).toContain('-      weight: 90');
    expect(lines).toContain('+      weight: 70');
    expect(lines).toContain('-      weight: 10');
    expect(lines).toContain('+      weight: 30');
    expect(res.stdout).not.toContain('\x1b[');
    // service-b's route reaches service-b's proxies and those of service-a, which lists it as a dependency.
    expect(lines).toContain('  services in scope: service-a, service-b');
    expect(lines).toContain('  proxies affected: service-a/a-1 (SYNCED)');
    expect(lines).toContain('routerule/service-c-retries unchanged (dry run)');
    expect(await canaryWeights()).toEqual([90, 10]);
    expect(await currentRevision()).toBe(before);
  });

  it("applies an AuthorizationPolicy: dry run names its destination's proxies, then created, unchanged, listed", async () => {
    const file = path.join(temp.dir, 'authz.yaml');
    await writeFile(
      file,
      [
        'apiVersion: trellis.dev/v1',
        'kind: AuthorizationPolicy',
        'metadata: { name: a-may-call-b }',
        'spec:',
        '  destination: service-a',
        '  action: allow',
        '  rules:',
        '    - from: [{ principal: "service:ingress" }]',
        '      to: [{ methods: [GET], paths: ["/*"] }]',
        '  dryRun: true',
        '',
      ].join('\n'),
    );
    const dry = await cli(['apply', '--dry-run', '-f', file]);
    expect(dry.code).toBe(0);
    const lines = dry.stdout.split('\n');
    expect(lines[0]).toBe('authorizationpolicy/a-may-call-b created (dry run)');
    // Enforced by the destination's own proxies only.
    expect(lines).toContain('  services in scope: service-a');
    expect(lines).toContain('  proxies affected: service-a/a-1 (SYNCED)');

    expect((await cli(['apply', '-f', file])).stdout).toMatch(
      /^authorizationpolicy\/a-may-call-b created \(revision \d+\)\n$/,
    );
    expect((await cli(['apply', '-f', file])).stdout).toBe('authorizationpolicy/a-may-call-b unchanged\n');
    const table = await cli(['get', 'authorizationpolicies']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/a-may-call-b\s+service-a\s+allow\s+1\s+dry-run\s+1\s/);
    const yaml = await cli(['get', 'authz', 'a-may-call-b', '-o', 'yaml']);
    expect(yaml.stdout).toContain('kind: AuthorizationPolicy');
    expect(yaml.stdout).toContain('principal: service:ingress');
    const deleted = await sendJson('DELETE', `${plane.url}/api/v1/authorization-policies/a-may-call-b`);
    expect(deleted.status).toBe(204);
  });

  it('diff exits 1 with a unified diff when the manifests differ from the mesh', async () => {
    const file = await canaryFile(70, 30);
    const res = await cli(['diff', '-f', file]);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe('');
    expect(res.stdout).toMatch(
      /^--- routerule\/service-b-canary \(live, version 1\)\n\+\+\+ .*\n@@ -\d+,\d+ \+\d+,\d+ @@\n/,
    );
    expect(res.stdout).not.toContain('unchanged');
  });

  it('applies changed weights ("configured"), then is idempotent ("unchanged")', async () => {
    const file = await canaryFile(80, 20);
    const before = await currentRevision();
    const first = await cli(['apply', '-f', file]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toBe(
      `routerule/service-b-canary configured (revision ${before + 1})\nrouterule/service-c-retries unchanged\n`,
    );
    expect(await canaryWeights()).toEqual([80, 20]);
    // The proxy whose scope holds service-b is sent the new weights.
    await proxy.waitForView(
      (v) => v.routes.find((r) => r.name === 'service-b-canary')?.destinations[0]?.weight === 80,
      'the new canary weights at the proxy',
    );

    const second = await cli(['apply', '-f', file]);
    expect(second).toEqual({
      code: 0,
      stdout: 'routerule/service-b-canary unchanged\nrouterule/service-c-retries unchanged\n',
      stderr: '',
    });
    expect(await currentRevision()).toBe(before + 1);

    const back = await cli(['apply', '-f', path.join(EXAMPLES, 'routes.yaml')]);
    expect(back.code).toBe(0);
    expect(back.stdout).toContain('routerule/service-b-canary configured');
    expect(await canaryWeights()).toEqual([90, 10]);
  });

  it('creates services before the routes and policies that refer to them, from YAML, JSON and stdin', async () => {
    const file = path.join(temp.dir, 'new.yaml');
    // The route comes first in the file; apply still creates the service first.
    await writeFile(
      file,
      [
        'apiVersion: trellis.dev/v1',
        'kind: RouteRule',
        'metadata: { name: service-d-route }',
        'spec:',
        '  service: service-d',
        '  timeoutMs: 3000',
        '---',
        'apiVersion: trellis.dev/v1',
        'kind: Service',
        'metadata: { name: service-d }',
        'spec: { port: 9090, dependencies: [] }',
        '',
      ].join('\n'),
    );
    const res = await cli(['apply', '-f', file]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(
      /^service\/service-d created \(revision \d+\)\nrouterule\/service-d-route created \(revision \d+\)\n$/,
    );
    expect((await getJson(`${plane.url}/api/v1/routes/service-d-route`)).body.timeoutMs).toBe(3000);

    const json = JSON.stringify([
      {
        apiVersion: 'trellis.dev/v1',
        kind: 'TrafficPolicy',
        metadata: { name: 'service-d-policy' },
        spec: { service: 'service-d', loadBalancer: { type: 'round_robin' } },
      },
    ]);
    const jsonFile = path.join(temp.dir, 'policy.json');
    await writeFile(jsonFile, json);
    const created = await cli(['apply', '-f', jsonFile]);
    expect(created.stdout).toMatch(/^trafficpolicy\/service-d-policy created \(revision \d+\)\n$/);
    const piped = await cli(['apply', '-f', '-'], json);
    expect(piped).toEqual({ code: 0, stdout: 'trafficpolicy/service-d-policy unchanged\n', stderr: '' });
  });

  it('an invalid manifest exits 3 naming file, document and field, and applies nothing', async () => {
    const file = path.join(temp.dir, 'bad.yaml');
    await writeFile(
      file,
      [
        'apiVersion: trellis.dev/v1',
        'kind: Service',
        'metadata: { name: never-created }',
        'spec: { port: 80 }',
        '---',
        'apiVersion: trellis.dev/v1',
        'kind: RouteRule',
        'metadata: { name: service-b-canary }',
        'spec:',
        '  service: service-b',
        '  destinations:',
        '    - { subset: { version: v1 }, weight: 90 }',
        '    - { subset: { version: v2 }, weight: 20 }',
        '',
      ].join('\n'),
    );
    const before = await currentRevision();
    const res = await cli(['apply', '-f', file]);
    expect(res.code).toBe(3);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe(
      `error: ${file}: document 2 (RouteRule service-b-canary): spec.destinations: weights must sum to 100, got 110\n`,
    );
    expect(await currentRevision()).toBe(before);
    expect((await getJson(`${plane.url}/api/v1/services/never-created`)).status).toBe(404);

    const diff = await cli(['diff', '-f', file]);
    expect(diff.code).toBe(3);
  });

  it('a server refusal exits 1 with the problem code and field path', async () => {
    const file = path.join(temp.dir, 'orphan.yaml');
    await writeFile(
      file,
      'apiVersion: trellis.dev/v1\nkind: RouteRule\nmetadata: { name: orphan }\nspec: { service: no-such-service }\n',
    );
    const res = await cli(['apply', '-f', file]);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe(
      'error: routerule/orphan: TRELLIS_ERR_UNKNOWN_REFERENCE: service: service "no-such-service" does not exist\n',
    );
  });

  it('a manifest read at an older version is refused with exit 5 (conflict), not applied', async () => {
    const read = await cli(['get', 'routes', 'service-c-retries', '-o', 'yaml']);
    expect(read.code).toBe(0);
    expect(read.stdout).toMatch(/metadata:\n {2}name: service-c-retries\n {2}version: 1\n/);
    // Someone else changes the route after it was read.
    const current = await getJson(`${plane.url}/api/v1/routes/service-c-retries`);
    const { id: _i, createdAt: _c, updatedAt: _u, ...spec } = current.body;
    expect(
      (await sendJson('PUT', `${plane.url}/api/v1/routes/service-c-retries`, { ...spec, timeoutMs: 1400 }))
        .status,
    ).toBe(200);

    const file = path.join(temp.dir, 'stale.yaml');
    await writeFile(file, read.stdout.replace('timeoutMs: 1500', 'timeoutMs: 1600'));
    const res = await cli(['apply', '-f', file]);
    expect(res.code).toBe(5);
    expect(res.stderr).toContain('error: routerule/service-c-retries: TRELLIS_ERR_VERSION_CONFLICT:');
    expect((await getJson(`${plane.url}/api/v1/routes/service-c-retries`)).body.timeoutMs).toBe(1400);

    // Without metadata.version apply replaces whatever version it reads.
    const fresh = await cli(['apply', '-f', path.join(EXAMPLES, 'routes.yaml')]);
    expect(fresh.code).toBe(0);
    expect(fresh.stdout).toContain('routerule/service-c-retries configured');
  });
});

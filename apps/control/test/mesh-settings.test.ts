/**
 * Mesh settings: the mesh-wide mutual TLS mode and `http.mergeSlashes`. Changed by an admin only, with optimistic
 * versions; each change is an audited revision whose slice carries the settings to every proxy (a real proxy
 * switches its mode, and merges "//admin" into "/admin" once slashes are merged); a rollback to a revision before
 * it restores the settings before it, and needs an admin too. A PUT that leaves `http` out (a client that predates
 * it) keeps the mesh's.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TrellisProxy } from '@trellis/proxy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../src/server.ts';
import { json } from '../src/store/change.ts';
import { bearer } from './support/api.ts';
import { createDatabase } from './support/db.ts';
import { type MeshProxy, startMeshProxy } from './support/mesh-proxy.ts';
import {
  eventually,
  FakeProxy,
  getJson,
  JOIN_TOKEN,
  sendJson,
  startPlane,
  streamUrl,
} from './support/proxy-client.ts';

let plane: ControlPlane;
let mesh: MeshProxy | undefined;
const url = (path: string) => `${plane.url}/api/v1${path}`;

/** The mesh's revision now. */
async function latestRevision(): Promise<number> {
  return (await getJson(url('/revisions?limit=1'))).body.items[0].revision as number;
}

/** An HTTP upstream on 127.0.0.1 port 0 that answers with the request target it was sent. */
async function startEcho(): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(req.url);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** GETs `target` through the proxy's "out" listener for `host`: what the upstream was sent, or the status. */
function targetThrough(proxy: TrellisProxy, host: string, target: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(
        { host: '127.0.0.1', port: proxy.address('out')?.port, path: target, headers: { host } },
        (res) => {
          let text = '';
          res.on('data', (c) => {
            text += c;
          });
          res.on('end', () => resolve(res.statusCode === 200 ? text : `${res.statusCode}`));
        },
      )
      .on('error', reject);
  });
}

async function tokenFor(role: 'viewer' | 'editor'): Promise<Record<string, string>> {
  const created = await sendJson('POST', url('/tokens'), { name: `settings-${role}`, role });
  return bearer(created.body.token as string);
}

beforeAll(async () => {
  plane = await startPlane(await createDatabase('settings'), { seed: false });
  await sendJson('POST', url('/services'), { name: 'shop', port: 8080 });
});

afterAll(async () => {
  await mesh?.stop();
  await plane?.stop();
});

describe('mesh settings', () => {
  it('start permissive; bad input, stale versions and non-admins are refused; an admin change is a revision', async () => {
    const initial = await getJson(url('/mesh/settings'));
    expect(initial.status).toBe(200);
    expect(initial.body).toMatchObject({
      mtls: { mode: 'permissive' },
      http: { mergeSlashes: false },
      version: 1,
    });

    const bad = await sendJson('PUT', url('/mesh/settings'), { mtls: { mode: 'sometimes' }, version: 1 });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([
      { path: 'mtls.mode', message: 'must be "off", "permissive" or "strict"' },
    ]);
    const noVersion = await sendJson('PUT', url('/mesh/settings'), { mtls: { mode: 'strict' } });
    expect(noVersion.status).toBe(400);
    expect(noVersion.body.errors.map((e: { path: string }) => e.path)).toEqual(['version']);

    for (const role of ['viewer', 'editor'] as const) {
      const auth = await tokenFor(role);
      expect((await getJson(url('/mesh/settings'), auth)).status).toBe(200);
      const put = await sendJson(
        'PUT',
        url('/mesh/settings'),
        { mtls: { mode: 'strict' }, version: 1 },
        auth,
      );
      expect(put.status).toBe(403);
    }

    const changed = await sendJson('PUT', url('/mesh/settings'), { mtls: { mode: 'strict' }, version: 1 });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ mtls: { mode: 'strict' }, version: 2 });
    const stale = await sendJson('PUT', url('/mesh/settings'), { mtls: { mode: 'off' }, version: 1 });
    expect(stale.status).toBe(409);
    expect(stale.body.code).toBe('TRELLIS_ERR_VERSION_CONFLICT');
    expect(stale.body.current).toMatchObject({ mtls: { mode: 'strict' }, version: 2 });

    const audit = await getJson(url(`/audit?revision=${changed.revision}`));
    expect(audit.body.items).toEqual([
      expect.objectContaining({
        kind: 'mesh-settings',
        action: 'update',
        resourceName: 'mesh',
        actor: 'token:TRELLIS_ADMIN_TOKEN',
      }),
    ]);
    expect((await getJson(url(`/revisions/${changed.revision}`))).body.snapshot.settings).toEqual({
      mtls: { mode: 'strict' },
      http: { mergeSlashes: false },
    });
    // Unchanged settings make no revision.
    const same = await sendJson('PUT', url('/mesh/settings'), { mtls: { mode: 'strict' }, version: 2 });
    expect(same.status).toBe(200);
    expect(same.revision).toBe(changed.revision);
  });

  it('every proxy is sent the mode, a real proxy switches to it, and a rollback restores the one before', async () => {
    const current = (await getJson(url('/mesh/settings'))).body;
    const fake = await FakeProxy.join(
      streamUrl(plane),
      { service: 'shop', instance: 'fake-1', port: 19001 },
      { token: JOIN_TOKEN },
    );
    const first = await fake.snapshot();
    expect(first.data.slice.mtls).toEqual({ mode: current.mtls.mode });
    fake.ack(first.data);

    mesh = await startMeshProxy(plane, 'shop', 'real-1', { mtls: 'off' });
    const real = mesh.proxy;
    // The mesh's mode replaces the one in the proxy's own file.
    await eventually(
      async () => (real.snapshot.config.mtls.mode === current.mtls.mode ? true : undefined),
      'mesh mode',
    );

    const before = (await getJson(url('/revisions?limit=1'))).body.items[0].revision as number;
    const next = current.mtls.mode === 'off' ? 'permissive' : 'off';
    const put = await sendJson('PUT', url('/mesh/settings'), {
      mtls: { mode: next },
      version: current.version,
    });
    expect(put.status).toBe(200);
    const update = await fake.waitForView((v) => v.mtls?.mode === next, `mode ${next} pushed`);
    expect(update.data.type).toBe('config');
    await eventually(
      async () => (real.snapshot.config.mtls.mode === next ? true : undefined),
      'proxy switched',
    );

    const rolled = await sendJson('POST', url(`/revisions/${before}/rollback`), {});
    expect(rolled.status).toBe(200);
    expect(rolled.body.changes).toEqual([{ kind: 'mesh-settings', name: 'mesh', action: 'update' }]);
    expect((await getJson(url('/mesh/settings'))).body.mtls.mode).toBe(current.mtls.mode);
    await eventually(
      async () => (real.snapshot.config.mtls.mode === current.mtls.mode ? true : undefined),
      'proxy back after rollback',
    );
    await fake.close();
  });

  it('http.mergeSlashes: an admin sets it with the version read; stale, malformed and non-admin PUTs are refused; a PUT without it keeps it', async () => {
    const current = (await getJson(url('/mesh/settings'))).body;
    expect(current.http).toEqual({ mergeSlashes: false });
    const mtls = current.mtls;

    const bad = await sendJson('PUT', url('/mesh/settings'), {
      mtls,
      http: { mergeSlashes: 'yes' },
      version: current.version,
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([{ path: 'http.mergeSlashes', message: 'must be true or false' }]);
    const unknown = await sendJson('PUT', url('/mesh/settings'), {
      mtls,
      http: { mergeSlashes: true, mergeDots: true },
      version: current.version,
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors.map((e: { path: string }) => e.path)).toEqual(['http.mergeDots']);
    const editor = await sendJson(
      'PUT',
      url('/mesh/settings'),
      { mtls, http: { mergeSlashes: true }, version: current.version },
      await tokenFor('editor'),
    );
    expect(editor.status).toBe(403);

    const on = await sendJson('PUT', url('/mesh/settings'), {
      mtls,
      http: { mergeSlashes: true },
      version: current.version,
    });
    expect(on.status).toBe(200);
    expect(on.body).toMatchObject({ mtls, http: { mergeSlashes: true }, version: current.version + 1 });
    expect((await getJson(url('/mesh/settings'))).body).toMatchObject({
      http: { mergeSlashes: true },
      version: current.version + 1,
    });
    const stale = await sendJson('PUT', url('/mesh/settings'), {
      mtls,
      http: { mergeSlashes: false },
      version: current.version,
    });
    expect(stale.status).toBe(409);
    expect(stale.body.code).toBe('TRELLIS_ERR_VERSION_CONFLICT');
    expect(stale.body.current).toMatchObject({ http: { mergeSlashes: true }, version: current.version + 1 });

    const audit = await getJson(url(`/audit?revision=${on.revision}`));
    expect(audit.body.items).toEqual([
      expect.objectContaining({
        kind: 'mesh-settings',
        before: expect.objectContaining({ http: { mergeSlashes: false } }),
        after: expect.objectContaining({ http: { mergeSlashes: true } }),
      }),
    ]);
    expect((await getJson(url(`/revisions/${on.revision}`))).body.snapshot.settings).toEqual({
      mtls,
      http: { mergeSlashes: true },
    });

    // A client that predates the setting sends the mode alone: the mesh keeps merging slashes.
    const other = mtls.mode === 'off' ? 'permissive' : 'off';
    const modeOnly = await sendJson('PUT', url('/mesh/settings'), {
      mtls: { mode: other },
      version: current.version + 1,
    });
    expect(modeOnly.status).toBe(200);
    expect(modeOnly.body).toMatchObject({ mtls: { mode: other }, http: { mergeSlashes: true } });
    const back = await sendJson('PUT', url('/mesh/settings'), {
      mtls,
      http: { mergeSlashes: false },
      version: modeOnly.body.version,
    });
    expect(back.status).toBe(200);
    expect(back.body).toMatchObject({ mtls, http: { mergeSlashes: false } });
  });

  it('a proxy on the stream is sent http.mergeSlashes in its next message; a rollback restores it, and only for an admin', async () => {
    const current = (await getJson(url('/mesh/settings'))).body;
    const fake = await FakeProxy.join(
      streamUrl(plane),
      { service: 'shop', instance: 'fake-2', port: 19002 },
      { token: JOIN_TOKEN },
    );
    const first = await fake.snapshot();
    expect(first.data.slice.http).toEqual({ mergeSlashes: current.http.mergeSlashes });
    fake.ack(first.data);

    const before = await latestRevision();
    const next = !current.http.mergeSlashes;
    const put = await sendJson('PUT', url('/mesh/settings'), {
      mtls: current.mtls,
      http: { mergeSlashes: next },
      version: current.version,
    });
    expect(put.status).toBe(200);
    // Nothing else changed: the settings alone make the configuration differ, and it is pushed.
    const update = await fake.waitForView(
      (v) => v.http?.mergeSlashes === next,
      `mergeSlashes ${next} pushed`,
    );
    expect(update.data.type).toBe('config');
    expect(update.data.revision).toBe(put.revision);
    fake.ack(update.data);

    // Rolling back past the change is a settings change: an editor may not make it, and nothing changes.
    const now = await latestRevision();
    const refused = await sendJson(
      'POST',
      url(`/revisions/${before}/rollback`),
      { expectedRevision: now },
      await tokenFor('editor'),
    );
    expect(refused.status).toBe(403);
    expect(refused.body.detail).toMatch(/mesh-settings/);
    expect(refused.body.detail).toMatch(/admin role/);
    expect((await getJson(url('/mesh/settings'))).body.http).toEqual({ mergeSlashes: next });
    expect(await latestRevision()).toBe(now);

    const rolled = await sendJson('POST', url(`/revisions/${before}/rollback`), { expectedRevision: now });
    expect(rolled.status).toBe(200);
    expect(rolled.body.changes).toEqual([{ kind: 'mesh-settings', name: 'mesh', action: 'update' }]);
    expect((await getJson(url('/mesh/settings'))).body).toMatchObject({
      mtls: current.mtls,
      http: current.http,
      version: current.version + 2,
    });
    await fake.waitForView(
      (v) => v.http?.mergeSlashes === current.http.mergeSlashes,
      'mergeSlashes restored by the rollback',
    );
    await fake.close();
  });

  it("a rollback to a revision stored before http.mergeSlashes existed keeps the mesh's", async () => {
    const current = (await getJson(url('/mesh/settings'))).body;
    const old = await latestRevision();
    const on = await sendJson('PUT', url('/mesh/settings'), {
      mtls: current.mtls,
      http: { mergeSlashes: true },
      version: current.version,
    });
    expect(on.status).toBe(200);
    await sendJson('POST', url('/services'), { name: 'later', port: 8080 });
    // As a control plane before the setting stored it: the snapshot's settings without `http`.
    const row = await plane.db.revision.findUniqueOrThrow({ where: { revision: old } });
    const snapshot = row.snapshot as { settings: Record<string, unknown> };
    const { http: _h, ...settings } = snapshot.settings;
    await plane.db.revision.update({
      where: { revision: old },
      data: { snapshot: json({ ...snapshot, settings }) },
    });

    const rolled = await sendJson('POST', url(`/revisions/${old}/rollback`), {});
    expect(rolled.status).toBe(200);
    expect(rolled.body.changes).toEqual([]);
    expect(rolled.body.kept).toContain('later');
    expect((await getJson(url('/mesh/settings'))).body).toMatchObject({
      http: { mergeSlashes: true },
      version: current.version + 1,
    });
    const off = await sendJson('PUT', url('/mesh/settings'), {
      mtls: current.mtls,
      http: { mergeSlashes: false },
      version: current.version + 1,
    });
    expect(off.status).toBe(200);
  });

  it('a real proxy forwards "//admin" as it came until an admin turns mergeSlashes on, then as "/admin"', async () => {
    const echo = await startEcho();
    let web: MeshProxy | undefined;
    try {
      await sendJson('POST', url('/services'), { name: 'web', port: 8080 });
      await sendJson('POST', url('/services'), { name: 'paths', port: 8080 });
      const endpoint = await sendJson('POST', url('/services/paths/endpoints'), {
        address: '127.0.0.1',
        port: echo.port,
        source: 'static',
      });
      expect(endpoint.status).toBe(201);
      const current = (await getJson(url('/mesh/settings'))).body;
      expect(current.http.mergeSlashes).toBe(false);

      web = await startMeshProxy(plane, 'web', 'web-1');
      const proxy = web.proxy;
      // Off: the target is normalised (dot segments) but its slashes reach the app as they came.
      await eventually(
        async () => ((await targetThrough(proxy, 'paths', '//admin')) === '//admin' ? true : undefined),
        'the proxy routes to paths',
      );
      expect(await targetThrough(proxy, 'paths', '/a//b/./c?x=//y')).toBe('/a//b/c?x=//y');

      const put = await sendJson('PUT', url('/mesh/settings'), {
        mtls: current.mtls,
        http: { mergeSlashes: true },
        version: current.version,
      });
      expect(put.status).toBe(200);
      await eventually(
        async () => (proxy.snapshot.config.http.mergeSlashes ? true : undefined),
        'the proxy has mergeSlashes on',
      );
      expect(await targetThrough(proxy, 'paths', '//admin')).toBe('/admin');
      // The query is passed on as it came.
      expect(await targetThrough(proxy, 'paths', '/a//b/./c?x=//y')).toBe('/a/b/c?x=//y');
    } finally {
      await web?.stop();
      await echo.close();
    }
  });
});

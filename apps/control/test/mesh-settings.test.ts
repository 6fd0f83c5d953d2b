/**
 * Mesh settings: the mesh-wide mutual TLS mode. Changed by an admin only, with optimistic versions; each change
 * is an audited revision whose slice carries the mode to every proxy (a real proxy switches to it); a rollback to
 * a revision before it restores the mode before it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../src/server.ts';
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
    expect(initial.body).toMatchObject({ mtls: { mode: 'permissive' }, version: 1 });

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
});

/**
 * M8 §4: a rollback needs the role each change it makes would need on its own. The attack: an editor, who may
 * not change the mesh-wide mTLS mode, rolls back to a revision before an admin made it strict, and so makes it
 * permissive again. Refused 403 naming the setting and the role, with nothing changed; an admin's same rollback
 * goes through, and an editor may still roll back changes an editor could make.
 */
import { ConfigResourceKind } from '@trellis/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registeredRoutes } from '../../src/auth/guard.ts';
import { CHANGE_ROLES } from '../../src/auth/roles.ts';
import { call } from '../support/api.ts';
import { type TestControl, testControl } from '../support/db.ts';

let t: TestControl;
let editor: string;

async function revision(): Promise<number> {
  return (await t.db.meshState.findUniqueOrThrow({ where: { id: 1 } })).revision;
}

async function mode(): Promise<string> {
  return (await call(t.app, 'GET', '/api/v1/mesh/settings')).body.mtls.mode;
}

beforeAll(async () => {
  t = await testControl();
  const created = await call(t.app, 'POST', '/api/v1/tokens', { name: 'an-editor', role: 'editor' });
  expect(created.status).toBe(201);
  editor = created.body.token;
});
afterAll(async () => {
  await t.close();
});

describe('rollback and roles', () => {
  it('an editor cannot roll the mTLS mode back from strict to permissive; an admin can', async () => {
    expect((await call(t.app, 'POST', '/api/v1/services', { name: 'shop', port: 80 })).status).toBe(201);
    const beforeStrict = await revision();
    const settings = await call(t.app, 'GET', '/api/v1/mesh/settings');
    const strict = await call(t.app, 'PUT', '/api/v1/mesh/settings', {
      mtls: { mode: 'strict' },
      version: settings.body.version,
    });
    expect(strict.status, JSON.stringify(strict.body)).toBe(200);
    // The editor cannot make the change itself ...
    const direct = await call(
      t.app,
      'PUT',
      '/api/v1/mesh/settings',
      { mtls: { mode: 'permissive' }, version: strict.body.version },
      { token: editor },
    );
    expect(direct.status).toBe(403);
    // ... nor by rolling back to before it.
    const now = await revision();
    const audit = await t.db.auditEntry.count();
    const refused = await call(
      t.app,
      'POST',
      `/api/v1/revisions/${beforeStrict}/rollback`,
      { expectedRevision: now },
      { token: editor },
    );
    expect(refused.status, JSON.stringify(refused.body)).toBe(403);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(refused.body.code).toBe('TRELLIS_ERR_FORBIDDEN');
    expect(refused.body.detail).toMatch(/mesh-settings/);
    expect(refused.body.detail).toMatch(/admin role/);
    expect(refused.body.detail).toMatch(/token "an-editor" has editor/);
    expect(await mode()).toBe('strict');
    expect(await revision()).toBe(now);
    expect(await t.db.auditEntry.count()).toBe(audit);

    const done = await call(t.app, 'POST', `/api/v1/revisions/${beforeStrict}/rollback`, {
      expectedRevision: now,
    });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body.changes).toContainEqual({ kind: 'mesh-settings', name: 'mesh', action: 'update' });
    expect(await mode()).toBe('permissive');
  });

  it('an editor still rolls back what an editor may change', async () => {
    const before = await revision();
    expect((await call(t.app, 'POST', '/api/v1/routes', { name: 'r1', service: 'shop' })).status).toBe(201);
    const undone = await call(t.app, 'POST', `/api/v1/revisions/${before}/rollback`, undefined, {
      token: editor,
    });
    expect(undone.status, JSON.stringify(undone.body)).toBe(200);
    expect(undone.body.changes).toEqual([{ kind: 'route', name: 'r1', action: 'delete' }]);
  });

  it("the role a rollback needs for each kind is the one that kind's own write route declares", () => {
    const writes: Record<ConfigResourceKind, string> = {
      service: 'PUT /api/v1/services/:name',
      route: 'PUT /api/v1/routes/:name',
      policy: 'PUT /api/v1/policies/:name',
      'authorization-policy': 'PUT /api/v1/authorization-policies/:name',
      'mesh-settings': 'PUT /api/v1/mesh/settings',
    };
    const routes = registeredRoutes(t.app);
    for (const kind of ConfigResourceKind.options) {
      const route = routes.find((r) => `${r.method} ${r.url}` === writes[kind]);
      expect(route?.access, kind).toBe(CHANGE_ROLES[kind]);
    }
  });
});

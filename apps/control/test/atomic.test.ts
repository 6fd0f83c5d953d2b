/** A change and its revision and audit entries are written together or not at all. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChangeContext, change } from '../src/store/change.ts';
import { call } from './support/api.ts';
import { type TestControl, testControl } from './support/db.ts';

let t: TestControl;
beforeAll(async () => {
  t = await testControl();
});
afterAll(() => t.close());

function insertService(ctx: ChangeContext, name: string) {
  return ctx.tx.service.create({
    data: {
      id: ctx.newId(),
      name,
      protocol: 'http',
      port: 80,
      labels: {},
      description: '',
      createdAt: ctx.now,
      updatedAt: ctx.now,
    },
  });
}

async function counts() {
  const [revisions, audit, services, state] = await Promise.all([
    t.db.revision.count(),
    t.db.auditEntry.count(),
    t.db.service.count(),
    t.db.meshState.findUnique({ where: { id: 1 } }),
  ]);
  return { revisions, audit, services, revision: state?.revision };
}

describe('atomic changes', () => {
  it('a successful change writes the resource, one revision and one audit entry', async () => {
    const before = await counts();
    const res = await call(t.app, 'POST', '/api/v1/services', { name: 'atomic-ok', port: 80 });
    expect(res.status).toBe(201);
    const after = await counts();
    expect(after).toEqual({
      revisions: before.revisions + 1,
      audit: before.audit + 1,
      services: before.services + 1,
      revision: (before.revision ?? 0) + 1,
    });
    const audit = await t.db.auditEntry.findFirst({ orderBy: { id: 'desc' } });
    expect(audit?.revision).toBe(after.revision);
  });

  it('a change that fails after writing leaves neither the write, nor a revision, nor audit', async () => {
    const before = await counts();
    await expect(
      change(t.store, 'tester', async (ctx) => {
        await insertService(ctx, 'half-written');
        ctx.record({
          action: 'create',
          kind: 'service',
          resourceId: 'x',
          resourceName: 'half-written',
          before: null,
          after: {},
        });
        throw new Error('boom after the write');
      }),
    ).rejects.toThrow('boom after the write');
    expect(await counts()).toEqual(before);
    expect(await t.db.service.findUnique({ where: { name: 'half-written' } })).toBeNull();
  });

  it('a failure while writing the audit entry (the last step) rolls back the change too', async () => {
    const before = await counts();
    await expect(
      change(t.store, 'tester', async (ctx) => {
        const row = await insertService(ctx, 'audit-fails');
        // Postgres refuses NUL in text, so the audit insert at the end of the transaction fails.
        ctx.record({
          action: 'create',
          kind: 'service',
          resourceId: row.id,
          resourceName: 'bad\u0000name',
          before: null,
          after: {},
        });
      }),
    ).rejects.toThrow();
    expect(await counts()).toEqual(before);
    expect(await t.db.service.findUnique({ where: { name: 'audit-fails' } })).toBeNull();
  });

  it('a refused request (unknown reference) writes nothing', async () => {
    const before = await counts();
    const res = await call(t.app, 'POST', '/api/v1/routes', { name: 'to-nowhere', service: 'nowhere' });
    expect(res.status).toBe(422);
    expect(await counts()).toEqual(before);
  });
});

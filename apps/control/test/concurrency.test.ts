/** Optimistic concurrency over a real port: stale writers get 409 with the current resource; no update is lost. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer } from './support/api.ts';
import { type TestControl, testControl } from './support/db.ts';

let t: TestControl;
let base: string;
beforeAll(async () => {
  t = await testControl();
  base = `${await t.app.listen({ host: '127.0.0.1', port: 0 })}/api/v1`;
});
afterAll(() => t.close());

async function http(method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? bearer() : { ...bearer(), 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

describe('concurrent writers', () => {
  it('two writers with the same version: exactly one wins, the other gets 409 with the winner', async () => {
    await http('POST', '/services', { name: 'contended', port: 80 });
    const [a, b] = await Promise.all([
      http('PUT', '/services/contended', { name: 'contended', port: 81, version: 1 }),
      http('PUT', '/services/contended', { name: 'contended', port: 82, version: 1 }),
    ]);
    const statuses = [a.status, b.status].sort();
    expect(statuses).toEqual([200, 409]);
    const winner = a.status === 200 ? a : b;
    const loser = a.status === 200 ? b : a;
    expect(loser.body.code).toBe('TRELLIS_ERR_VERSION_CONFLICT');
    expect(loser.body.current).toMatchObject({ version: 2, port: winner.body.port });
    const now = await http('GET', '/services/contended');
    expect(now.body).toMatchObject({ version: 2, port: winner.body.port });
  });

  it('ten writers retrying read-modify-write on 409 lose no update', async () => {
    await http('POST', '/services', { name: 'counter', port: 80, labels: { n: '0' } });
    const writers = 10;
    const increment = async () => {
      for (;;) {
        const current = (await http('GET', '/services/counter')).body;
        const next = {
          name: 'counter',
          port: 80,
          labels: { n: String(Number(current.labels.n) + 1) },
          version: current.version,
        };
        const res = await http('PUT', '/services/counter', next);
        if (res.status === 200) return;
        expect(res.status).toBe(409);
      }
    };
    await Promise.all(Array.from({ length: writers }, increment));
    const final = (await http('GET', '/services/counter')).body;
    expect(final.labels.n).toBe(String(writers));
    expect(final.version).toBe(writers + 1);
    const audit = (await http('GET', '/audit?kind=service&resourceName=counter&limit=100')).body.items;
    expect(audit.filter((e: { action: string }) => e.action === 'update')).toHaveLength(writers);
  });

  it('fifty editors of one route rule: one wins per version, the rest get 409; retrying, no update is lost', async () => {
    await http('POST', '/services', { name: 'edited', port: 80 });
    const created = await http('POST', '/routes', { name: 'edited', service: 'edited', timeoutMs: 1000 });
    expect(created.status).toBe(201);
    const editors = 50;
    // All with the version they read at the start: exactly one of them can win it.
    const stale = await Promise.all(
      Array.from({ length: editors }, (_, i) =>
        http('PUT', '/routes/edited', { name: 'edited', service: 'edited', timeoutMs: 2000 + i, version: 1 }),
      ),
    );
    expect(stale.filter((r) => r.status === 200)).toHaveLength(1);
    expect(stale.filter((r) => r.status === 409)).toHaveLength(editors - 1);
    for (const r of stale.filter((x) => x.status === 409)) expect(r.body.current.version).toBe(2);
    const start = (await http('GET', '/routes/edited')).body as { timeoutMs: number; version: number };
    expect(start.version).toBe(2);

    // Each editor adds 1 ms to the timeout, re-reading after every 409 (staggered, so that fifty do not all
    // collide again at once: that only costs time, it cannot change the outcome).
    const edit = async (i: number) => {
      for (;;) {
        const current = (await http('GET', '/routes/edited')).body;
        const res = await http('PUT', '/routes/edited', {
          name: 'edited',
          service: 'edited',
          timeoutMs: current.timeoutMs + 1,
          version: current.version,
        });
        if (res.status === 200) return;
        expect(res.status).toBe(409);
        await new Promise((resolve) => setTimeout(resolve, (i % 10) * 4));
      }
    };
    await Promise.all(Array.from({ length: editors }, (_, i) => edit(i)));
    const final = (await http('GET', '/routes/edited')).body;
    expect(final.timeoutMs).toBe(start.timeoutMs + editors);
    expect(final.version).toBe(2 + editors);
    const audit = (await http('GET', '/audit?kind=route&resourceName=edited&limit=200')).body.items;
    expect(audit.filter((e: { action: string }) => e.action === 'update')).toHaveLength(editors + 1);
  }, 120_000);

  it('concurrent creates of one name: one 201, the rest 409, one row', async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, () => http('POST', '/services', { name: 'racing', port: 80 })),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(5);
    expect(await t.db.service.count({ where: { name: 'racing' } })).toBe(1);
  });

  it('revisions stay gap-free and in commit order under concurrent changes', async () => {
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => http('POST', '/services', { name: `burst-${i}`, port: 80 })),
    );
    const revisions = await t.db.revision.findMany({
      orderBy: { revision: 'asc' },
      select: { revision: true },
    });
    const numbers = revisions.map((r) => r.revision);
    expect(numbers).toEqual(Array.from({ length: numbers.length }, (_, i) => i + 1));
    const state = await t.db.meshState.findUnique({ where: { id: 1 } });
    expect(state?.revision).toBe(numbers.at(-1));
  });
});

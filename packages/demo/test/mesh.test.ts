import type { ControlPlane } from '@trellis/control';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chainOf, type Mesh } from '../src/index.ts';
import { ADMIN_AUTH, demoOnInProcessControlPlane } from './support/control.ts';
import { alive, descendants } from './support/proc.ts';

let plane: ControlPlane;
let mesh: Mesh;
let demo: Awaited<ReturnType<typeof demoOnInProcessControlPlane>> | undefined;

beforeAll(async () => {
  demo = await demoOnInProcessControlPlane('mesh');
  ({ plane, mesh } = demo);
});

afterAll(async () => {
  await demo?.stop();
});

async function getJson(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any; error: string | null }> {
  const res = await fetch(url, { headers });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text), error: res.headers.get('x-trellis-error') };
}

/** Sum of a counter over all its label sets in a proxy's Prometheus text. */
async function counter(adminUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.split(' ').at(-1));
  }
  return sum;
}

describe('the demo mesh', () => {
  it('answers through the ingress with the whole chain: service-a → service-b → service-c', async () => {
    const { status, body } = await getJson(mesh.ingressUrl as string, { 'x-request-id': 'demo-1' });
    expect(status).toBe(200);
    const chain = chainOf(body);
    expect(chain.map((l) => l.service)).toEqual(['service-a', 'service-b', 'service-c']);
    expect(chain[0]).toMatchObject({ version: 'v1', instance: 'a-1', path: '/' });
    expect(['b-v1-1', 'b-v2-1']).toContain(chain[1]?.instance);
    expect(['c-1', 'c-2', 'c-3']).toContain(chain[2]?.instance);
  });

  it('splits service-b between v1 and v2 by the seeded canary route, and retries hide the flaky c-3', async () => {
    const versions = new Map<string, number>();
    const statuses = new Map<number, number>();
    const failures: unknown[] = [];
    const bSidecars = mesh.instances.filter((i) => i.spec.service === 'service-b');
    let retries = 0;
    let sent = 0;
    // ~100 requests show both versions (v2 has 10 %); keep going (up to 400) until c-3's 500s have been retried.
    while (sent < 100 || (((versions.get('v2') ?? 0) === 0 || retries === 0) && sent < 400)) {
      const batch = await Promise.all(Array.from({ length: 10 }, () => getJson(mesh.ingressUrl as string)));
      sent += batch.length;
      for (const { status, body, error } of batch) {
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status !== 200) failures.push({ status, error, body });
        const b = chainOf(body)[1];
        if (b) versions.set(b.version, (versions.get(b.version) ?? 0) + 1);
      }
      retries = (
        await Promise.all(bSidecars.map((i) => counter(i.adminUrl, 'trellis_retries_total')))
      ).reduce((a, b) => a + b, 0);
    }
    // Without retries about 7 % would fail (c-3 is a third of service-c and fails a fifth of its requests). With
    // them, none fail on a quiet machine; under a loaded CI run the short per-try timeouts have let a few through
    // (4 of 100 once), so the bound is a share well under what no retries would give.
    const failed = sent - (statuses.get(200) ?? 0);
    expect(failed / sent, JSON.stringify(failures.slice(0, 5))).toBeLessThanOrEqual(0.05);
    expect(versions.get('v1') ?? 0).toBeGreaterThan(versions.get('v2') ?? 0);
    expect(versions.get('v2') ?? 0).toBeGreaterThan(0);
    expect(retries).toBeGreaterThan(0);
  });

  it('every instance registered itself through its proxy, with its version label and inbound port', async () => {
    const c = await getJson(`${plane.url}/api/v1/services/service-c/endpoints`, ADMIN_AUTH);
    const inbound = mesh.instances.filter((i) => i.spec.service === 'service-c').map((i) => i.ports.inbound);
    expect(c.body.items).toHaveLength(3);
    expect(c.body.items.map((e: any) => e.port).sort()).toEqual([...inbound].sort());
    for (const e of c.body.items) {
      expect(e).toMatchObject({
        address: '127.0.0.1',
        source: 'proxy',
        health: 'healthy',
        labels: { version: 'v1' },
      });
    }
    const b = await getJson(`${plane.url}/api/v1/services/service-b/endpoints`, ADMIN_AUTH);
    const labelOf = new Map(b.body.items.map((e: any) => [e.port, e.labels.version]));
    for (const i of mesh.instances.filter((x) => x.spec.service === 'service-b')) {
      expect(labelOf.get(i.ports.inbound)).toBe(i.spec.version);
    }
    const ingress = await getJson(`${plane.url}/api/v1/services/ingress/endpoints`, ADMIN_AUTH);
    expect(ingress.body.items.map((e: any) => e.port)).toEqual([mesh.ingress?.ports.listener]);
    const proxies = await getJson(`${plane.url}/api/v1/proxies`, ADMIN_AUTH);
    expect(proxies.body.items.map((p: any) => `${p.node.service}/${p.node.instance}`).sort()).toEqual(
      mesh.proxyKeys().sort(),
    );
  });

  it('a killed app is started again by its supervisor and serves again', async () => {
    const c1 = mesh.instance('c-1');
    const before = c1.app.pid as number;
    const restarted = c1.app.nextReady();
    const exited = new Promise((resolve) => c1.app.once('exit', resolve));
    c1.app.kill('SIGKILL');
    expect(await exited).toMatchObject({ pid: before, signal: 'SIGKILL', expected: false, restartInMs: 250 });
    const after = await restarted;
    expect(after).not.toBe(before);
    expect(alive(before)).toBe(false);
    expect(c1.app.restarts).toBe(1);
    const { status, body } = await getJson(c1.inboundUrl);
    expect(status).toBe(200);
    expect(body).toMatchObject({ service: 'service-c', instance: 'c-1' });
  });

  it('a killed sidecar is started again, rejoins the control plane and the mesh serves through it', async () => {
    const b2 = mesh.instance('b-v2-1');
    const before = b2.sidecar.pid as number;
    const restarted = b2.sidecar.nextReady();
    b2.sidecar.kill('SIGKILL');
    expect(await restarted).not.toBe(before);
    await mesh.waitForSync();
    const { status, body } = await getJson(b2.inboundUrl);
    expect(status).toBe(200);
    expect(chainOf(body).map((l) => l.instance.slice(0, 1))).toEqual(['b', 'c']);
  });

  it('stop() leaves no process running', async () => {
    const pids = mesh.processes().flatMap((p) => p.pids);
    expect(pids.length).toBeGreaterThanOrEqual(15); // 13 processes and the two restarted above
    expect(pids.filter(alive)).toHaveLength(13);
    await mesh.stop();
    expect(pids.filter(alive)).toEqual([]);
    expect(descendants(process.pid).filter((pid) => pids.includes(pid))).toEqual([]);
    for (const p of mesh.processes()) expect(p.state).toBe('stopped');
  });
});

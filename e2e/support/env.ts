/**
 * What every spec needs to reach the stack global-setup.ts started (its addresses come through the environment),
 * to catch a page's errors, and to wait for the demo's proxies and traffic, so the specs share one copy of each.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type APIRequestContext, expect, type Page } from '@playwright/test';
import { ProxyStatusList, RouteRule, Topology } from '@trellis/schema';

/** Where the specs' screenshots land: e2e/artifacts/. */
export const ARTIFACTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../artifacts');

export const artifact = (name: string): string => path.join(ARTIFACTS, name);

export function fromEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run through playwright.config.ts`);
  return value;
}

export const consoleUrl = (pathname: string): string => `${fromEnv('TRELLIS_E2E_CONSOLE_URL')}${pathname}`;
export const controlUrl = (pathname: string): string => `${fromEnv('TRELLIS_E2E_CONTROL_URL')}${pathname}`;

/** The headers of a direct API call: the stack's admin bearer token (a bearer request needs no CSRF header). */
export const apiHeaders = (): Record<string, string> => ({
  authorization: `Bearer ${fromEnv('TRELLIS_E2E_ADMIN_TOKEN')}`,
});

/** Every console error, uncaught exception and failed request of the page, to assert there are none. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('response', (res) => {
    if (res.status() >= 400) errors.push(`${res.status()} ${res.url()}`);
  });
  return errors;
}

/** The mesh revision a change answered with. */
export const revisionOf = (res: { headers(): Record<string, string> }): number =>
  Number(res.headers()['x-trellis-revision']);

/** Waits until every connected proxy has acknowledged `revision` (within `timeout`, else expect's own). */
export async function untilAcked(
  request: APIRequestContext,
  revision: number,
  options: { timeout?: number } = {},
): Promise<void> {
  await expect
    .poll(async () => {
      const { items } = ProxyStatusList.parse(
        await (await request.get(controlUrl('/api/v1/proxies'), { headers: apiHeaders() })).json(),
      );
      return items.every((p) => p.status === 'DISCONNECTED' || (p.ackedRevision ?? 0) >= revision);
    }, options)
    .toBe(true);
}

export async function getRoute(request: APIRequestContext, name: string): Promise<RouteRule> {
  return RouteRule.parse(
    await (await request.get(controlUrl(`/api/v1/routes/${name}`), { headers: apiHeaders() })).json(),
  );
}

/** Replaces the route rule `name`, as it is now (its version included), with `change` of it; the new mesh revision. */
export async function replaceRoute(
  request: APIRequestContext,
  name: string,
  change: (spec: Omit<RouteRule, 'id' | 'createdAt' | 'updatedAt'>) => object,
): Promise<number> {
  const { id: _id, createdAt: _c, updatedAt: _u, ...spec } = await getRoute(request, name);
  const res = await request.put(controlUrl(`/api/v1/routes/${name}`), {
    data: change(spec),
    headers: apiHeaders(),
  });
  expect(res.status()).toBe(200);
  return revisionOf(res);
}

/** `destinations` with each weight taken from `split` by the destination's version label (0 when it has none). */
export const withWeights = (destinations: RouteRule['destinations'], split: Record<string, number>) =>
  destinations.map((d) => ({ ...d, weight: split[d.subset.version ?? ''] ?? 0 }));

/** Which version of service-b answered each of `count` requests sent through the demo's ingress. */
export async function serviceBVersions(count: number): Promise<string[]> {
  const ingress = fromEnv('TRELLIS_E2E_INGRESS_URL');
  const versions: string[] = [];
  for (let i = 0; i < count; i++) {
    const res = await fetch(ingress);
    let link = (await res.json().catch(() => undefined)) as
      | { service?: string; version?: string; downstream?: unknown }
      | undefined;
    while (link && link.service !== 'service-b') link = link.downstream as typeof link;
    if (link?.version) versions.push(link.version);
  }
  return versions;
}

/**
 * Waits until the demo's ingress and service-a are healthy (or degraded) again, after a spec made their calls fail:
 * the specs after it find the chain healthy once the refused calls leave the live window.
 */
export async function untilChainHealthy(request: APIRequestContext): Promise<void> {
  await expect
    .poll(
      async () => {
        const { nodes } = Topology.parse(await (await request.get(controlUrl('/api/v1/topology'))).json());
        return nodes
          .filter((n) => n.service === 'ingress' || n.service === 'service-a')
          .every((n) => n.health === 'healthy' || n.health === 'degraded');
      },
      { timeout: 45_000 },
    )
    .toBe(true);
}

/**
 * What the demo asks of the control plane's REST API: whether it is ready, whether every proxy has caught up
 * (GET /api/v1/proxies), and that the services the demo's proxies register as exist. The demo waits on the control
 * plane's own view rather than guessing with delays: a mesh is ready when every one of its proxies is SYNCED.
 * Every call but the readiness probe sends `token` (an admin API token, TRELLIS_ADMIN_TOKEN) as a bearer token.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ProxyStatus } from '@trellis/schema';

function auth(token: string | undefined): Record<string, string> {
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

async function getJson(url: string, token?: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { headers: auth(token), signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once GET /readyz answers 200; rejects after `timeoutMs` with the last answer or error. */
export async function waitForControlPlane(controlUrl: string, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    try {
      const { status, body } = await getJson(`${controlUrl}/readyz`);
      if (status === 200) return;
      last = `${status} ${JSON.stringify(body)}`;
    } catch (error) {
      last = (error as Error).message;
    }
    if (Date.now() > until)
      throw new Error(`the control plane at ${controlUrl} was not ready within ${timeoutMs} ms: ${last}`);
    await pause(100);
  }
}

/** GET /api/v1/proxies: the proxies connected to this control plane. */
export async function listProxies(controlUrl: string, token?: string): Promise<ProxyStatus[]> {
  const { status, body } = await getJson(`${controlUrl}/api/v1/proxies`, token);
  if (status !== 200) throw new Error(`GET /api/v1/proxies answered ${status}`);
  return (body as { items: ProxyStatus[] }).items;
}

/**
 * Resolves once every named proxy (`service/instance`) is connected and SYNCED, that is, has acknowledged the
 * newest revision, which includes every registration that came before. Rejects after `timeoutMs` with each one's
 * status.
 */
export async function waitForSynced(
  controlUrl: string,
  proxies: readonly string[],
  timeoutMs = 60_000,
  token?: string,
): Promise<ProxyStatus[]> {
  const until = Date.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    try {
      const items = await listProxies(controlUrl, token);
      const byKey = new Map(items.map((p) => [`${p.node.service}/${p.node.instance}`, p]));
      const mine = proxies.map((key) => byKey.get(key));
      if (mine.every((p) => p?.status === 'SYNCED')) return mine as ProxyStatus[];
      last = proxies
        .map(
          (key, i) =>
            `${key}: ${mine[i]?.status ?? 'not connected'} (acked ${mine[i]?.ackedRevision ?? '-'})`,
        )
        .join(', ');
    } catch (error) {
      last = (error as Error).message;
    }
    if (Date.now() > until) throw new Error(`proxies not SYNCED within ${timeoutMs} ms: ${last}`);
    await pause(100);
  }
}

/**
 * Creates those of `services` that do not exist yet (a database seeded by an older Trellis lacks `ingress`), so
 * that every demo proxy can register. Returns the names it created.
 */
export async function ensureServices(
  controlUrl: string,
  services: readonly string[],
  token?: string,
): Promise<string[]> {
  const created: string[] = [];
  for (const name of services) {
    const found = await getJson(`${controlUrl}/api/v1/services/${name}`, token);
    if (found.status === 200) continue;
    if (found.status === 401 || found.status === 403) {
      throw new Error(
        `GET /api/v1/services/${name} answered ${found.status}: the demo needs an editor or admin API token in TRELLIS_ADMIN_TOKEN`,
      );
    }
    if (found.status !== 404) throw new Error(`GET /api/v1/services/${name} answered ${found.status}`);
    const res = await fetch(`${controlUrl}/api/v1/services`, {
      method: 'POST',
      headers: { ...auth(token), 'content-type': 'application/json' },
      body: JSON.stringify({ name, port: 8080, description: 'created by the demo mesh' }),
      signal: AbortSignal.timeout(5000),
    });
    if (res.status !== 201 && res.status !== 409)
      throw new Error(`could not create service ${name}: ${res.status} ${await res.text()}`);
    if (res.status === 201) created.push(name);
  }
  return created;
}

/** Endpoints of `services` that were not registered by a proxy (static ones from an older seed, say). */
export async function foreignEndpoints(
  controlUrl: string,
  services: readonly string[],
  token?: string,
): Promise<{ service: string; address: string; port: number; source: string }[]> {
  const found: { service: string; address: string; port: number; source: string }[] = [];
  for (const service of services) {
    const { status, body } = await getJson(
      `${controlUrl}/api/v1/services/${service}/endpoints?limit=500`,
      token,
    );
    if (status !== 200) continue;
    for (const e of (body as { items: { address: string; port: number; source: string }[] }).items) {
      if (e.source !== 'proxy') found.push({ service, address: e.address, port: e.port, source: e.source });
    }
  }
  return found;
}

/** The demo's join tokens of the previous run, revoked when a new run makes its own. */
const JOIN_TOKEN_IDS_FILE = 'join-token-ids.json';

/**
 * Makes one join token per service (POST /api/v1/join-tokens, an admin's call), as an operator would for each
 * service's proxies: a token admits its own service only, so no demo proxy can claim another's identity. The
 * tokens of the previous run (their ids kept in `stateDir`) are revoked first. Returns the secrets by service.
 */
export async function issueJoinTokens(
  controlUrl: string,
  services: readonly string[],
  token: string | undefined,
  stateDir: string,
): Promise<Map<string, string>> {
  const idsFile = path.join(stateDir, JOIN_TOKEN_IDS_FILE);
  const previous = await fs
    .readFile(idsFile, 'utf8')
    .then((text) => JSON.parse(text) as unknown)
    .catch(() => []);
  for (const id of Array.isArray(previous) ? previous : []) {
    if (typeof id !== 'string' || !/^[0-9a-f-]{36}$/.test(id)) continue;
    await fetch(`${controlUrl}/api/v1/join-tokens/${id}`, {
      method: 'DELETE',
      headers: auth(token),
      signal: AbortSignal.timeout(5000),
    }).catch(() => undefined);
  }
  const secrets = new Map<string, string>();
  const ids: string[] = [];
  for (const service of services) {
    const res = await fetch(`${controlUrl}/api/v1/join-tokens`, {
      method: 'POST',
      headers: { ...auth(token), 'content-type': 'application/json' },
      body: JSON.stringify({ service, expiresInDays: 30 }),
      signal: AbortSignal.timeout(5000),
    });
    if (res.status !== 201) {
      throw new Error(
        `could not make a join token for ${service}: ${res.status} ${await res.text()} (the demo needs an admin API token in TRELLIS_ADMIN_TOKEN)`,
      );
    }
    const created = (await res.json()) as { id: string; token: string };
    secrets.set(service, created.token);
    ids.push(created.id);
  }
  await fs.mkdir(stateDir, { recursive: true });
  await fs.writeFile(idsFile, `${JSON.stringify(ids)}\n`, { mode: 0o600 });
  return secrets;
}

/** Builds proxy configs and runs proxies for tests: an outbound listener on port 0 in front of test upstreams. */
import type { ProxyConfigInput, RouteRuleSpecInput, TrafficPolicySpecInput } from '@trellis/schema';
import { request } from 'undici';
import { afterEach } from 'vitest';
import { createProxy, type ProxyOptions, type TrellisProxy } from '../../src/proxy.ts';
import type { Upstream } from './upstream.ts';

export interface ServiceDef {
  name: string;
  endpoints: { upstream: Upstream; labels?: Record<string, string>; weight?: number }[];
  protocol?: 'http' | 'tcp';
}

export function meshConfig(opts: {
  services: ServiceDef[];
  routes?: RouteRuleSpecInput[];
  policies?: TrafficPolicySpecInput[];
  listeners?: ProxyConfigInput['listeners'];
  limits?: ProxyConfigInput['limits'];
  revision?: number;
}): ProxyConfigInput {
  return {
    revision: opts.revision ?? 1,
    node: { service: 'client', instance: 'test' },
    listeners: opts.listeners ?? [{ name: 'out', mode: 'outbound', port: 0 }],
    services: opts.services.map((s) => ({ name: s.name, port: 80, protocol: s.protocol ?? 'http' })),
    endpoints: opts.services.flatMap((s) =>
      s.endpoints.map((e) => ({
        service: s.name,
        address: '127.0.0.1',
        port: e.upstream.port,
        labels: e.labels ?? {},
        weight: e.weight ?? 1,
        source: 'static' as const,
      })),
    ),
    routes: opts.routes ?? [],
    policies: opts.policies ?? [],
    ...(opts.limits ? { limits: opts.limits } : {}),
  };
}

export async function startProxy(config: ProxyConfigInput, options: ProxyOptions = {}) {
  const proxy = await createProxy(config, { drainTimeoutMs: 1000, ...options });
  const port = (name = 'out') => {
    const a = proxy.address(name);
    if (!a) throw new Error(`no listener ${name}`);
    return a.port;
  };
  return { proxy, port, url: (name = 'out') => `http://127.0.0.1:${port(name)}` };
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One request through a proxy listener with the given Host. */
export async function send(
  port: number,
  host: string,
  path = '/',
  init: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Answer> {
  const res = await request(`http://127.0.0.1:${port}${path}`, {
    method: (init.method ?? 'GET') as 'GET',
    headers: { host, ...init.headers },
    body: init.body,
  });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

export async function closeAll(proxy: TrellisProxy | undefined, upstreams: Upstream[]) {
  await proxy?.close();
  await Promise.all(upstreams.map((u) => u.close()));
}

/** The proxy and upstreams a test of this file starts, closed after each test (set `proxy` undefined if it closed). */
export function closedAfterEach(): { proxy: TrellisProxy | undefined; upstreams: Upstream[] } {
  const started: { proxy: TrellisProxy | undefined; upstreams: Upstream[] } = {
    proxy: undefined,
    upstreams: [],
  };
  afterEach(async () => {
    await closeAll(started.proxy, started.upstreams);
    started.proxy = undefined;
    started.upstreams = [];
  });
  return started;
}

/** Which test upstream answered (they reply with {"upstream": name}). */
export const upstreamOf = (text: string) => (JSON.parse(text) as { upstream: string }).upstream;

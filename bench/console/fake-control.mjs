// A stand-in for the control plane, just enough for the console's topology page: a generated mesh of N services and
// E calls between them (deterministic: the same N and E give the same graph every run), served as GET
// /api/v1/topology with numbers that change on every read, as the live ones do, GET /api/v1/services (cursor pages)
// with labels for the filter, and empty answers for the rest the page may read. Counts the topology reads, so the
// benchmark knows how many updates a window saw.
import http from 'node:http';

/** mulberry32: a small seeded PRNG, so the generated mesh is the same on every run. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TIERS = ['edge', 'frontend', 'backend', 'data', 'batch'];

/**
 * A layered mesh: services in ranks (like calls fanning out from gateways down to data stores), each call going from
 * one rank to one of the next two. `edges` distinct calls, no cycles.
 */
export function generateMesh(services, edges, seed = 42) {
  const rand = prng(seed);
  const ranks = Math.max(2, Math.round(Math.sqrt(services) / 2));
  const names = Array.from({ length: services }, (_, i) => `svc-${String(i).padStart(4, '0')}`);
  const rankOf = names.map((_, i) => Math.floor((i * ranks) / services));
  const byRank = Array.from({ length: ranks }, () => []);
  for (const [i, n] of names.entries()) byRank[rankOf[i]].push(n);
  const seen = new Set();
  const calls = [];
  const max = services * 10;
  for (let tries = 0; calls.length < edges && tries < edges * 50; tries++) {
    const from = Math.floor(rand() * services);
    const rank = rankOf[from];
    if (rank >= ranks - 1) continue;
    const toRank = Math.min(ranks - 1, rank + 1 + (rand() < 0.25 ? 1 : 0));
    const pool = byRank[toRank];
    const to = pool[Math.floor(rand() * pool.length)];
    const key = `${names[from]}>${to}`;
    if (seen.has(key) || calls.length >= max) continue;
    seen.add(key);
    calls.push([names[from], to, 0.5 + rand() * 200]);
  }
  const labels = names.map((_, i) => ({
    tier: TIERS[Math.min(TIERS.length - 1, Math.floor((rankOf[i] * TIERS.length) / ranks))],
    team: `team-${i % 12}`,
  }));
  return { names, labels, calls };
}

const stats = (rps, errorRate, p99) => ({
  requests: Math.round(rps * 10),
  rps,
  successRate: 1 - errorRate,
  errorRate,
  p50: p99 / 4,
  p95: p99 / 1.5,
  p99,
  bytesIn: Math.round(rps * 10 * 200),
  bytesOut: Math.round(rps * 10 * 800),
  retries: 0,
});

/** One reading of the live topology: the same structure every time, numbers wobbling by the read's number. */
export function topologyReading(mesh, tick) {
  const wobble = (i) => 1 + 0.1 * Math.sin(tick * 0.7 + i);
  const inbound = new Map();
  const edges = mesh.calls.map(([source, destination, base], i) => {
    const rps = Math.round(base * wobble(i) * 100) / 100;
    inbound.set(destination, (inbound.get(destination) ?? 0) + rps);
    const errorRate = i % 97 === 0 ? 0.12 : 0.002;
    const overflows = i % 211 === 0 ? 3 : 0;
    return {
      ...stats(rps, errorRate, 20 + (i % 50)),
      source,
      destination,
      reporter: 'source',
      idle: false,
      declared: true,
      overflows,
      breakerOpen: overflows > 0,
    };
  });
  const nodes = mesh.names.map((service, i) => {
    const rps = Math.round((inbound.get(service) ?? 5 * wobble(i)) * 100) / 100;
    const failing = i % 89 === 0;
    return {
      ...stats(rps, failing ? 0.1 : 0.001, 30 + (i % 40)),
      service,
      registered: true,
      health: failing ? 'degraded' : 'healthy',
      reporter: 'destination',
      endpoints: { total: 3, healthy: 3, unhealthy: 0, draining: 0 },
      ejectedEndpoints: i % 131 === 0 ? [{ endpoint: `10.0.${i % 250}.3:8080`, proxies: 2 }] : [],
    };
  });
  return { at: new Date().toISOString(), windowSeconds: 10, nodes, edges };
}

function serviceResource(mesh, i) {
  const t = '2026-01-01T00:00:00.000Z';
  const name = mesh.names[i];
  return {
    id: `svc-id-${i}`,
    version: 1,
    createdAt: t,
    updatedAt: t,
    name,
    protocol: 'http',
    port: 8080,
    labels: mesh.labels[i],
    description: '',
    dependencies: mesh.calls.filter(([s]) => s === name).map(([, d]) => d),
  };
}

/** Starts the fake control plane on 127.0.0.1, a free port; resolves to { url, reads(), close() }. */
export async function startFakeControl(mesh) {
  let topologyReads = 0;
  const services = mesh.names.map((_, i) => serviceResource(mesh, i));
  const json = (res, status, body) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/api/v1/topology') {
      topologyReads++;
      return json(res, 200, topologyReading(mesh, topologyReads));
    }
    if (url.pathname === '/api/v1/services') {
      const limit = Number(url.searchParams.get('limit') ?? 100);
      const start = Number(url.searchParams.get('cursor') ?? 0);
      const end = Math.min(services.length, start + limit);
      return json(res, 200, {
        items: services.slice(start, end),
        nextCursor: end < services.length ? String(end) : null,
      });
    }
    // The console asks who is signed in (the browser carries a made-up session cookie: nothing checks it here).
    if (url.pathname === '/api/v1/auth/me') {
      return json(res, 200, {
        kind: 'session',
        username: 'bench',
        role: 'viewer',
        csrfToken: 'bench',
        tokenName: null,
      });
    }
    if (/^\/api\/v1\/(routes|policies|proxies|endpoints)/.test(url.pathname)) {
      return json(res, 200, { items: [], nextCursor: null });
    }
    return json(res, 404, {
      type: 'about:blank',
      title: 'Not Found',
      status: 404,
      code: 'not_found',
      detail: `the benchmark's fake control plane has no ${url.pathname}`,
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    reads: () => topologyReads,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

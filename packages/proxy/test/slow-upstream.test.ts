/**
 * An upstream that slows down past the route's timeout, under concurrent load: every request ends as a 504
 * upstream_timeout or a 503 overflow (never a hang), the circuit breaker's maxRequests holds (the upstream never
 * sees more requests at once), the proxy's memory does not grow with the abandoned requests, and once the upstream
 * speeds up again every request succeeds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrellisProxy } from '../src/proxy.ts';
import { closeAll, meshConfig, send, startProxy } from './support/mesh.ts';
import { startUpstream, type Upstream } from './support/upstream.ts';

const TIMEOUT_MS = 1000;
const MAX_REQUESTS = 8;
const CLIENTS = 24;
let up: Upstream;
let proxy: TrellisProxy;
let port: number;
/** While slow, the upstream holds every request (longer than any timeout) until the test lets it go. */
let slowNow = false;
const held: (() => void)[] = [];
let inFlight = 0;
let mostInFlight = 0;

beforeAll(async () => {
  up = await startUpstream('slow', (_req, res) => {
    inFlight += 1;
    mostInFlight = Math.max(mostInFlight, inFlight);
    const done = () => {
      inFlight -= 1;
    };
    res.on('close', done);
    const answer = () => {
      if (!res.destroyed) res.writeHead(200).end('ok');
    };
    if (slowNow) held.push(answer);
    else answer();
  });
  const started = await startProxy(
    meshConfig({
      services: [{ name: 'svc', endpoints: [{ upstream: up }] }],
      routes: [{ name: 'r', service: 'svc', timeoutMs: TIMEOUT_MS, retries: { attempts: 0 } }],
      policies: [
        {
          name: 'p',
          service: 'svc',
          connectionPool: { maxRequests: MAX_REQUESTS, maxConnections: MAX_REQUESTS, maxPendingRequests: 1 },
          outlierDetection: { enabled: false },
        },
      ],
    }),
  );
  proxy = started.proxy;
  port = started.port();
});
afterAll(() => closeAll(proxy, [up]));

/** `clients` clients, each sending `each` requests one after another; the statuses and error tags they got. */
async function load(clients: number, each: number): Promise<Map<string, number>> {
  const outcomes = new Map<string, number>();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = 0; i < each; i++) {
        const res = await send(port, 'svc', '/');
        const key = `${res.status} ${res.headers['x-trellis-error'] ?? ''}`.trim();
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      }
    }),
  );
  return outcomes;
}

describe('a slow upstream', () => {
  it('gets 504s and overflows while slow, holds the breaker limit and memory, and recovers when fast', async () => {
    expect(await load(MAX_REQUESTS, 5)).toEqual(new Map([['200', MAX_REQUESTS * 5]]));

    slowNow = true;
    mostInFlight = 0;
    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    const slow = await load(CLIENTS, 3);
    const timeouts = slow.get('504 upstream_timeout') ?? 0;
    const overflows = slow.get('503 overflow') ?? 0;
    expect(timeouts + overflows).toBe(CLIENTS * 3);
    expect(timeouts).toBeGreaterThan(0);
    expect(overflows).toBeGreaterThan(0);
    expect(mostInFlight).toBeLessThanOrEqual(MAX_REQUESTS);
    global.gc?.();
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(32 * 1024 * 1024);

    slowNow = false;
    for (const answer of held.splice(0)) answer();
    // The proxy gave up on the held requests; once their connections are gone, everything succeeds again (with as
    // many clients as the breaker admits at once).
    while (inFlight > 0) await new Promise((r) => setImmediate(r));
    expect(await load(MAX_REQUESTS, 10)).toEqual(new Map([['200', MAX_REQUESTS * 10]]));
  });
});

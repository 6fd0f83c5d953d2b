/**
 * The traffic generator against a real server on 127.0.0.1: it sends at its rate whether or not answers came, counts
 * every request exactly once as ok or failed (non-2xx, no answer), tallies the chains it saw, and stop() waits for
 * the requests in flight so the counts are final.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../src/launcher.ts';
import { TrafficGenerator, type TrafficResult } from '../src/traffic.ts';

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

/** Answers like the demo chain; every 4th request with 503; `hold` delays every answer. */
async function server(hold = 0): Promise<{ url: string; received: () => number }> {
  let n = 0;
  const s = http.createServer((_req, res) => {
    n += 1;
    const mine = n;
    setTimeout(() => {
      const status = mine % 4 === 0 ? 503 : 200;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          service: 'service-a',
          version: 'v1',
          instance: 'a-1',
          downstream: { service: 'service-b', version: mine % 2 ? 'v1' : 'v2', instance: 'b' },
        }),
      );
    }, hold);
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  servers.push(s);
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}/`, received: () => n };
}

function results(generator: TrafficGenerator, count: number): Promise<TrafficResult[]> {
  return new Promise((resolve) => {
    const got: TrafficResult[] = [];
    const stop = generator.observe((r) => {
      got.push(r);
      if (got.length === count) {
        stop();
        resolve(got);
      }
    });
  });
}

describe('traffic generator', () => {
  it('counts ok and failed answers and tallies versions; stop() waits for requests in flight', async () => {
    // Answers take 200 ms, longer than the 20 ms between requests: it must not wait for them (open loop).
    const target = await server(200);
    const generator = new TrafficGenerator({ url: target.url, requestsPerSecond: 50 });
    const started = performance.now();
    generator.start();
    await results(generator, 20);
    const stats = await generator.stop();
    const elapsed = (performance.now() - started) / 1000;
    expect(stats.inFlight).toBe(0);
    expect(stats.sent).toBe(target.received());
    expect(stats.ok + stats.failed).toBe(stats.sent);
    expect(stats.failed).toBe(Math.floor(stats.sent / 4));
    expect(stats.statuses).toEqual({
      200: stats.ok,
      ...(stats.failed ? { 503: stats.failed } : {}),
    });
    expect(stats.failures.every((f) => f.status === 503 && f.error === 'status 503')).toBe(true);
    expect((stats.seen['service-b v1'] ?? 0) + (stats.seen['service-b v2'] ?? 0)).toBe(stats.ok);
    expect(stats.seen['service-a v1']).toBe(stats.ok);
    // Open loop at 50/s: after ≥ 200 ms of answers, more requests were sent than answered.
    expect(stats.sent).toBeGreaterThan(20);
    expect(stats.sent).toBeLessThanOrEqual(Math.ceil(elapsed * 50) + 1);
  });

  it('a request nobody answers counts as failed, with the reason', async () => {
    const generator = new TrafficGenerator({
      url: `http://127.0.0.1:${await freePort()}/`,
      requestsPerSecond: 20,
    });
    generator.start();
    const [first] = await results(generator, 1);
    const stats = await generator.stop();
    expect(first).toMatchObject({ ok: false, status: 0, error: 'ECONNREFUSED' });
    expect(stats.ok).toBe(0);
    expect(stats.failed).toBe(stats.sent);
  });
});

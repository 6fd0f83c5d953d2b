/**
 * Telemetry frames carry the endpoints outlier detection holds ejected when the window closes, read from the
 * proxy's own endpoint state by its (here injected) clock: listed while the ejection lasts, gone once it ran out.
 * Each ejection is also logged (a warning naming service, endpoint, reason and duration), as Envoy's outlier event
 * log records it.
 */
import { TelemetryFrame } from '@trellis/schema';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { TrellisProxy } from '../src/proxy.ts';
import type { Clock } from '../src/types.ts';
import { closeAll, meshConfig, send, startProxy } from './support/mesh.ts';
import { startUpstream, type Upstream } from './support/upstream.ts';

let proxy: TrellisProxy | undefined;
let upstreams: Upstream[] = [];
afterEach(async () => {
  await closeAll(proxy, upstreams);
  proxy = undefined;
  upstreams = [];
});

function fakeClock(): Clock & { advance(ms: number): void } {
  let now = 1_000_000;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

function frameOf(p: TrellisProxy): TelemetryFrame {
  return TelemetryFrame.parse(JSON.parse(JSON.stringify(p.recorder.flush(Date.now()))));
}

describe('ejectedNow in telemetry frames', () => {
  it('lists an ejected endpoint with the time left while it is ejected, and not once the time has passed', async () => {
    const sick = await startUpstream('sick', (_req, res) => {
      res.writeHead(500);
      res.end();
    });
    const well = await startUpstream('well');
    upstreams.push(sick, well);
    const clock = fakeClock();
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const started = await startProxy(
      meshConfig({
        services: [{ name: 'svc', endpoints: [{ upstream: sick }, { upstream: well }] }],
        routes: [{ name: 'r', service: 'svc', retries: { attempts: 0 } }],
        policies: [
          {
            name: 'p',
            service: 'svc',
            loadBalancer: { type: 'round_robin' },
            outlierDetection: {
              consecutive5xx: 3,
              intervalMs: 60_000,
              baseEjectionTimeMs: 30_000,
              maxEjectionPercent: 50,
            },
          },
        ],
      }),
      { clock, logger },
    );
    proxy = started.proxy;

    expect(frameOf(proxy).ejectedNow).toEqual([]);
    while (sick.seen.length < 3) await send(started.port(), 'svc', '/');

    const during = frameOf(proxy);
    expect(during.ejections).toBe(1);
    expect(during.ejectedNow).toEqual([
      { service: 'svc', endpoint: `127.0.0.1:${sick.port}`, remainingMs: 30_000 },
    ]);
    expect(lines.filter((l) => String(l.msg).startsWith('outlier detection ejected'))).toEqual([
      expect.objectContaining({
        msg: `outlier detection ejected 127.0.0.1:${sick.port} of svc for 30000 ms (consecutive_5xx)`,
        level: 40,
        service: 'svc',
        endpoint: `127.0.0.1:${sick.port}`,
        reason: 'consecutive_5xx',
        ejectedForMs: 30_000,
      }),
    ]);

    clock.advance(29_000);
    const later = frameOf(proxy);
    expect(later.ejections).toBe(0);
    expect(later.ejectedNow).toEqual([
      { service: 'svc', endpoint: `127.0.0.1:${sick.port}`, remainingMs: 1000 },
    ]);

    clock.advance(1000);
    expect(frameOf(proxy).ejectedNow).toEqual([]);
  });
});

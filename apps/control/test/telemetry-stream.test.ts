/**
 * The live telemetry WebSocket (/api/v1/stream/telemetry) on a real port: a subscriber gets the topology at once
 * and then on every tick, `?service=` narrows it to that service, a bad query is closed with 4400 and a reason
 * naming the field, and shutting down closes subscribers with 1001.
 */
import {
  CLOSE_CODES,
  LiveTelemetryMessage,
  TELEMETRY_CLOSE_CODES,
  TELEMETRY_STREAM_PATH,
} from '@trellis/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, call } from './support/api.ts';
import { deadline, FakeProxy } from './support/proxy-client.ts';
import { edge, frame, ManualClock, type TelemetryControl, telemetryControl } from './support/telemetry.ts';

const T0 = Date.UTC(2026, 10, 25, 12, 0, 0);
const clock = new ManualClock(T0 + 12_000);
let control: TelemetryControl;
let base: string;
const open: FakeProxy[] = [];

async function subscribe(query = ''): Promise<FakeProxy> {
  const client = await FakeProxy.connect(`${base}${TELEMETRY_STREAM_PATH}${query}`, { headers: bearer() });
  open.push(client);
  return client;
}

/** The first live message at index `from` or later in which `service-a → service-b` carried `requests`. */
function liveWith(client: FakeProxy, requests: number, from = 0) {
  return client.waitFor(
    (m) =>
      m.type === 'live' &&
      m.edges.some(
        (e: { source: string; destination: string; requests: number }) =>
          e.source === 'service-a' && e.destination === 'service-b' && e.requests === requests,
      ),
    `a live message with ${requests} requests from service-a to service-b`,
    5000,
    from,
  );
}

beforeAll(async () => {
  control = await telemetryControl(clock, { streamIntervalMs: 50 });
  for (const name of ['service-c', 'service-b', 'service-a']) {
    expect((await call(control.app, 'POST', '/api/v1/services', { name, port: 8080 })).status).toBe(201);
  }
  const address = await control.app.listen({ host: '127.0.0.1', port: 0 });
  base = address.replace(/^http/, 'ws');
  control.telemetry.stream.start();
});

afterAll(async () => {
  await Promise.all(open.map((c) => c.close().catch(() => undefined)));
  await control?.close();
});

describe('telemetry stream', () => {
  it('sends the live topology on subscribe and again as traffic comes in', async () => {
    const client = await subscribe();
    const first = await client.waitFor((m) => m.type === 'live', 'the first live message');
    const message = LiveTelemetryMessage.parse(first.data);
    expect(message.nodes.map((n) => n.service)).toEqual(['service-a', 'service-b', 'service-c']);
    expect(message.edges).toEqual([]);

    control.telemetry.ingest([frame('service-a', T0 + 5000, [edge('service-a', 'service-b', { ok: 40 })])]);
    const update = LiveTelemetryMessage.parse((await liveWith(client, 40)).data);
    expect(update.nodes.find((n) => n.service === 'service-b')).toMatchObject({ reporter: 'source', rps: 4 });

    control.telemetry.ingest([frame('service-a', T0 + 6000, [edge('service-a', 'service-b', { ok: 2 })])]);
    await liveWith(client, 42);
  });

  it('narrows the stream to one service: its node and the edges that touch it', async () => {
    control.telemetry.ingest([frame('service-b', T0 + 5000, [edge('service-b', 'service-c', { ok: 7 })])]);
    const c = await subscribe('?service=service-c');
    const forC = LiveTelemetryMessage.parse((await c.waitFor((m) => m.type === 'live', 'a message')).data);
    expect(forC.nodes.map((n) => n.service)).toEqual(['service-c']);
    expect(forC.edges.map((e) => [e.source, e.destination, e.requests])).toEqual([
      ['service-b', 'service-c', 7],
    ]);

    const b = await subscribe('?service=service-b');
    const forB = LiveTelemetryMessage.parse((await liveWith(b, 42)).data);
    expect(forB.nodes.map((n) => n.service)).toEqual(['service-b']);
    expect(forB.edges.map((e) => `${e.source}>${e.destination}`)).toEqual([
      'service-a>service-b',
      'service-b>service-c',
    ]);
  });

  it('carries the endpoints held ejected and the breakers refusing requests', async () => {
    const c = await subscribe('?service=service-c');
    const first = await c.waitFor((m) => m.type === 'live', 'a message');
    expect(LiveTelemetryMessage.parse(first.data).nodes[0]?.ejectedEndpoints).toEqual([]);
    control.telemetry.ingest([
      frame(
        'service-b',
        T0 + 6000,
        [edge('service-b', 'service-c', { errors: 3, overflows: 3, endpoint: '' })],
        'service-b-1',
        [{ service: 'service-c', endpoint: '10.0.3.3:8080', remainingMs: 60_000 }],
      ),
    ]);
    const update = await c.waitFor(
      (m) => m.type === 'live' && m.nodes[0]?.ejectedEndpoints.length > 0,
      'a live message with an ejected endpoint',
    );
    const message = LiveTelemetryMessage.parse(update.data);
    expect(message.nodes[0]?.ejectedEndpoints).toEqual([{ endpoint: '10.0.3.3:8080', proxies: 1 }]);
    expect(message.edges.find((e) => e.source === 'service-b')).toMatchObject({
      overflows: 3,
      breakerOpen: true,
    });
  });

  it('closes a subscription with a bad query with 4400 and a reason naming the field', async () => {
    for (const [query, field] of [
      ['?service=not%20a%20name', 'service'],
      ['?colour=blue', 'colour'],
    ] as const) {
      const client = await subscribe(query);
      const closed = await deadline(client.closed, 5000, 'the close');
      expect(closed.code).toBe(TELEMETRY_CLOSE_CODES.badQuery);
      expect(closed.reason).toMatch(new RegExp(`^invalid query: ${field}: `));
      expect(client.received).toEqual([]);
    }
  });

  it('closes subscribers with 1001 when the control plane shuts down', async () => {
    const client = await subscribe();
    await client.waitFor((m) => m.type === 'live', 'a message');
    await control.telemetry.stream.close();
    const closed = await deadline(client.closed, 5000, 'the close');
    expect(closed.code).toBe(CLOSE_CODES.shuttingDown);
  });
});

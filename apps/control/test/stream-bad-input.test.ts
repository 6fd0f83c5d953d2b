/**
 * Whatever a client sends on the proxy stream, the control plane closes that one connection with the right code
 * and a reason naming the problem (within the 123 bytes a close frame allows), and keeps serving everyone else.
 */
import { CLOSE_CODES, STREAM_MAX_MESSAGE_BYTES, STREAM_PROTOCOL_VERSION } from '@trellis/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { ControlPlane } from '../src/server.ts';
import { HELLO_MAX_BYTES } from '../src/stream/hub.ts';
import { createDatabase } from './support/db.ts';
import {
  deadline,
  FakeProxy,
  getJson,
  JOIN_TOKEN,
  proxyStatus,
  sendJson,
  startPlane,
  streamUrl,
} from './support/proxy-client.ts';

const HELLO_TIMEOUT_MS = 300;
const PING_MS = 100;

let plane: ControlPlane;
let bystander: FakeProxy;

const hello = (node: Record<string, unknown> = {}, token = JOIN_TOKEN) => ({
  type: 'hello',
  protocol: STREAM_PROTOCOL_VERSION,
  token,
  node: { service: 'service-a', instance: 'bad-1', address: '127.0.0.1', port: 9000, ...node },
});

/** Opens a connection, sends each message in turn and returns how the server closed it. */
async function closedAfter(...messages: unknown[]) {
  const proxy = await FakeProxy.connect(streamUrl(plane));
  for (const m of messages) proxy.send(m);
  const closed = await deadline(proxy.closed, 5000, 'the server to close the connection');
  expect(Buffer.byteLength(closed.reason)).toBeLessThanOrEqual(123);
  return closed;
}

beforeAll(async () => {
  plane = await startPlane(await createDatabase('streambad'), {
    proxyHelloTimeoutMs: HELLO_TIMEOUT_MS,
    proxyPingMs: PING_MS,
  });
  bystander = await FakeProxy.join(streamUrl(plane), { service: 'service-b', instance: 'bystander' });
  await bystander.snapshot();
});

afterAll(async () => {
  await bystander?.close().catch(() => undefined);
  await plane?.stop();
});

describe('proxy stream bad input', () => {
  it.each([
    ['malformed JSON', ['{"type": "hello",'], /^malformed JSON: /],
    ['a JSON value that is not an object', ['42'], /^invalid message: must be a JSON object$/],
    ['a message without a type', [{ revision: 1 }], /^invalid message: no "type"/],
    [
      'an unknown message type',
      [{ type: 'subscribe' }],
      /^unknown message type "subscribe"; expected hello, ack/,
    ],
    [
      'a hello with wrong types',
      [hello({ port: 'http' })],
      /^invalid hello message: node\.port: must be a number/,
    ],
    ['a hello with an unknown field', [{ ...hello(), extra: 1 }], /extra: is not a known field/],
    [
      'a hello from a newer protocol',
      [{ ...hello(), protocol: STREAM_PROTOCOL_VERSION + 1 }],
      /^invalid hello message: protocol/,
    ],
    [
      'a hello from an older protocol',
      [{ ...hello(), protocol: STREAM_PROTOCOL_VERSION - 1 }],
      /^invalid hello message: protocol/,
    ],
    [
      'an ACK before the hello',
      [{ type: 'ack', revision: 1, nonce: 'x' }],
      /^expected hello first, got ack$/,
    ],
    ['a prototype-polluting key', ['{"type":"hello","__proto__":{"x":1}}'], /^malformed JSON: /],
    [
      'a hello for an unknown service',
      [hello({ service: 'no-such-service' })],
      /^unknown service "no-such-service"$/,
    ],
    ['a second hello', [hello({ instance: 'twice' }), hello({ instance: 'twice' })], /^hello sent twice$/],
  ])('%s → protocol error', async (_name, messages, reason) => {
    const closed = await closedAfter(...messages);
    expect(closed.code).toBe(CLOSE_CODES.protocolError);
    expect(closed.reason).toMatch(reason);
  });

  it('a wrong join token → unauthorized, and nothing is registered', async () => {
    const closed = await closedAfter(hello({ instance: 'intruder', address: '10.9.9.9' }, 'guess'));
    expect(closed).toEqual({ code: CLOSE_CODES.unauthorized, reason: 'invalid join token' });
    const endpoints = await getJson(`${plane.url}/api/v1/services/service-a/endpoints`);
    expect(endpoints.body.items.map((e: any) => e.address)).not.toContain('10.9.9.9');
    expect(await proxyStatus(plane, 'service-a', 'intruder')).toBeUndefined();
  });

  it('no hello within the hello timeout → protocol error', async () => {
    const proxy = await FakeProxy.connect(streamUrl(plane));
    const started = Date.now();
    const closed = await deadline(proxy.closed, 5000, 'the hello timeout');
    expect(Date.now() - started).toBeGreaterThanOrEqual(HELLO_TIMEOUT_MS - 20);
    expect(closed).toEqual({
      code: CLOSE_CODES.protocolError,
      reason: `no hello within ${HELLO_TIMEOUT_MS} ms`,
    });
  });

  it('a long problem description is cut to fit the close frame', async () => {
    const labels = Object.fromEntries(
      Array.from({ length: 20 }, (_, i) => [`-bad-key-${i}`, 'ü'.repeat(70)]),
    );
    const closed = await closedAfter(hello({ labels }));
    expect(closed.code).toBe(CLOSE_CODES.protocolError);
    expect(closed.reason.endsWith('…')).toBe(true);
    expect(Buffer.byteLength(closed.reason)).toBeLessThanOrEqual(123);
  });

  it('a frame over the size limit → 1009', async () => {
    // After a valid hello, so that the short hello timeout of this file cannot win the race on a slow machine.
    const joined = await FakeProxy.join(streamUrl(plane), {
      service: 'service-a',
      instance: 'too-big',
      address: '10.9.0.2',
    });
    await joined.snapshot();
    joined.ws.send(`"${'x'.repeat(STREAM_MAX_MESSAGE_BYTES)}"`);
    const closed = await deadline(joined.closed, 10_000, 'the server to close the connection');
    expect(closed.code, `closed with ${closed.code} ${closed.reason}`).toBe(CLOSE_CODES.tooBig);
  });

  it('before its hello, a connection may not send more than a hello needs → 1009', async () => {
    const anonymous = await FakeProxy.connect(streamUrl(plane));
    anonymous.ws.send(`"${'x'.repeat(HELLO_MAX_BYTES + 1)}"`);
    const closed = await deadline(anonymous.closed, 10_000, 'the server to close the connection');
    expect(closed.code, `closed with ${closed.code} ${closed.reason}`).toBe(CLOSE_CODES.tooBig);

    // After a valid hello the full limit applies again: the same frame is read (and refused for what it says).
    const joined = await FakeProxy.join(streamUrl(plane), {
      service: 'service-a',
      instance: 'big-after-hello',
      address: '10.9.0.3',
    });
    await joined.snapshot();
    joined.ws.send(`"${'x'.repeat(HELLO_MAX_BYTES + 1)}"`);
    const refused = await deadline(joined.closed, 10_000, 'the server to close the connection');
    expect(refused.code, `closed with ${refused.code} ${refused.reason}`).toBe(CLOSE_CODES.protocolError);
  });

  it('a client that stops answering pings is cut off after two', async () => {
    const silent = await FakeProxy.join(
      streamUrl(plane),
      { service: 'service-a', instance: 'no-pong', address: '10.9.0.1' },
      { options: { autoPong: false } },
    );
    const started = Date.now();
    const closed = await deadline(silent.closed, 5000, 'the silent client to be terminated');
    expect(closed.code).toBe(1006); // terminated: no close frame
    expect(Date.now() - started).toBeGreaterThanOrEqual(2 * PING_MS - 20);
  });

  it('other paths are not upgraded', async () => {
    const ws = new WebSocket(`${plane.url.replace(/^http/, 'ws')}/api/v1/stream/other`);
    const status = await deadline(
      new Promise<number>((resolve) => {
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('error', () => undefined);
      }),
      5000,
      'the upgrade to be refused',
    );
    expect(status).toBe(404);
  });

  it('telemetry is accepted and kept', async () => {
    const proxy = await FakeProxy.join(streamUrl(plane), { service: 'service-c', instance: 'reporter' });
    await proxy.snapshot();
    const frame = {
      node: { service: 'service-c', instance: 'reporter' },
      windowStart: Date.now(),
      windowMs: 1000,
      edges: [],
      ejections: 0,
      ejected: [],
      activeRequests: 0,
    };
    proxy.send({ type: 'telemetry', frames: [frame, { ...frame, windowStart: frame.windowStart + 1000 }] });
    await proxy.flush();
    expect((await proxyStatus(plane, 'service-c', 'reporter')).telemetry.frames).toBe(2);
    expect(plane.stream.telemetryOf('service-c', 'reporter')).toHaveLength(2);
    await proxy.close();
  });

  it('after all that, the server answers and the bystander still gets every change in its slice', async () => {
    expect((await getJson(`${plane.url}/healthz`)).status).toBe(200);
    const created = await sendJson('POST', `${plane.url}/api/v1/services/service-c/endpoints`, {
      address: '10.9.9.9',
      port: 8080,
    });
    expect(created.status).toBe(201);
    const { view } = await bystander.update(created.revision);
    expect(view?.endpoints.map((e) => e.address)).toContain('10.9.9.9');
    expect(bystander.ws.readyState).toBe(WebSocket.OPEN);
  });
});

/**
 * Property-based fuzzing of the WebSocket protocols against a real control plane on a real Postgres: the proxy
 * stream (before and after a valid hello), the telemetry stream's query and the event feed. Random text and
 * binary frames, hellos and answers with one field mutated, prototype-pollution keys, huge and deeply nested
 * values. Invariants: the control plane never crashes and keeps answering; a connection it refuses is closed with
 * one of the protocol's close codes and a reason; only valid hellos register endpoints (counted); nothing is
 * added to Object.prototype. Runs are bounded and seeded: see support/fuzz.ts.
 */
import {
  CLOSE_CODES,
  EVENTS_STREAM_PATH,
  HelloMessage,
  STREAM_PATH,
  STREAM_PROTOCOL_VERSION,
  TELEMETRY_CLOSE_CODES,
  TELEMETRY_STREAM_PATH,
} from '@trellis/schema';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { ControlPlane } from '../src/server.ts';
import { bearer } from './support/api.ts';
import { createDatabase } from './support/db.ts';
import { anyJson, bodyFor, deepNesting, FUZZ_TIMEOUT_MS, pct, run } from './support/fuzz.ts';
import { deadline, getJson, JOIN_TOKEN, startPlane } from './support/proxy-client.ts';

let plane: ControlPlane;
let ws: string;
let registered = 0;
let instances = 0;
const KNOWN_CODES = new Set<number>([
  ...Object.values(CLOSE_CODES),
  ...Object.values(TELEMETRY_CLOSE_CODES),
  1000,
  1002, // the ws library's own protocol errors (bad frames)
  1007, // invalid UTF-8 in a text frame
]);

/**
 * Opens a socket and sends `frames` in order. When the first frame is a valid hello it first waits for the
 * snapshot (the registration done) or the close. Then reports how the socket ended, or that it was still open
 * after a round trip.
 */
async function exchange(
  url: string,
  frames: (string | Buffer)[],
): Promise<{ code: number | null; reason: string; snapshot: boolean }> {
  const socket = new WebSocket(url, { maxPayload: 64 * 1024 * 1024, headers: bearer() });
  let snapshot = false;
  let onSnapshot = () => {};
  socket.on('message', (data) => {
    if (JSON.parse(String(data)).type === 'snapshot') {
      snapshot = true;
      onSnapshot();
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })),
  );
  socket.on('error', () => undefined);
  await deadline(
    new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    }),
    5000,
    'the WebSocket to open',
  );
  const [first, ...rest] = frames;
  if (first !== undefined) socket.send(first, { binary: Buffer.isBuffer(first) });
  if (url.includes(STREAM_PATH) && typeof first === 'string' && isValidHello(first)) {
    await deadline(
      Promise.race([closed, new Promise<void>((resolve) => (onSnapshot = resolve))]),
      5000,
      'the snapshot after a valid hello',
    );
  }
  for (const frame of rest)
    if (socket.readyState === WebSocket.OPEN) socket.send(frame, { binary: Buffer.isBuffer(frame) });
  // A ping answered after the frames were handled; or the close, if the server refused them.
  const outcome =
    socket.readyState === WebSocket.OPEN
      ? await deadline(
          Promise.race([
            closed,
            new Promise<null>((resolve) => {
              socket.once('pong', () => resolve(null));
              socket.ping();
            }),
          ]),
          5000,
          'an answer to the frames',
        )
      : await closed;
  if (outcome === null) {
    socket.close(1000);
    await closed;
    return { code: null, reason: '', snapshot };
  }
  return { ...outcome, snapshot };
}

function isValidHello(text: string): boolean {
  try {
    return HelloMessage.safeParse(JSON.parse(text)).success;
  } catch {
    return false;
  }
}

async function healthy(): Promise<void> {
  const res = await getJson(`${plane.url}/healthz`);
  expect(res.status).toBe(200);
}

async function endpointCount(): Promise<number> {
  let total = 0;
  for (const service of ['ingress', 'service-a', 'service-b', 'service-c']) {
    const res = await getJson(`${plane.url}/api/v1/services/${service}/endpoints?limit=500`);
    total += res.body.items.length;
  }
  return total;
}

const validHello = {
  type: 'hello',
  protocol: STREAM_PROTOCOL_VERSION,
  token: JOIN_TOKEN,
  node: { service: 'service-c', instance: 'fz', address: '10.9.9.9', port: 9999 },
};

const frame = fc.oneof(
  { weight: 4, arbitrary: bodyFor(validHello) },
  { weight: 2, arbitrary: anyJson.map((v) => JSON.stringify(v) ?? 'null') },
  { weight: 1, arbitrary: deepNesting },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 64 }) },
);

beforeAll(async () => {
  plane = await startPlane(await createDatabase('fuzzstream'), { proxyHelloTimeoutMs: 2000 });
  ws = plane.url.replace(/^http/, 'ws');
});
afterAll(() => plane?.stop());

describe('WebSocket fuzzing', { timeout: FUZZ_TIMEOUT_MS }, () => {
  const before = { endpoints: 0 };

  it('proxy stream, first frames: refused with a close code and reason, or a valid hello that registers', async () => {
    before.endpoints = await endpointCount();
    await run(
      fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 3 }), async (frames) => {
        // A distinct instance per run, so every hello the server accepts is a new endpoint to count.
        const n = instances++;
        const sent = frames.map((f) =>
          typeof f === 'string' ? f.replace('9999', String(10_000 + n)).replace('"fz"', `"fz-${n}"`) : f,
        );
        const result = await exchange(`${ws}${STREAM_PATH}`, sent);
        if (result.snapshot) registered += 1;
        if (result.code !== null && result.code !== 1000) {
          expect(KNOWN_CODES.has(result.code), `close code ${result.code} (${result.reason})`).toBe(true);
          if (result.code >= 4000) expect(result.reason.length).toBeGreaterThan(0);
        }
      }),
    );
    await healthy();
  });

  it('proxy stream, after a valid hello: mutated answers and telemetry never crash it', async () => {
    const ack = { type: 'ack', revision: 1, nonce: 'x'.repeat(32) };
    const nack = { type: 'nack', revision: 1, nonce: 'x'.repeat(32), error: 'bad', errors: [] };
    const telemetry = { type: 'telemetry', frames: [] };
    const answer = fc.oneof(bodyFor(ack), bodyFor(nack), bodyFor(telemetry), frame);
    await run(
      fc.asyncProperty(fc.array(answer, { minLength: 1, maxLength: 4 }), async (answers) => {
        const n = instances++;
        const hello = JSON.stringify({
          ...validHello,
          node: { ...validHello.node, instance: `fz-after-${n}`, port: 10_000 + n },
        });
        const result = await exchange(`${ws}${STREAM_PATH}`, [hello, ...answers]);
        expect(result.snapshot).toBe(true);
        registered += 1;
        if (result.code !== null && result.code !== 1000) {
          expect(KNOWN_CODES.has(result.code), `close code ${result.code} (${result.reason})`).toBe(true);
        }
      }),
    );
    await healthy();
  });

  it('telemetry stream and event feed: random queries and frames', async () => {
    await run(
      fc.asyncProperty(fc.string(), frame, async (service, junk) => {
        for (const path of [`${TELEMETRY_STREAM_PATH}?service=${pct(service)}`, EVENTS_STREAM_PATH]) {
          const result = await exchange(`${ws}${path}`, [junk]);
          if (result.code !== null && result.code !== 1000) {
            expect(KNOWN_CODES.has(result.code), `close code ${result.code} (${result.reason})`).toBe(true);
          }
        }
      }),
    );
    await healthy();
  });

  it('registered exactly the endpoints of the hellos it accepted; Object.prototype untouched', async () => {
    // Endpoints of proxies that left stay registered (unhealthy) for the grace period: all are still counted.
    expect(registered).toBeGreaterThan(0);
    expect(await endpointCount()).toBe(before.endpoints + registered);
    expect(Object.keys(Object.prototype)).toEqual([]);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });
});

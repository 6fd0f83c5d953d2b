/**
 * A fake proxy for stream tests: a plain `ws` client that records every message, and waits on events (a message,
 * a close, a pong) with bounded deadlines rather than sleeping.
 */

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  applyEndpointsMessage,
  EndpointsMessage,
  type MeshSlice,
  type ProxyIdentity,
  STREAM_PATH,
  STREAM_PROTOCOL_VERSION,
} from '@trellis/schema';
import { type ClientOptions, WebSocket } from 'ws';
import { type Config, loadConfig } from '../../src/config.ts';
import { type ControlPlane, startControlPlane } from '../../src/server.ts';
import { bearer, TEST_ADMIN_PASSWORD, TEST_ADMIN_TOKEN } from './api.ts';
import { silentLogger } from './db.ts';

export const JOIN_TOKEN = 'test-join-token';
/** Every test control plane encrypts its CA key with this (the CA root is per database). */
export const TEST_CA_KEY = Buffer.alloc(32, 7);

let dataDir: string | undefined;
/** One data folder per test process, outside the repository (the CA bundle is written there). */
function testDataDir(): string {
  dataDir ??= mkdtempSync(path.join(tmpdir(), 'trellis-control-test-'));
  return dataDir;
}

/**
 * A control plane on port 0 over an existing database (migrated and seeded on first start), with the mesh-wide
 * join token JOIN_TOKEN configured (the tests' fake proxies join with it) and the proxy stream's TLS port on a
 * free port.
 */
export function startPlane(databaseUrl: string, overrides: Partial<Config> = {}): Promise<ControlPlane> {
  const config: Config = {
    ...loadConfig({ DATABASE_URL: databaseUrl }),
    port: 0,
    proxyStreamPort: 0,
    dataDir: testDataDir(),
    logLevel: 'silent',
    joinToken: JOIN_TOKEN,
    caKey: TEST_CA_KEY,
    adminToken: TEST_ADMIN_TOKEN,
    adminPassword: TEST_ADMIN_PASSWORD,
    ...overrides,
  };
  return startControlPlane(config, silentLogger);
}

export function streamUrl(plane: { url: string }): string {
  return `${plane.url.replace(/^http/, 'ws')}${STREAM_PATH}`;
}

/** Rejects after `ms` with a message saying what was awaited. */
export function deadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Re-checks `check` every `intervalMs` until it returns a value other than undefined, for at most `ms`. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  what: string,
  ms = 5000,
  intervalMs = 25,
): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export interface Received {
  data: any;
  raw: Buffer;
  at: number;
  /** The proxy's view of the mesh after this message. */
  view: MeshSlice | undefined;
}

export interface Closed {
  code: number;
  reason: string;
}

/** What a proxy holds after applying `message` (a snapshot or an endpoints delta) to `view`. */
export function applyMessage(view: MeshSlice | undefined, message: any): MeshSlice | undefined {
  if (message?.type === 'snapshot') return message.slice as MeshSlice;
  if (message?.type === 'config' && view) {
    const listed = new Set((message.config.services as { name: string }[]).map((s) => s.name));
    return { ...message.config, endpoints: view.endpoints.filter((e) => listed.has(e.service)) };
  }
  if (message?.type === 'endpoints' && view) {
    return { ...view, endpoints: applyEndpointsMessage(view.endpoints, EndpointsMessage.parse(message)) };
  }
  return view;
}

export class FakeProxy {
  readonly received: Received[] = [];
  readonly closed: Promise<Closed>;
  /** The slice as a proxy would hold it after applying every snapshot and endpoints delta received. */
  view: MeshSlice | undefined;
  private listeners = new Set<() => void>();

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString('utf8') });
        this.notify();
      });
    });
    ws.on('error', () => undefined);
    ws.on('message', (data) => {
      const raw = Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer);
      const message = JSON.parse(raw.toString('utf8'));
      this.view = applyMessage(this.view, message);
      this.received.push({ data: message, raw, at: Date.now(), view: this.view });
      this.notify();
    });
  }

  static connect(url: string, options: ClientOptions = {}): Promise<FakeProxy> {
    const ws = new WebSocket(url, options);
    const proxy = new FakeProxy(ws);
    return deadline(
      new Promise<FakeProxy>((resolve, reject) => {
        ws.once('open', () => resolve(proxy));
        ws.once('error', reject);
      }),
      5000,
      `a connection to ${url}`,
    );
  }

  /** Connects and sends a hello for `node`; waits for nothing. */
  static async join(
    url: string,
    node: Pick<ProxyIdentity, 'service' | 'instance'> & Partial<ProxyIdentity>,
    extra: { revision?: number; mesh?: string; token?: string; options?: ClientOptions } = {},
  ): Promise<FakeProxy> {
    const proxy = await FakeProxy.connect(url, extra.options);
    proxy.send({
      type: 'hello',
      protocol: STREAM_PROTOCOL_VERSION,
      token: extra.token ?? JOIN_TOKEN,
      node: { address: '127.0.0.1', port: 9000, ...node },
      ...(extra.revision === undefined ? {} : { revision: extra.revision }),
      ...(extra.mesh === undefined ? {} : { mesh: extra.mesh }),
    });
    return proxy;
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The first message received (at index `from` or later) or still to come that satisfies `predicate`. */
  waitFor(predicate: (data: any) => boolean, what: string, ms = 5000, from = 0): Promise<Received> {
    return this.waitForEntry((m) => predicate(m.data), what, ms, from);
  }

  private waitForEntry(
    predicate: (entry: Received) => boolean,
    what: string,
    ms: number,
    from: number,
  ): Promise<Received> {
    return deadline(
      new Promise<Received>((resolve, reject) => {
        const check = () => {
          const hit = this.received.slice(from).find(predicate);
          if (hit) {
            this.listeners.delete(check);
            resolve(hit);
          } else if (this.ws.readyState === WebSocket.CLOSED) {
            this.listeners.delete(check);
            reject(new Error(`connection closed while waiting for ${what}`));
          }
        };
        this.listeners.add(check);
        check();
      }),
      ms,
      what,
    );
  }

  /** The first message (at index `from` or later) after which the proxy's view satisfies `predicate`. */
  waitForView(predicate: (view: MeshSlice) => boolean, what: string, ms = 5000, from = 0): Promise<Received> {
    return this.waitForEntry((m) => m.view !== undefined && predicate(m.view), what, ms, from);
  }

  /**
   * The first message bringing the proxy to at least `revision` (a snapshot, config or endpoints message);
   * its `view` is the slice the proxy then holds.
   */
  update(revision: number, ms = 5000): Promise<Received> {
    return this.waitFor(
      (m) => ['snapshot', 'config', 'endpoints'].includes(m.type) && m.revision >= revision,
      `an update to revision ≥ ${revision}`,
      ms,
    );
  }

  /** The first snapshot with a revision of at least `revision`. */
  snapshot(revision = 0, ms = 5000): Promise<Received> {
    return this.waitFor(
      (m) => m.type === 'snapshot' && m.revision >= revision,
      `a snapshot at revision ≥ ${revision}`,
      ms,
    );
  }

  ack(snapshot: { revision: number; nonce: string }): void {
    this.send({ type: 'ack', revision: snapshot.revision, nonce: snapshot.nonce });
  }

  /**
   * A round trip through the server: it answers pings in order after handling the frames before them, so once
   * the pong is here, everything sent before has been processed and everything it sent before has arrived.
   */
  flush(ms = 5000): Promise<void> {
    return deadline(
      new Promise<void>((resolve) => {
        this.ws.once('pong', () => resolve());
        this.ws.ping();
      }),
      ms,
      'a pong',
    );
  }

  async close(): Promise<Closed> {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.close(1000, 'test done');
    return deadline(this.closed, 5000, 'the connection to close');
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

/** GET as the test admin (or with `headers` instead, e.g. {} for none). */
export async function getJson(
  url: string,
  headers: Record<string, string> = bearer(),
): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, { headers });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text), headers: res.headers };
}

export async function sendJson(
  method: 'POST' | 'PUT' | 'DELETE',
  url: string,
  body?: unknown,
  auth: Record<string, string> = bearer(),
): Promise<{ status: number; body: any; revision: number }> {
  const res = await fetch(url, {
    method,
    ...(body === undefined
      ? { headers: auth }
      : { headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: text === '' ? undefined : JSON.parse(text),
    revision: Number(res.headers.get('x-trellis-revision')),
  };
}

/** The entry for one proxy in GET /api/v1/proxies, or undefined. */
export async function proxyStatus(plane: { url: string }, service: string, instance: string) {
  const { body } = await getJson(`${plane.url}/api/v1/proxies`);
  return (body.items as any[]).find((p) => p.node.service === service && p.node.instance === instance);
}

/** PUTs the seeded canary route (service-b-canary) with v2 at `v2` %; returns the revision it created. */
export async function shiftCanary(plane: { url: string }, v2: number): Promise<number> {
  const current = await getJson(`${plane.url}/api/v1/routes/service-b-canary`);
  const { id: _i, createdAt: _c, updatedAt: _u, ...spec } = current.body;
  const put = await sendJson('PUT', `${plane.url}/api/v1/routes/service-b-canary`, {
    ...spec,
    destinations: [
      { subset: { version: 'v1' }, weight: 100 - v2 },
      { subset: { version: 'v2' }, weight: v2 },
    ],
  });
  if (put.status !== 200) throw new Error(`PUT service-b-canary answered ${put.status}`);
  return put.revision;
}

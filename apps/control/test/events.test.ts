/**
 * The console's event feed (/api/v1/stream/events) on a real control plane and Postgres: a subscriber is told the
 * current revision at once, then each committed revision with its kind (a rule change is "config", a proxy joining
 * is "endpoints"), and that proxies' sync states changed when one joins, ACKs or leaves. Another control plane's
 * commit on the same database reaches subscribers here too, and stopping closes them with 1001.
 */
import { CLOSE_CODES, EVENTS_STREAM_PATH, MeshEvent } from '@trellis/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../src/server.ts';
import { bearer } from './support/api.ts';
import { createDatabase } from './support/db.ts';
import { FakeProxy, getJson, shiftCanary, startPlane, streamUrl } from './support/proxy-client.ts';

let databaseUrl: string;
let a: ControlPlane;
let b: ControlPlane;
const open: FakeProxy[] = [];

async function subscribe(plane: ControlPlane): Promise<FakeProxy> {
  const client = await FakeProxy.connect(`${plane.url.replace(/^http/, 'ws')}${EVENTS_STREAM_PATH}`, {
    headers: bearer(),
  });
  open.push(client);
  return client;
}

beforeAll(async () => {
  databaseUrl = await createDatabase('events');
  a = await startPlane(databaseUrl);
  b = await startPlane(databaseUrl);
});

afterAll(async () => {
  await Promise.all(open.map((p) => p.close().catch(() => undefined)));
  await a?.stop();
  await b?.stop();
});

describe('event feed', () => {
  it('says hello with the current revision, then announces each config revision', async () => {
    const client = await subscribe(a);
    const hello = MeshEvent.parse((await client.waitFor((m) => m.type === 'hello', 'hello')).data);
    const state = await getJson(`${a.url}/api/v1/revisions?limit=1`);
    expect(hello).toEqual({ type: 'hello', revision: state.body.items[0].revision });

    const revision = await shiftCanary(a, 30);
    const event = await client.waitFor(
      (m) => m.type === 'revision' && m.revision === revision,
      'the revision',
    );
    expect(MeshEvent.parse(event.data)).toEqual({ type: 'revision', revision, kind: 'config' });
  });

  it('a commit made through another control plane reaches subscribers here', async () => {
    const client = await subscribe(a);
    const revision = await shiftCanary(b, 40);
    const event = await client.waitFor(
      (m) => m.type === 'revision' && m.revision === revision,
      'the revision',
    );
    expect(event.data.kind).toBe('config');
  });

  it('a proxy joining is an endpoints revision and a proxies event; its ACK and its leaving are proxies events', async () => {
    const client = await subscribe(a);
    await client.waitFor((m) => m.type === 'hello', 'hello');
    const proxy = await FakeProxy.join(streamUrl(a), {
      service: 'service-c',
      instance: 'c-events',
      address: '10.0.9.1',
      port: 9301,
    });
    open.push(proxy);
    await client.waitFor((m) => m.type === 'revision' && m.kind === 'endpoints', 'the registration revision');
    await client.waitFor((m) => m.type === 'proxies', 'a proxies event on join');
    const snapshot = await proxy.snapshot();
    const afterSnapshot = client.received.length;
    proxy.ack(snapshot.data);
    await client.waitFor((m) => m.type === 'proxies', 'a proxies event after the ACK', 5000, afterSnapshot);
    const beforeLeave = client.received.length;
    await proxy.close();
    await client.waitFor((m) => m.type === 'proxies', 'a proxies event when it leaves', 5000, beforeLeave);
    for (const m of client.received) expect(MeshEvent.safeParse(m.data).success).toBe(true);
  });

  it('stopping the control plane closes subscribers with 1001', async () => {
    const plane = await startPlane(databaseUrl);
    const client = await subscribe(plane);
    await client.waitFor((m) => m.type === 'hello', 'hello');
    const done = new Promise<number>((resolve) => client.ws.once('close', (code: number) => resolve(code)));
    await plane.stop();
    expect(await done).toBe(CLOSE_CODES.shuttingDown);
  });
});

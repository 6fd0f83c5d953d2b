/**
 * How the proxy carries its join credential to the control plane. The token is read from a file or the
 * environment, never from the command line (any local user reads argv in `ps`), and it travels only over a TLS
 * connection whose certificate chains to the CA the operator gave (--control-plane-ca): a stream to a server with
 * another certificate is never sent the hello.
 */
import fs from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { HelloMessage } from '@trellis/schema';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { makeRoot, serverFiles } from '../support/ca.ts';
import { type RunningCli, startCli } from '../support/cli.ts';

const TOKEN = 'trellis_join_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH';
const CONFIG = {
  node: { service: 'service-a', instance: 'a-1' },
  listeners: [{ name: 'in', mode: 'inbound', port: 0, upstream: { port: 9 } }],
};

let cli: RunningCli | undefined;
let server: https.Server | undefined;
let dir: string | undefined;

afterEach(async () => {
  await cli?.stop();
  cli = undefined;
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
  if (dir) await fs.rm(dir, { recursive: true, force: true });
  dir = undefined;
});

/** A WSS control plane with a certificate from a fresh root; resolves with its URL, root PEM and the first hello. */
async function wssControlPlane() {
  const root = await makeRoot();
  const { keyPem, certPem } = await serverFiles(root);
  server = https.createServer({ key: keyPem, cert: certPem });
  const wss = new WebSocketServer({ server });
  const hello = new Promise<unknown>((resolve) =>
    wss.once('connection', (socket) => socket.once('message', (data) => resolve(JSON.parse(`${data}`)))),
  );
  const tlsRefused = new Promise<void>((resolve) => server?.once('tlsClientError', () => resolve()));
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const url = `wss://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/stream/proxy`;
  return { url, rootPem: root.pem, hello, tlsRefused };
}

async function files(rootPem: string) {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-join-'));
  const tokenFile = path.join(dir, 'join-token');
  const caFile = path.join(dir, 'ca.pem');
  await fs.writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  await fs.writeFile(caFile, rootPem);
  return { tokenFile, caFile };
}

async function argvOf(pid: number): Promise<string> {
  return (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ');
}

describe('the join credential', () => {
  it('is read from --join-token-file and sent only over WSS verified against --control-plane-ca', async () => {
    const cp = await wssControlPlane();
    const { tokenFile, caFile } = await files(cp.rootPem);
    cli = await startCli(CONFIG, '.json', [
      '--control-plane',
      cp.url,
      '--control-plane-ca',
      caFile,
      '--join-token-file',
      tokenFile,
    ]);
    const hello = HelloMessage.parse(await cp.hello);
    expect(hello.token).toBe(TOKEN);
    expect(hello.node.service).toBe('service-a');
    expect(await argvOf(cli.child.pid as number)).not.toContain(TOKEN);
    expect(cli.logs.join('\n')).not.toContain(TOKEN);
  });

  it('is read from TRELLIS_JOIN_TOKEN in the environment', async () => {
    const cp = await wssControlPlane();
    const { caFile } = await files(cp.rootPem);
    cli = await startCli(CONFIG, '.json', ['--control-plane', cp.url, '--control-plane-ca', caFile], {
      TRELLIS_JOIN_TOKEN: TOKEN,
    });
    expect(HelloMessage.parse(await cp.hello).token).toBe(TOKEN);
    expect(await argvOf(cli.child.pid as number)).not.toContain(TOKEN);
  });

  it('is never sent to a control plane whose certificate does not chain to the given CA', async () => {
    const cp = await wssControlPlane();
    const other = await makeRoot();
    const { tokenFile, caFile } = await files(other.pem);
    let helloSent = false;
    void cp.hello.then(() => {
      helloSent = true;
    });
    cli = await startCli(CONFIG, '.json', [
      '--control-plane',
      cp.url,
      '--control-plane-ca',
      caFile,
      '--join-token-file',
      tokenFile,
    ]);
    await cp.tlsRefused;
    await cli.waitFor(/control plane connection lost/);
    expect(helloSent).toBe(false);
  });

  it('refuses a control-plane CA for a plain ws:// control plane, and a token given twice', async () => {
    for (const args of [
      ['--control-plane', 'ws://127.0.0.1:1/x', '--control-plane-ca', '/nonexistent'],
      ['--control-plane', 'wss://127.0.0.1:1/x', '--join-token', 'a', '--join-token-file', '/nonexistent'],
    ]) {
      const run = await startCli(CONFIG, '.json', args);
      expect(await run.exited).toBe(2);
    }
  });
});

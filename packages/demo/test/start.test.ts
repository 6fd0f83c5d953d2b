/**
 * `npm start` end to end (scripts/start.mjs, with the control plane on this file's own database and free ports):
 * the control plane comes up, then the console (which answers, and reaches the API through its rewrite) and the demo
 * mesh, which answers through the ingress and reports its traffic; then Ctrl-C, sent as a terminal sends it (SIGINT
 * to the whole foreground process group), stops everything: the script exits 0 and not one of the processes it
 * started is left running.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CLOSE_CODES, STREAM_PATH, STREAM_PROTOCOL_VERSION } from '@trellis/schema';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { chainOf } from '../src/index.ts';
import { createDatabase, REPO_ROOT } from './support/control.ts';
import { alive, commandOf, descendants } from './support/proc.ts';

let start: ChildProcess | undefined;
let dataDir: string | undefined;
let leftovers: number[] = [];

afterAll(async () => {
  // Only if the test failed half-way: nothing of this run may outlive it.
  if (start?.pid && start.exitCode === null) {
    leftovers = [...leftovers, ...descendants(start.pid)];
    start.kill('SIGKILL');
  }
  for (const pid of leftovers) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
});

describe('npm start', () => {
  it('starts the control plane and the demo mesh; Ctrl-C stops everything and leaves nothing running', async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-start-'));
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'scripts/start.mjs')], {
      cwd: REPO_ROOT,
      // Its own process group, like a shell job, so that the test can send Ctrl-C's SIGINT to all of it.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        DATABASE_URL: await createDatabase('start'),
        TRELLIS_CONTROL_PORT: '0',
        TRELLIS_DATA_DIR: dataDir,
        TRELLIS_PROXY_STREAM_PORT: '0',
        TRELLIS_LOG_LEVEL: 'warn',
        TRELLIS_DEMO: 'true',
        TRELLIS_DEMO_PORT_BASE: '0',
        TRELLIS_DEMO_RATE: '20',
        TRELLIS_DEMO_REPORT_SECONDS: '1',
        TRELLIS_CONSOLE: 'true',
        TRELLIS_CONSOLE_PORT: '0',
      },
    });
    start = child;
    let output = '';
    const waiters: { pattern: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      for (const w of [...waiters]) {
        const m = w.pattern.exec(output);
        if (m) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const printed = (pattern: RegExp, ms = 90_000) =>
      Promise.race([
        new Promise<RegExpExecArray>((resolve) => {
          const m = pattern.exec(output);
          if (m) resolve(m);
          else waiters.push({ pattern, resolve });
        }),
        exited.then((code) => {
          throw new Error(`npm start exited (${code}) before printing ${pattern}:\n${output}`);
        }),
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`no ${pattern} within ${ms} ms:\n${output}`)), ms),
        ),
      ]);

    await printed(/Trellis control plane is up/);
    const [, ingress] = await printed(/try\s+curl -s (http:\/\/127\.0\.0\.1:\d+\/)/);
    const res = await fetch(ingress as string);
    const body = await res.text();
    expect(res.status, `${JSON.stringify(Object.fromEntries(res.headers))}\n${body}\n${output}`).toBe(200);
    expect(chainOf(JSON.parse(body)).map((l) => l.service)).toEqual(['service-a', 'service-b', 'service-c']);
    await printed(/\[traffic\] last 1 s: \d+ sent, \d+ ok, 0 failed/);
    const [, consoleUrl] = await printed(/Trellis console is up: (http:\/\/127\.0\.0\.1:\d+)/);
    const page = await fetch(consoleUrl as string);
    expect(page.status).toBe(200);
    // The console reaches the control plane through its /api/v1 rewrite, which wants credentials: this run's
    // admin token (kept 0600 in the data folder) or, in a browser, the session of the printed login.
    const [, password] = await printed(/^login: admin \/ (\S+)$/m);
    expect(password).toBe((await fs.readFile(path.join(dataDir, 'initial-admin-password'), 'utf8')).trim());
    const tokenFile = path.join(dataDir, 'admin-token');
    expect((await fs.stat(tokenFile)).mode & 0o777).toBe(0o600);
    const token = (await fs.readFile(tokenFile, 'utf8')).trim();
    expect((await fetch(`${consoleUrl}/api/v1/services`)).status).toBe(401);
    const proxied = await fetch(`${consoleUrl}/api/v1/services`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(proxied.status).toBe(200);

    // Security as npm start sets it up: no mesh-wide join token exists; every proxy joined over WSS (the proxy
    // stream's TLS port, verified against the mesh CA) with a join token of its own service.
    const [, controlUrl = ''] = await printed(/health\s+(http:\/\/\S+)\/healthz/);
    const auth = { authorization: `Bearer ${token}` };
    const joins = (await (
      await fetch(`${controlUrl}/api/v1/security-events?action=proxy.join&limit=500`, { headers: auth })
    ).json()) as { items: { actor: string; service: string; detail: { transport: string } }[] };
    const services = new Set(joins.items.map((e) => e.service));
    expect([...services].sort()).toEqual(['ingress', 'service-a', 'service-b', 'service-c']);
    expect(joins.items.every((e) => e.detail.transport === 'wss' && e.actor.startsWith('join-token:'))).toBe(
      true,
    );
    const credentialOf = new Map<string, Set<string>>();
    for (const e of joins.items)
      credentialOf.set(e.actor, (credentialOf.get(e.actor) ?? new Set()).add(e.service));
    expect([...credentialOf.values()].every((of) => of.size === 1)).toBe(true);
    const forged = new WebSocket(`${controlUrl.replace(/^http/, 'ws')}${STREAM_PATH}`);
    const closedWith = new Promise<number>((resolve) => forged.once('close', (code) => resolve(code)));
    forged.once('open', () =>
      forged.send(
        JSON.stringify({
          type: 'hello',
          protocol: STREAM_PROTOCOL_VERSION,
          token: 'trellis-dev-join-token',
          node: { service: 'service-b', instance: 'forged', address: '127.0.0.1', port: 9 },
        }),
      ),
    );
    expect(await closedWith).toBe(CLOSE_CODES.unauthorized);
    // The 1 MB deeply nested body is refused at once.
    const started = performance.now();
    const nested = await fetch(`${controlUrl}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `${'['.repeat(500_000)}${']'.repeat(500_000)}`,
    });
    expect(nested.status).toBe(400);
    expect(performance.now() - started).toBeLessThan(5000);

    const pids = descendants(child.pid as number);
    leftovers = pids;
    // The control plane, the console, the demo launcher, 6 apps, 6 sidecars and the ingress gateway (and turbo's
    // leftovers).
    expect(pids.length).toBeGreaterThanOrEqual(16);

    process.kill(-(child.pid as number), 'SIGINT');
    expect(await exited, output).toBe(0);
    expect(output).toContain('[demo] every demo process has stopped');
    const running = pids.filter(alive);
    expect(running.map((pid) => `${pid} ${commandOf(pid)}`)).toEqual([]);
  });
});

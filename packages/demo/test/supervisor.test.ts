/**
 * The supervisor with real child processes: a crashed child comes back after a backoff that doubles with each
 * crash in a row; stop() sends SIGTERM, then SIGKILL to the whole process group when the child ignores it (its own
 * children go too); and a supervisor that is SIGKILLed itself leaves no child behind (parent-watch.ts).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { APP_BIN, freePort, PARENT_WATCH } from '../src/launcher.ts';
import { type ExitInfo, Supervised } from '../src/supervisor.ts';
import { REPO_ROOT } from './support/control.ts';
import { alive } from './support/proc.ts';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const started: Supervised[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((p) => p.stop()));
});

async function demoApp(): Promise<{ process: Supervised; port: number }> {
  const port = await freePort();
  const p = new Supervised({
    name: 'c-9 app',
    command: process.execPath,
    args: [
      '--import',
      PARENT_WATCH,
      APP_BIN,
      '--service',
      'service-c',
      '--instance',
      'c-9',
      '--port',
      String(port),
    ],
    probe: async () =>
      (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status === 200,
    backoff: { initialMs: 50, maxMs: 1000, resetAfterMs: 60_000 },
  });
  started.push(p);
  return { process: p, port };
}

/** Resolves once `pid` is gone, polling /proc (an unrelated process sends no event); rejects after `ms`. */
async function gone(pid: number, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > until) throw new Error(`pid ${pid} still runs after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Reads lines from a child's stdout until one matches. */
function line(stream: NodeJS.ReadableStream, pattern: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      const m = pattern.exec(text);
      if (m) {
        stream.off('data', onData);
        resolve(m);
      }
    };
    stream.on('data', onData);
  });
}

describe('supervisor', () => {
  it('restarts a crashed child after a backoff that doubles with each crash in a row', async () => {
    const { process: app, port } = await demoApp();
    await app.start();
    const exits: ExitInfo[] = [];
    app.on('exit', (e: ExitInfo) => exits.push(e));
    for (let crash = 0; crash < 3; crash++) {
      const next = app.nextReady();
      app.kill('SIGKILL');
      await next;
    }
    expect(exits.map((e) => [e.signal, e.expected, e.restartInMs])).toEqual([
      ['SIGKILL', false, 50],
      ['SIGKILL', false, 100],
      ['SIGKILL', false, 200],
    ]);
    expect(app.restarts).toBe(3);
    expect(new Set(app.pids).size).toBe(4);
    expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);
    // A deliberate restart is not a crash: no backoff, no restart counted.
    await app.restart();
    expect(app.restarts).toBe(3);
    expect(exits.at(-1)).toMatchObject({ expected: true, restartInMs: undefined });
  });

  it('stop(): SIGTERM, then SIGKILL to the group when the child ignores SIGTERM; its own children go too', async () => {
    let announce: (pid: number) => void = () => undefined;
    const grandchild = new Promise<number>((resolve) => {
      announce = resolve;
    });
    const p = new Supervised({
      name: 'stubborn',
      command: process.execPath,
      args: [path.join(FIXTURES, 'stubborn.mjs')],
      stopTimeoutMs: 300,
      onOutput: (text) => {
        const m = /grandchild (\d+)/.exec(text);
        if (m) announce(Number(m[1]));
      },
    });
    started.push(p);
    await p.start();
    const child = p.pid as number;
    const grand = await grandchild;
    expect(alive(grand)).toBe(true);
    const exited = new Promise<ExitInfo>((resolve) => p.once('exit', resolve));
    const t0 = performance.now();
    await p.stop();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    expect(await exited).toMatchObject({ pid: child, signal: 'SIGKILL', expected: true });
    await gone(grand, 2000);
    expect(alive(child)).toBe(false);
    expect(p.state).toBe('stopped');
  });

  it('a SIGKILLed supervisor leaves no child behind: each child stops itself when its IPC channel closes', async () => {
    const port = await freePort();
    const supervisor = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(FIXTURES, 'supervise.ts'), PARENT_WATCH, APP_BIN, String(port)],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const [, pid] = await line(supervisor.stdout, /ready (\d+)\n/);
    const child = Number(pid);
    expect(alive(child)).toBe(true);
    const killed = new Promise((resolve) => supervisor.once('exit', resolve));
    supervisor.kill('SIGKILL');
    await killed;
    await gone(child);
  });
});

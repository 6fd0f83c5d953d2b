/** Runs the built trellis-proxy executable as a child process, as operators run it. */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/trellis-proxy.mjs');

export interface RunningCli {
  child: ChildProcess;
  dir: string;
  configPath: string;
  logs: string[];
  /** Resolves when a log line matches. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  adminPort(): Promise<number>;
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

export async function startCli(
  config: unknown,
  ext = '.json',
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<RunningCli> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-proxy-'));
  const configPath = path.join(dir, `proxy${ext}`);
  await fs.writeFile(configPath, typeof config === 'string' ? config : JSON.stringify(config));
  const child = spawn(process.execPath, [BIN, '--config', configPath, '--admin-port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const logs: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const onLine = (line: string) => {
    logs.push(line);
    for (const w of [...waiters]) {
      if (w.pattern.test(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  let buffer = '';
  const onData = (chunk: Buffer) => {
    buffer += chunk.toString();
    let nl = buffer.indexOf('\n');
    while (nl !== -1) {
      onLine(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
      nl = buffer.indexOf('\n');
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const cli: RunningCli = {
    child,
    dir,
    configPath,
    logs,
    exited,
    waitFor(pattern, timeoutMs = 10_000) {
      const found = logs.find((l) => pattern.test(l));
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no log line matching ${pattern}:\n${logs.join('\n')}`)),
          timeoutMs,
        );
        waiters.push({
          pattern,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
      });
    },
    async adminPort() {
      const line = await cli.waitFor(/trellis-proxy is up/);
      const admin = (JSON.parse(line) as { admin: string }).admin;
      return Number(new URL(admin).port);
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const code = await exited;
      await fs.rm(dir, { recursive: true, force: true });
      return code;
    },
  };
  return cli;
}

/** Peak resident set size of a process, in bytes (Linux: VmHWM). */
export async function peakRss(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

export async function currentRss(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

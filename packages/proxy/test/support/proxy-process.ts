/**
 * A proxy from this source tree in a child process, for attacks that may stall a proxy's event loop: the test
 * process stays free to notice that the proxy does not answer. The child reads its config (JSON) from the first
 * argument and prints one line, `{"ports":{"<listener>":port}}`, once it listens.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ProxyConfigInput } from '@trellis/schema';

const ENTRY = fileURLToPath(new URL('./proxy-process-main.ts', import.meta.url));

export interface ProxyProcess {
  port(name?: string): number;
  stop(): Promise<void>;
}

export function startProxyProcess(config: ProxyConfigInput): Promise<ProxyProcess> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', ENTRY, JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    let out = '';
    child.once('exit', (code) => reject(new Error(`the proxy process exited (${code}) before it listened`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const nl = out.indexOf('\n');
      if (nl === -1) return;
      const { ports } = JSON.parse(out.slice(0, nl)) as { ports: Record<string, number> };
      resolve({
        port: (name = 'out') => {
          const p = ports[name];
          if (p === undefined) throw new Error(`no listener ${name}`);
          return p;
        },
        stop: async () => {
          child.kill('SIGKILL');
          await exited;
        },
      });
    });
  });
}

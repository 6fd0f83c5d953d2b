/** The child of proxy-process.ts: runs one proxy on the config in argv[2] and prints its listeners' ports. */
import { pino } from 'pino';
import { createProxy } from '../../src/proxy.ts';

const config = JSON.parse(process.argv[2] ?? '{}');
const proxy = await createProxy(config, { logger: pino({ level: 'silent' }) });
const ports: Record<string, number> = {};
for (const l of proxy.snapshot.config.listeners) {
  const a = proxy.address(l.name);
  if (a) ports[l.name] = a.port;
}
process.stdout.write(`${JSON.stringify({ ports })}\n`);

/**
 * The demo app as a process (bundled to dist/demo-app.mjs): one service instance, configured by its arguments
 * (the launcher passes everything; nothing comes from the environment). SIGTERM/SIGINT close the server and exit.
 */
import { parseArgs } from 'node:util';
import { listenDemoApp } from './app.ts';

function number(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number ≥ 0, got ${value}`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      service: { type: 'string' },
      version: { type: 'string', default: 'v1' },
      instance: { type: 'string' },
      port: { type: 'string', default: '0' },
      'downstream-service': { type: 'string' },
      'downstream-port': { type: 'string' },
      'error-percent': { type: 'string' },
      'slow-percent': { type: 'string' },
      'slow-ms': { type: 'string' },
    },
    strict: true,
  });
  if (!values.service || !values.instance) throw new Error('--service and --instance are required');
  const downstreamPort = number('downstream-port', values['downstream-port'], 0);
  const errorPercent = number('error-percent', values['error-percent'], 0);
  const slowPercent = number('slow-percent', values['slow-percent'], 0);
  const { server } = await listenDemoApp(
    {
      service: values.service,
      version: values.version ?? 'v1',
      instance: values.instance,
      downstream: values['downstream-service']
        ? { service: values['downstream-service'], port: downstreamPort }
        : undefined,
      flaky:
        errorPercent > 0 || slowPercent > 0
          ? { errorPercent, slowPercent, slowMs: number('slow-ms', values['slow-ms'], 0) }
          : undefined,
    },
    number('port', values.port, 0),
  );
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: Error) => {
  process.stderr.write(`demo app: ${error.message}\n`);
  process.exit(2);
});

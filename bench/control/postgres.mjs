// An embedded Postgres for the control-plane benchmark, started the way the control plane's own tests start one
// (apps/control/test/support/global-setup.ts): `startEmbeddedPostgres` from apps/control/src/db/embedded.ts, data
// in a throw-away folder, deleted on stop. Run with tsx (it imports TypeScript):
//
//   node_modules/.bin/tsx bench/control/postgres.mjs --port 54400
//
// Prints one JSON line on stdout once the server accepts connections: {"adminUrl": "...", "dataDir": "..."}.
// Stops the server and removes the folder on SIGTERM / SIGINT / stdin EOF (when the benchmark goes away).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startEmbeddedPostgres } from '../../apps/control/src/db/embedded.ts';

const { values } = parseArgs({ options: { port: { type: 'string' } } });
const port = Number(values.port);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  process.stderr.write('postgres.mjs: --port <n> is required\n');
  process.exit(2);
}

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-bench-control-pg-'));
await fs.chmod(dir, 0o755);
const log = [];
let server;
try {
  server = await startEmbeddedPostgres({
    dataDir: path.join(dir, 'data'),
    port,
    persistent: false,
    log: (line) => {
      log.push(line);
      if (log.length > 50) log.shift();
    },
    notice: (line) => process.stderr.write(`${line}\n`),
  });
} catch (error) {
  process.stderr.write(`${error?.stack ?? error}\n${log.join('\n')}\n`);
  await fs.rm(dir, { recursive: true, force: true });
  process.exit(1);
}
process.stdout.write(`${JSON.stringify({ adminUrl: server.adminUrl, dataDir: dir })}\n`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  try {
    await server.stop();
  } catch (error) {
    process.stderr.write(`stopping postgres: ${error?.message ?? error}\n`);
  }
  await fs.rm(dir, { recursive: true, force: true });
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();

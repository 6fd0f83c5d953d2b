// Serves the production build (`next build`) in one process, as `next start` would (which forks a second process
// that outlives it when it is stopped by a signal): SIGINT/SIGTERM close the server and exit, so whoever started
// the console (scripts/start.mjs, the e2e tests) leaves nothing running. Preloaded with the demo's parent-watch
// (`node --import`), it also stops when its launcher dies.
//   node scripts/serve.mjs [--port 3000] [--host 127.0.0.1]
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import next from 'next';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: { port: { type: 'string', default: '3000' }, host: { type: 'string', default: '127.0.0.1' } },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`--port: must be a port number, got ${values.port}\n`);
  process.exit(2);
}

// The browser's address, stamped on every request and upgrade here, where the socket is, over whatever a client
// sent under this name; src/proxy.ts forwards it to the control plane as X-Forwarded-For, which the control plane
// believes from the console's address only (TRELLIS_TRUSTED_PROXIES), so each browser has its own login limit.
const CLIENT_ADDRESS_HEADER = 'x-trellis-client-address';
const stampClientAddress = (req) => {
  req.headers[CLIENT_ADDRESS_HEADER] = req.socket.remoteAddress ?? '';
};

const app = next({ dev: false, dir, hostname: values.host, port });
await app.prepare();
const handle = app.getRequestHandler();
// WebSocket upgrades (the control plane's event and telemetry feeds under /api/v1/stream/) take the same
// per-request rewrite as REST calls (src/proxy.ts); Next proxies the upgrade to the control plane.
const upgrade = app.getUpgradeHandler();
const server = http.createServer((req, res) => {
  stampClientAddress(req);
  handle(req, res).catch((err) => {
    process.stderr.write(`${err?.stack ?? err}\n`);
    if (!res.headersSent) res.statusCode = 500;
    res.end();
  });
});
server.on('upgrade', (req, socket, head) => {
  socket.on('error', () => socket.destroy());
  if (!(req.url ?? '').startsWith('/api/v1/stream/')) {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  stampClientAddress(req);
  Promise.resolve(upgrade(req, socket, head)).catch((err) => {
    process.stderr.write(`${err?.stack ?? err}\n`);
    socket.destroy();
  });
});
server.listen(port, values.host, () => {
  const address = server.address();
  const url = `http://${values.host}:${typeof address === 'object' && address ? address.port : port}`;
  process.stdout.write(`Trellis console is up: ${url}\n`);
});
server.once('error', (err) => {
  process.stderr.write(`the console could not listen on ${values.host}:${port}: ${err.message}\n`);
  process.exit(1);
});

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 3000).unref();
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

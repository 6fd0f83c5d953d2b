// The floor of Trellis's runtime: the least a reverse proxy built on Node's http server and undici (the two
// libraries Trellis's data plane is made of) can do per request — parse, forward to a keep-alive pool, stream the
// answer back — with no routing, policy, telemetry or header handling. Measured beside Trellis, it tells how much
// of the gap to nginx is Trellis's own work and how much is the platform's.
// Usage: node node-floor.mjs --port P --upstream-port U
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const { Pool } = createRequire(path.join(here, '../../packages/proxy/package.json'))('undici');
const { values } = parseArgs({
  options: { port: { type: 'string' }, 'upstream-port': { type: 'string' } },
});
const pool = new Pool(`http://127.0.0.1:${values['upstream-port']}`, { connections: 64 });

const server = http.createServer((req, res) => {
  pool.request({ method: req.method, path: req.url, headers: req.headers, body: req }).then(
    (upstream) => {
      res.writeHead(upstream.statusCode, upstream.headers);
      upstream.body.pipe(res);
    },
    () => {
      res.writeHead(502).end();
    },
  );
});
server.keepAliveTimeout = 120_000;
server.listen(Number(values.port), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));

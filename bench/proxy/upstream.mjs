// The benchmark upstream: a small keep-alive Node HTTP server answering a fixed body.
//   GET /    -> 12 bytes  (peak-throughput test)
//   GET /1k  -> 1024 bytes (latency test)
// Usage: node upstream.mjs [--port 0]
// Prints one JSON line {"ready":true,"port":N} on stdout once listening. Exits on SIGTERM/SIGINT, when its parent
// goes away, or after --max-lifetime-s (default 3600) as a last-resort bound.
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'max-lifetime-s': { type: 'string', default: '3600' },
  },
});

const SMALL = Buffer.from('hello world\n'); // 12 bytes
const ONE_KIB = Buffer.alloc(1024, 'x');
const smallHeaders = { 'content-type': 'text/plain', 'content-length': String(SMALL.length) };
const kibHeaders = { 'content-type': 'text/plain', 'content-length': String(ONE_KIB.length) };

const server = http.createServer((req, res) => {
  // Drain any request body, then answer.
  if (req.url === '/1k') {
    res.writeHead(200, kibHeaders);
    res.end(ONE_KIB);
  } else {
    res.writeHead(200, smallHeaders);
    res.end(SMALL);
  }
  req.resume();
});
// Keep connections open for the whole run (Node's default of 5 s would churn idle pool connections).
server.keepAliveTimeout = 120_000;
server.headersTimeout = 121_000;
server.requestTimeout = 0;
server.maxRequestsPerSocket = 0;

server.listen(Number(values.port), values.host, () => {
  process.stdout.write(`${JSON.stringify({ ready: true, port: server.address().port, pid: process.pid })}\n`);
});

const stop = () => {
  server.closeAllConnections?.();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) stop();
}, 1000).unref();
setTimeout(stop, Number(values['max-lifetime-s']) * 1000).unref();

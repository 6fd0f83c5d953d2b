// A measuring stick, not part of Trellis: Trellis's HTTP/1.1 engine (src/engine/: the server, the strict codec and
// the upstream pool) with nothing above it. Each request goes to one upstream pool as it came, and the answer
// back as it came: no routing, stages, forwarding fields or telemetry. Beside the socket floor (the bytes moved
// and nothing parsed) and Trellis in the same run, it splits a request's cost into Node's I/O, the engine's
// parsing and serializing, and the proxy's work above the engine. bench/proxy/run.mjs bundles it as the proxy is
// bundled. Usage: node engine-floor.mjs --port P --upstream-port U     (127.0.0.1 only)
import { parseArgs } from 'node:util';
import { Http1Server, type ServerExchange } from '../../packages/proxy/src/engine/server.ts';
import {
  type PoolReply,
  UpstreamPool,
  type UpstreamResponse,
} from '../../packages/proxy/src/engine/upstream.ts';
import { Fields } from '../../packages/proxy/src/http1/fields.ts';

const { values } = parseArgs({ options: { port: { type: 'string' }, 'upstream-port': { type: 'string' } } });
const limits = { maxHeadBytes: 64 * 1024, maxHeaders: 200, maxStartLineBytes: 8192 };
const pool = new UpstreamPool({
  host: '127.0.0.1',
  port: Number(values['upstream-port']),
  connectTimeoutMs: 5000,
  idleTimeoutMs: 60_000,
  limits,
  connections: 1024,
  maxConnecting: 64,
});

/** The pool's reply for one exchange: the upstream's answer written back as it came, or a 502. */
class Relay implements PoolReply {
  constructor(private readonly exchange: ServerExchange) {}
  resolve(response: UpstreamResponse): void {
    const { status, reason, fields, body, declaredLength } = response;
    this.exchange.respond(status, reason, fields, body, declaredLength ?? -1);
  }
  reject(): void {
    this.exchange.respond(502, undefined, Fields.of({}), null);
  }
}

const server = new Http1Server({
  limits: { ...limits, headersTimeoutMs: 60_000, keepAliveTimeoutMs: 120_000, maxConnections: 10_000 },
  now: () => performance.now(),
  onRequest(exchange) {
    const request = {
      method: exchange.method,
      path: exchange.target,
      fields: exchange.fields,
      body: exchange.body,
    };
    pool.send(request, undefined, new Relay(exchange));
  },
});
server.server.listen(Number(values.port), '127.0.0.1');

/**
 * The demo service every instance of the demo mesh runs: a small node:http app that answers JSON naming itself
 * (service, version, instance) and, when it has a downstream, first calls that service through its own sidecar's
 * outbound listener with `Host: <service>`, exactly as an app in a mesh does, and nests the answer. A request to
 * the ingress therefore answers with the whole chain it took, which is what makes canary splits, load balancing
 * and retries visible with nothing but curl.
 *
 * An instance can be made flaky: a share of requests fail with 500 and a share are slow, drawn from an injected
 * random source so tests can make it deterministic. Health checks (`/healthz`) are never flaky.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Flakiness {
  /** Share of requests answered 500 at once, in percent. */
  errorPercent: number;
  /** Share of (the other) requests answered only after `slowMs`, in percent. */
  slowPercent: number;
  slowMs: number;
}

export interface DemoAppOptions {
  service: string;
  version: string;
  instance: string;
  /** The service this one calls, through the sidecar's outbound listener on 127.0.0.1:`port`. */
  downstream?: { service: string; port: number; timeoutMs?: number };
  flaky?: Flakiness;
  /** Uniform in [0, 1); Math.random unless a test injects one. */
  rng?: () => number;
}

/** What every answer holds; `downstream` is the answer of the next service in the chain. */
export interface ChainLink {
  service: string;
  version: string;
  instance: string;
  path?: string;
  error?: string;
  status?: number;
  downstream?: ChainLink;
}

/** Headers an app passes on so the mesh can tie the calls of one request together (as Istio asks apps to). */
const PROPAGATED = ['x-request-id', 'traceparent', 'tracestate'];

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

interface Answer {
  status: number;
  body: unknown;
}

function callDownstream(
  downstream: NonNullable<DemoAppOptions['downstream']>,
  req: IncomingMessage,
  agent: http.Agent,
): Promise<Answer> {
  const headers: Record<string, string> = { host: downstream.service, accept: 'application/json' };
  for (const name of PROPAGATED) {
    const value = req.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  return new Promise((resolve) => {
    const out = http.request(
      {
        host: '127.0.0.1',
        port: downstream.port,
        path: req.url ?? '/',
        method: 'GET',
        headers,
        agent,
        timeout: downstream.timeoutMs ?? 10_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => {
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // Not JSON (a proxy error page, say): keep the text.
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
        res.on('error', (error) => resolve({ status: 0, body: error.message }));
      },
    );
    out.on('timeout', () => out.destroy(new Error(`no answer within ${downstream.timeoutMs ?? 10_000} ms`)));
    out.on('error', (error) => resolve({ status: 0, body: error.message }));
    out.end();
  });
}

/** The demo app as an unstarted server; listen on it (127.0.0.1) yourself, or use `listenDemoApp`. */
export function createDemoApp(options: DemoAppOptions): http.Server {
  const rng = options.rng ?? Math.random;
  const self = { service: options.service, version: options.version, instance: options.instance };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === '/healthz') {
      send(res, 200, { ...self, status: 'ok' });
      return;
    }
    req.resume();
    const answer = async () => {
      const flaky = options.flaky;
      if (flaky) {
        const draw = rng() * 100;
        if (draw < flaky.errorPercent) {
          send(res, 500, { ...self, path, error: 'injected failure (flaky instance)' });
          return;
        }
        if (draw < flaky.errorPercent + flaky.slowPercent) {
          await new Promise((resolve) => setTimeout(resolve, flaky.slowMs));
        }
      }
      if (!options.downstream) {
        send(res, 200, { ...self, path });
        return;
      }
      const down = await callDownstream(options.downstream, req, agent);
      if (down.status >= 200 && down.status < 300) {
        send(res, 200, { ...self, path, downstream: down.body });
        return;
      }
      send(res, 502, {
        ...self,
        path,
        error: `${options.downstream.service} answered ${down.status || 'nothing'}`,
        downstream: down.body,
      });
    };
    answer().catch((error: Error) => send(res, 500, { ...self, path, error: error.message }));
  });
  server.on('close', () => agent.destroy());
  return server;
}

/** Starts the demo app on 127.0.0.1:`port` (0 for a free one) and resolves with the server and its port. */
export async function listenDemoApp(
  options: DemoAppOptions,
  port = 0,
): Promise<{ server: http.Server; port: number }> {
  const server = createDemoApp(options);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { server, port: (server.address() as AddressInfo).port };
}

/** Every link of an answer's chain, outermost first. */
export function chainOf(body: unknown): ChainLink[] {
  const links: ChainLink[] = [];
  let link = body as ChainLink | undefined;
  while (link && typeof link === 'object' && typeof link.service === 'string') {
    links.push(link);
    link = link.downstream;
  }
  return links;
}

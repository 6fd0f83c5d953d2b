/** Test upstreams: real HTTP servers on 127.0.0.1 (port 0) that record what reached them. */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

export interface Upstream {
  name: string;
  port: number;
  seen: Seen[];
  handler: Handler;
  server: http.Server;
  close(): Promise<void>;
}

export async function startUpstream(name: string, handler?: Handler): Promise<Upstream> {
  const up: Upstream = {
    name,
    port: 0,
    seen: [],
    handler:
      handler ??
      ((req, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': name });
        res.end(JSON.stringify({ upstream: name, url: req.url }));
      }),
    server: http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        up.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        up.handler(req, res, body);
      });
    }),
    close: () =>
      new Promise<void>((resolve) => {
        up.server.closeAllConnections();
        up.server.close(() => resolve());
      }),
  };
  await new Promise<void>((resolve) => up.server.listen(0, '127.0.0.1', resolve));
  up.port = (up.server.address() as AddressInfo).port;
  return up;
}

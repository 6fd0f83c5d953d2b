/**
 * Connection upgrades (WebSocket): routed like any request, sent to the chosen endpoint on a new connection, and
 * only once the endpoint has answered 101 does the proxy stop parsing HTTP and splice the two sockets, byte for
 * byte in both directions. Until then nothing the client sent after the request's head goes upstream: those
 * bytes are a tunnel's only if there is a tunnel, and otherwise a second request that routing and authorization
 * never saw (an upstream that ignores the Upgrade would read it as one). Any other answer is relayed and the
 * connection closed. Inbound upgrades are authorized like any inbound request.
 */
import http, { type IncomingMessage } from 'node:http';
import net, { type Socket } from 'node:net';
import { ProxyError } from '../errors.ts';
import { addForwarding, endToEnd } from '../headers.ts';
import type { EndpointState } from '../types.ts';
import {
  type HttpListener,
  PEER_IDENTITY_HEADER,
  requestTarget,
  SOURCE_HEADER,
  UNKNOWN_SOURCE,
} from './http.ts';

const KEEP = new Set(['connection', 'upgrade']);

function refuse(socket: Socket, status: number, reason: string, tag: string): void {
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-length: 0\r\nx-trellis-error: ${tag}\r\n\r\n`,
    );
  }
  socket.destroy();
}

/** The head of a response relayed as it came, for the client socket that no longer has an HTTP parser. */
function responseHead(status: number, reason: string, rawHeaders: readonly string[]): string {
  let head = `HTTP/1.1 ${status} ${reason}\r\n`;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) head += `${rawHeaders[i]}: ${rawHeaders[i + 1]}\r\n`;
  return `${head}\r\n`;
}

export function handleUpgrade(
  listener: HttpListener,
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
): void {
  const { deps } = listener;
  const snapshot = deps.current();
  const config = snapshot.listeners.get(listener.name);
  socket.on('error', () => socket.destroy());
  const method = req.method ?? 'GET';
  let url = '';
  let headers: ReturnType<typeof endToEnd> = {};
  let endpoint: EndpointState | undefined;
  try {
    if (!config) throw new ProxyError('TRELLIS_ERR_NO_ROUTE', 'listener is being removed');
    const requested = requestTarget(req, snapshot.config.http.mergeSlashes);
    if (typeof requested !== 'string') throw requested;
    if (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') {
      throw new ProxyError(
        'TRELLIS_ERR_BAD_GATEWAY_REQUEST',
        'an upgrade request with a body is not supported',
      );
    }
    if (req.headers['transfer-encoding'] !== undefined) {
      throw new ProxyError(
        'TRELLIS_ERR_BAD_GATEWAY_REQUEST',
        'an upgrade request with a body is not supported',
      );
    }
    url = requested;
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    headers = endToEnd(req.headers, KEEP);
    addForwarding(headers, {
      clientAddress: req.socket.remoteAddress,
      proto: 'http',
      host: req.headers.host,
    });
    if (headers[PEER_IDENTITY_HEADER] !== undefined) delete headers[PEER_IDENTITY_HEADER];
    if (config.mode === 'inbound') {
      // As in http.ts: the caller is who its certificate says, and never what a header claims.
      const peer = deps.peer?.(req.socket);
      const source = peer?.service ?? UNKNOWN_SOURCE;
      if (peer) {
        headers[PEER_IDENTITY_HEADER] = peer.identity;
        headers[SOURCE_HEADER] = source;
      } else if (headers[SOURCE_HEADER] !== undefined) delete headers[SOURCE_HEADER];
      const verdict = listener.authorize(snapshot, peer?.identity, source, method, path);
      if (verdict.denied !== undefined) {
        throw new ProxyError('TRELLIS_ERR_RBAC_DENIED', `authorization policy "${verdict.denied}" denies it`);
      }
    } else headers[SOURCE_HEADER] = deps.node.service;
    const resolved = listener.resolve(snapshot, config, method, path, headers);
    endpoint =
      resolved.endpoint ??
      resolved.cluster?.hostSet(resolved.subset ?? {}).pick({ hashKey: resolved.hashKey });
    if (!endpoint) throw new ProxyError('TRELLIS_ERR_NO_HEALTHY_UPSTREAM', 'no usable endpoint');
  } catch (error) {
    const e =
      error instanceof ProxyError ? error : new ProxyError('TRELLIS_ERR_UPSTREAM_RESET', String(error));
    refuse(socket, e.status, 'Refused', e.tag);
    return;
  }
  const target = endpoint;
  const upstream = net.connect({ host: target.address, port: target.port });
  let answered = false;
  let relayed: IncomingMessage | undefined;
  target.active += 1;
  upstream.on('error', () => upstream.destroy());
  upstream.once('close', () => {
    target.active -= 1;
    // A relayed answer that arrived whole is still being flushed to the client, which the relay then ends.
    if (relayed?.complete !== true) socket.destroy();
  });
  socket.once('close', () => upstream.destroy());
  // Node's HTTP client parses the endpoint's answer; the client socket is not read from until it is a 101.
  const request = http.request({
    createConnection: () => upstream,
    method,
    path: url,
    headers,
    setHost: false,
  });
  request.on('error', () => {
    if (!answered) refuse(socket, 502, 'Bad Gateway', 'upstream_connect_failure');
    upstream.destroy();
  });
  request.on('upgrade', (res: IncomingMessage, tunnel: Socket, upstreamHead: Buffer) => {
    answered = true;
    tunnel.setNoDelay(true);
    socket.setNoDelay(true);
    socket.write(responseHead(101, res.statusMessage || 'Switching Protocols', res.rawHeaders));
    if (upstreamHead.length > 0) socket.write(upstreamHead);
    if (head.length > 0) tunnel.write(head);
    socket.pipe(tunnel);
    tunnel.pipe(socket);
  });
  request.on('response', (res: IncomingMessage) => {
    // No tunnel: the answer goes back as it is, and the connection ends with it (the bytes the client may have
    // sent after its upgrade request are dropped with it).
    answered = true;
    relayed = res;
    const answer = endToEnd(res.headers);
    answer.connection = 'close';
    let text = `HTTP/1.1 ${res.statusCode ?? 502} ${res.statusMessage ?? ''}\r\n`;
    for (const [name, value] of Object.entries(answer)) {
      for (const v of Array.isArray(value) ? value : [value]) text += `${name}: ${v}\r\n`;
    }
    socket.write(`${text}\r\n`);
    res.once('end', () => upstream.destroy());
    res.once('error', () => socket.destroy());
    res.pipe(socket);
  });
  request.end();
}

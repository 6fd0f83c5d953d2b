/**
 * Connection upgrades (WebSocket): routed like any request, then the proxy stops parsing HTTP and splices the
 * client's socket to a new connection to the chosen endpoint, byte for byte in both directions. Inbound upgrades
 * are authorized like any inbound request.
 */
import type { IncomingMessage } from 'node:http';
import net, { type Socket } from 'node:net';
import { ProxyError } from '../errors.ts';
import { addForwarding, endToEnd, headerValue } from '../headers.ts';
import type { EndpointState } from '../types.ts';
import { type HttpListener, PEER_IDENTITY_HEADER, SOURCE_HEADER } from './http.ts';

const KEEP = new Set(['connection', 'upgrade']);

function refuse(socket: Socket, status: number, reason: string, tag: string): void {
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-length: 0\r\nx-trellis-error: ${tag}\r\n\r\n`,
    );
  }
  socket.destroy();
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
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const headers = endToEnd(req.headers, KEEP);
  addForwarding(headers, { clientAddress: req.socket.remoteAddress, proto: 'http', host: req.headers.host });
  socket.on('error', () => socket.destroy());
  let endpoint: EndpointState | undefined;
  try {
    if (!config) throw new ProxyError('TRELLIS_ERR_NO_ROUTE', 'listener is being removed');
    if (headers[PEER_IDENTITY_HEADER] !== undefined) delete headers[PEER_IDENTITY_HEADER];
    if (config.mode === 'inbound') {
      const peer = deps.peer?.(req.socket);
      if (peer) {
        headers[PEER_IDENTITY_HEADER] = peer.identity;
        headers[SOURCE_HEADER] = peer.service ?? 'unknown';
      }
      const source = peer ? (peer.service ?? 'unknown') : (headerValue(headers, SOURCE_HEADER) ?? 'unknown');
      const verdict = listener.authorize(snapshot, peer?.identity, source, req.method ?? 'GET', path);
      if (verdict.denied !== undefined) {
        throw new ProxyError('TRELLIS_ERR_RBAC_DENIED', `authorization policy "${verdict.denied}" denies it`);
      }
    }
    const resolved = listener.resolve(snapshot, config, req.method ?? 'GET', path, headers, url);
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
  let connected = false;
  target.active += 1;
  upstream.once('close', () => {
    target.active -= 1;
    socket.destroy();
  });
  socket.once('close', () => upstream.destroy());
  upstream.on('error', () => {
    if (!connected) refuse(socket, 502, 'Bad Gateway', 'upstream_connect_failure');
    upstream.destroy();
  });
  upstream.once('connect', () => {
    connected = true;
    upstream.setNoDelay(true);
    socket.setNoDelay(true);
    let head_ = `${req.method} ${url} HTTP/1.1\r\n`;
    for (const [name, value] of Object.entries(headers)) {
      for (const v of Array.isArray(value) ? value : [value]) head_ += `${name}: ${v}\r\n`;
    }
    upstream.write(`${head_}\r\n`);
    if (head.length > 0) upstream.write(head);
    socket.pipe(upstream);
    upstream.pipe(socket);
  });
}

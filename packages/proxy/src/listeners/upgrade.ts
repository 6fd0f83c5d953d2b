/**
 * Connection upgrades (WebSocket): routed and authorized like any request, and sent to the chosen endpoint over the
 * transport an ordinary request to it takes, on a connection of its own opened by the connector of the endpoint's
 * pool: a mesh endpoint is reached over mutual TLS with this proxy's certificate and accepted only as the
 * destination service, and plaintext is used only where ordinary requests use it (mode off, the permissive fallback
 * to a sidecar without a certificate, the local app, egress). Upgrades used to go over plaintext whatever the mode, so
 * a strict callee refused them and a permissive one saw a caller without identity, whom its authorization policies
 * then judged as anyone.
 *
 * Only once the endpoint has answered 101 does the proxy stop parsing HTTP and splice the two sockets, byte for
 * byte in both directions. Until then nothing the client sent after the request's head goes upstream: those
 * bytes are a tunnel's only if there is a tunnel, and otherwise a second request that routing and authorization
 * never saw (an upstream that ignores the Upgrade would read it as one). Any other answer is relayed and the
 * connection closed. The answer is awaited no longer than one attempt of an ordinary request (the route's per-try
 * timeout, else its timeout; an inbound or egress listener's timeoutMs): then the client gets 504; connecting is
 * bounded by the pool's connect timeout. The proxy's own answers are the catalogue's, as localReply makes them.
 *
 * Each upgrade counts in telemetry once its connection has closed: as a request with the status it got (101 for a
 * tunnel), its latency to that answer, the bytes of the client's connection, and whether it arrived (inbound) or
 * left (otherwise) over mutual TLS.
 */
import http, { type IncomingMessage, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import tls from 'node:tls';
import { DEFAULT_ROUTE_TIMEOUT_MS } from '@trellis/schema';
import type { ConnectionPool } from '../connection-pool.ts';
import { localReply, ProxyError } from '../errors.ts';
import { addForwarding, endToEnd } from '../headers.ts';
import { classifyTransportError } from '../stages/connect.ts';
import { RECORD_DENIED, RECORD_DRY_RUN_DENIED, RECORD_MTLS } from '../telemetry/recorder.ts';
import type { EndpointState } from '../types.ts';
import {
  type HttpListener,
  PEER_IDENTITY_HEADER,
  requestTarget,
  SOURCE_HEADER,
  UNKNOWN_SOURCE,
} from './http.ts';

const KEEP = new Set(['connection', 'upgrade']);

/** Answers with the proxy's own error (a problem document, as localReply makes it), then closes the connection. */
function refuse(socket: Socket, error: ProxyError): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const reply = localReply(error);
  let head = `HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status] ?? ''}\r\nconnection: close\r\n`;
  for (const [name, value] of Object.entries(reply.headers)) head += `${name}: ${value}\r\n`;
  socket.write(`${head}\r\n`);
  socket.once('finish', () => socket.destroy());
  if (reply.body) reply.body.pipe(socket);
  else socket.end();
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
  const { clock, recorder, node } = deps;
  const started = clock.now();
  const snapshot = deps.current();
  const config = snapshot.listeners.get(listener.name);
  socket.on('error', () => socket.destroy());
  const method = req.method ?? 'GET';
  let source = node.service;
  let destination = '';
  let flags = 0;
  /** What the client got (0: nothing yet), when, and from which endpoint ('' for the proxy's own answers). */
  let status = 0;
  let latency = -1;
  let answeredBy = '';
  let endpoint: EndpointState | undefined;
  let upstream: Socket | undefined;
  let timer: NodeJS.Timeout | undefined;
  recorder.activeChange(1);
  socket.once('close', () => {
    clearTimeout(timer);
    upstream?.destroy();
    if (upstream !== undefined && endpoint !== undefined) endpoint.active -= 1;
    recorder.activeChange(-1);
    if (latency < 0) latency = clock.now() - started;
    recorder.record(
      source,
      destination,
      answeredBy,
      status,
      latency,
      socket.bytesRead,
      socket.bytesWritten,
      flags,
    );
  });
  const answer = (code: number) => {
    status = code;
    latency = clock.now() - started;
    clearTimeout(timer);
  };
  const fail = (error: ProxyError) => {
    answer(error.status);
    refuse(socket, error);
  };

  let url = '';
  let headers: ReturnType<typeof endToEnd> = {};
  let pool: ConnectionPool | undefined;
  let timeoutMs = DEFAULT_ROUTE_TIMEOUT_MS;
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
      destination = node.service;
      source = peer?.service ?? UNKNOWN_SOURCE;
      if (peer) {
        flags |= RECORD_MTLS;
        headers[PEER_IDENTITY_HEADER] = peer.identity;
        headers[SOURCE_HEADER] = source;
      } else if (headers[SOURCE_HEADER] !== undefined) delete headers[SOURCE_HEADER];
      const verdict = listener.authorize(snapshot, peer?.identity, source, method, path);
      if (verdict.denied !== undefined) {
        flags |= RECORD_DENIED;
        throw new ProxyError('TRELLIS_ERR_RBAC_DENIED', `authorization policy "${verdict.denied}" denies it`);
      }
      if (verdict.dryRunDenied !== undefined) flags |= RECORD_DRY_RUN_DENIED;
    } else headers[SOURCE_HEADER] = node.service;
    const resolved = listener.resolve(snapshot, config, method, path, headers);
    destination = resolved.destination;
    const subset = resolved.subset ?? {};
    endpoint = resolved.endpoint ?? resolved.cluster?.hostSet(subset).pick({ hashKey: resolved.hashKey });
    if (!endpoint) throw new ProxyError('TRELLIS_ERR_NO_HEALTHY_UPSTREAM', 'no usable endpoint');
    pool = resolved.pool ?? resolved.cluster?.pool(endpoint, subset);
    if (!pool) throw new ProxyError('TRELLIS_ERR_NO_HEALTHY_UPSTREAM', 'no usable endpoint');
    const rule = resolved.target?.rule;
    if (rule) timeoutMs = rule.retries.perTryTimeoutMs ?? rule.timeoutMs;
    else if (config.mode === 'inbound' || config.mode === 'egress') timeoutMs = config.timeoutMs;
  } catch (error) {
    fail(error instanceof ProxyError ? error : new ProxyError('TRELLIS_ERR_UPSTREAM_RESET', String(error)));
    return;
  }
  const target = endpoint;
  timer = setTimeout(() => {
    fail(new ProxyError('TRELLIS_ERR_UPSTREAM_TIMEOUT', `no answer to the upgrade within ${timeoutMs} ms`));
    upstream?.destroy();
  }, timeoutMs);
  const forward = (connection: Socket) => {
    upstream = connection;
    target.active += 1;
    if (config.mode !== 'inbound' && connection instanceof tls.TLSSocket && connection.authorized) {
      flags |= RECORD_MTLS;
    }
    let tunnelled = false;
    let relayed: IncomingMessage | undefined;
    connection.on('error', () => connection.destroy());
    connection.once('close', () => {
      // A tunnel ends with its upstream, and so does an answer cut off midway. One that arrived whole, or the proxy's
      // own, is still being flushed to the client, whose writer then closes it; before any answer, the request's
      // error answers the client.
      if (tunnelled || relayed?.complete === false) socket.destroy();
    });
    // Node's HTTP client parses the endpoint's answer; the client socket is not read from until it is a 101.
    const request = http.request({
      createConnection: () => connection,
      method,
      path: url,
      headers,
      setHost: false,
    });
    request.on('error', (failure) => {
      if (status === 0) fail(classifyTransportError(failure).error);
      connection.destroy();
    });
    request.on('upgrade', (res: IncomingMessage, tunnel: Socket, upstreamHead: Buffer) => {
      if (status !== 0) {
        tunnel.destroy();
        return;
      }
      answer(101);
      answeredBy = target.key;
      tunnelled = true;
      tunnel.setNoDelay(true);
      socket.setNoDelay(true);
      socket.write(responseHead(101, res.statusMessage || 'Switching Protocols', res.rawHeaders));
      if (upstreamHead.length > 0) socket.write(upstreamHead);
      if (head.length > 0) tunnel.write(head);
      socket.pipe(tunnel);
      tunnel.pipe(socket);
    });
    request.on('response', (res: IncomingMessage) => {
      if (status !== 0) {
        res.destroy();
        return;
      }
      // No tunnel: the answer goes back as it is, and the connection ends with it (the bytes the client may have
      // sent after its upgrade request are dropped with it).
      answer(res.statusCode ?? 502);
      answeredBy = target.key;
      relayed = res;
      const relayedHeaders = endToEnd(res.headers);
      relayedHeaders.connection = 'close';
      let text = `HTTP/1.1 ${res.statusCode ?? 502} ${res.statusMessage ?? ''}\r\n`;
      for (const [name, value] of Object.entries(relayedHeaders)) {
        for (const v of Array.isArray(value) ? value : [value]) text += `${name}: ${v}\r\n`;
      }
      socket.write(`${text}\r\n`);
      res.once('end', () => connection.destroy());
      res.once('error', () => socket.destroy());
      res.pipe(socket);
    });
    request.end();
  };

  pool.connectDetached((error, connection) => {
    if (socket.destroyed || status !== 0) {
      connection?.destroy();
      return;
    }
    if (error !== null) {
      fail(classifyTransportError(error).error);
      return;
    }
    forward(connection);
  });
}

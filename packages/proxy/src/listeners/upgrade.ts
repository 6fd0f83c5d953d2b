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
import type { Socket } from 'node:net';
import tls from 'node:tls';
import { DEFAULT_ROUTE_TIMEOUT_MS } from '@trellis/schema';
import { PushBody } from '../engine/body.ts';
import type { ServerExchange } from '../engine/server.ts';
import type { UpstreamPool } from '../engine/upstream.ts';
import { localReply, ProxyError } from '../errors.ts';
import { addForwarding } from '../headers.ts';
import type { Http1Error } from '../http1/errors.ts';
import { Fields } from '../http1/fields.ts';
import type { FieldList } from '../http1/lookup.ts';
import { type MessageHead, ResponseParser } from '../http1/parser.ts';
import { requestHead, responseHead } from '../http1/serializer.ts';
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

/** An endpoint's answer to an upgrade may be as large as any answer's head. */
const ANSWER_LIMITS = { maxHeadBytes: 64 * 1024, maxHeaders: 500, maxStartLineBytes: 8 * 1024 };

const NO_FRAMING = { kind: 'none' } as const;

/** The connection's upgrade fields, written again on both sides (the serializer drops hop-by-hop ones it was not given). */
function keepUpgrade(fields: Fields, upgrade: string): void {
  fields.set('connection', 'upgrade');
  fields.set('upgrade', upgrade);
}

export function handleUpgrade(listener: HttpListener, exchange: ServerExchange): void {
  const { deps } = listener;
  const { clock, recorder, node } = deps;
  const started = exchange.startedAt;
  const snapshot = deps.current();
  const config = snapshot.listeners.get(listener.name);
  const socket = exchange.socket;
  const method = exchange.method;
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
  // Whatever the answer, the connection ends with this exchange: no request follows an upgrade on it.
  exchange.connection.closeAfter = true;
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
    const reply = localReply(error);
    exchange.respond(reply.status, undefined, reply.headers, reply.body);
  };

  const headers = exchange.fields;
  const upgrade = headers.get('upgrade') ?? '';
  let url = '';
  let pool: UpstreamPool | undefined;
  let timeoutMs = DEFAULT_ROUTE_TIMEOUT_MS;
  try {
    if (!config) throw new ProxyError('TRELLIS_ERR_NO_ROUTE', 'listener is being removed');
    if (method === 'CONNECT')
      throw new ProxyError('TRELLIS_ERR_BAD_GATEWAY_REQUEST', 'CONNECT is not supported');
    const requested = requestTarget(exchange, snapshot.config.http.mergeSlashes);
    if (typeof requested !== 'string') throw requested;
    if (exchange.body !== null) {
      throw new ProxyError(
        'TRELLIS_ERR_BAD_GATEWAY_REQUEST',
        'an upgrade request with a body is not supported',
      );
    }
    url = requested;
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    addForwarding(headers, {
      clientAddress: socket.remoteAddress,
      proto: 'http',
      host: headers.get('host'),
    });
    headers.delete(PEER_IDENTITY_HEADER);
    if (config.mode === 'inbound') {
      // As in http.ts: the caller is who its certificate says, and never what a header claims.
      const peer = deps.peer?.(socket);
      destination = node.service;
      source = peer?.service ?? UNKNOWN_SOURCE;
      if (peer) {
        flags |= RECORD_MTLS;
        headers.set(PEER_IDENTITY_HEADER, peer.identity);
        headers.set(SOURCE_HEADER, source);
      } else headers.delete(SOURCE_HEADER);
      const verdict = listener.authorize(snapshot, peer?.identity, source, method, path);
      if (verdict.denied !== undefined) {
        flags |= RECORD_DENIED;
        throw new ProxyError('TRELLIS_ERR_RBAC_DENIED', `authorization policy "${verdict.denied}" denies it`);
      }
      if (verdict.dryRunDenied !== undefined) flags |= RECORD_DRY_RUN_DENIED;
    } else headers.set(SOURCE_HEADER, node.service);
    const resolved = listener.resolve(snapshot, config, method, path, headers, headers.get('host'));
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
  keepUpgrade(headers, upgrade);
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
    let relayed: PushBody | undefined;
    connection.on('error', () => connection.destroy());
    connection.once('close', () => {
      // A tunnel ends with its upstream, and so does an answer cut off midway; before any answer, the request's
      // error answers the client.
      if (tunnelled) socket.destroy();
      else if (relayed !== undefined && !relayed.ended)
        relayed.fail(new Error('the upstream closed the connection'));
      else if (status === 0)
        fail(new ProxyError('TRELLIS_ERR_UPSTREAM_RESET', 'the upstream closed the connection'));
    });
    // The endpoint's answer is parsed here; the client's socket is not read from until it is a 101.
    let answerHead: { status: number; reason: string; fields: Fields; upgrade: boolean } | undefined;
    const parser = new ResponseParser(ANSWER_LIMITS, {
      onHead(head: MessageHead) {
        if (head.status < 200 && head.status !== 101) return;
        answerHead = {
          status: head.status,
          reason: head.reason,
          fields: Fields.from(head),
          upgrade: head.status === 101,
        };
        if (head.status === 101 || status !== 0) return;
        // No tunnel: the answer goes back as it is, and the connection ends with it (the bytes the client may
        // have sent after its upgrade request are dropped with it).
        answer(head.status);
        answeredBy = target.key;
        const noBody = head.contentLength === 0;
        relayed = noBody
          ? undefined
          : new PushBody(head.contentLength, {
              pause: () => connection.pause(),
              resume: () => connection.resume(),
              abort: () => connection.destroy(),
            });
        exchange.respond(head.status, head.reason, answerHead.fields, relayed ?? null);
      },
      onBody(chunk: Buffer) {
        if (relayed !== undefined && !relayed.push(chunk)) connection.pause();
      },
      onTrailers(_fields: FieldList) {},
      onComplete() {
        if (answerHead?.upgrade && status === 0) {
          open(answerHead.reason, answerHead.fields, parser.takeRest());
          return;
        }
        relayed?.finish();
        if (answerHead !== undefined && answerHead.status >= 200) connection.destroy();
      },
      onError(_error: Http1Error) {
        if (status === 0)
          fail(new ProxyError('TRELLIS_ERR_UPSTREAM_RESET', 'malformed answer to the upgrade'));
        else relayed?.fail(new Error('malformed answer'));
        connection.destroy();
      },
    });
    parser.expect(method);
    const open = (reason: string, fields: Fields, upstreamRest: Buffer) => {
      answer(101);
      answeredBy = target.key;
      tunnelled = true;
      connection.removeAllListeners('data');
      const { socket: client, rest } = exchange.tunnel();
      client.on('error', () => client.destroy());
      client.once('close', () => connection.destroy());
      connection.setNoDelay(true);
      client.setNoDelay(true);
      keepUpgrade(fields, fields.get('upgrade') ?? upgrade);
      client.write(responseHead(101, reason || 'Switching Protocols', fields, NO_FRAMING, true));
      if (upstreamRest.length > 0) client.write(upstreamRest);
      if (rest.length > 0) connection.write(rest);
      client.pipe(connection);
      connection.pipe(client);
      // The 'close' handler above recorded nothing yet: the tunnel's socket is the same one.
    };
    connection.on('data', (chunk: Buffer) => parser.execute(chunk));
    connection.on('end', () => parser.finish());
    connection.write(requestHead(method, url, headers, NO_FRAMING));
  };

  pool.connectDetached((error, connection) => {
    if (socket.destroyed || status !== 0) {
      connection?.destroy();
      return;
    }
    if (error !== null || connection === null) {
      fail(classifyTransportError(error).error);
      return;
    }
    forward(connection);
  });
}

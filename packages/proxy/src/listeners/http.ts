/**
 * An HTTP/1.1 listener in one of four modes. Each request reads the proxy's *current* snapshot once, at its
 * start, and finishes on it even if a new snapshot is swapped in meanwhile. Modes differ only in how the
 * destination is found: outbound by Host (or a fixed service), ingress by host and path prefix, inbound to
 * the local app, egress to allow-listed external hosts. Everything the proxy answers itself goes through
 * `localReply`, with an x-trellis-error tag. Inbound listeners first check the snapshot's authorization policies
 * (authz.ts) against the caller's verified mutual-TLS identity, before the request reaches the app.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import {
  DEFAULT_TRUST_DOMAIN,
  ERRORS,
  type IngressListener,
  type Listener,
  MAX_HEADERS_LIMIT,
  type ProxyLimits,
  type Subset,
} from '@trellis/schema';
import { type AuthzVerdict, RateLimitedLog } from '../authz.ts';
import type { ConnectionPool } from '../connection-pool.ts';
import { ERROR_HEADER, localReply, ProxyError } from '../errors.ts';
import { addForwarding, applyHeaderOps, endToEnd, type HeaderMap, headerValue } from '../headers.ts';
import { absoluteTarget, isRefusal, normaliseTarget, sameAuthority } from '../http-path.ts';
import { pickWeighted } from '../router.ts';
import type { Cluster, RouteTarget, Snapshot } from '../runtime.ts';
import { LiteSignal, sleep } from '../signal.ts';
import { connect } from '../stages/connect.ts';
import { timeout } from '../stages/timeout.ts';
import {
  RECORD_DENIED,
  RECORD_DRY_RUN_DENIED,
  RECORD_MTLS,
  type TelemetryRecorder,
} from '../telemetry/recorder.ts';
import {
  type Clock,
  type Dispatch,
  type EndpointState,
  newEndpointState,
  type ProxyRequest,
  type ProxyResponse,
  type Rng,
} from '../types.ts';
import { BodyWatch, hasBody, readBody } from './body.ts';
import { handleUpgrade } from './upgrade.ts';

/**
 * The calling service, for the app behind an inbound listener: set from the caller's verified certificate, and
 * stripped otherwise, never passed on from a client (a plaintext caller could name any service).
 */
export const SOURCE_HEADER = 'x-trellis-source';
/** Telemetry's caller for a request without a verified identity (as the control plane's UNKNOWN_SOURCE). */
export const UNKNOWN_SOURCE = 'unknown';

/** Abort reason when the client disconnects (made once: an Error per request costs a stack trace). */
const CLIENT_GONE = new Error('client went away');

/**
 * Pipes an upstream body to the client. Not stream.pipeline: that allocates an AbortController (and a
 * DOMException when it finishes) per call, which showed up prominently in profiles.
 */
function forward(body: Readable, res: ServerResponse, done: () => void): void {
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    done();
  };
  body.once('error', () => {
    res.destroy();
    finish();
  });
  res.once('close', () => {
    if (!body.readableEnded) body.destroy();
    finish();
  });
  body.pipe(res);
}

export interface ListenerDeps {
  current(): Snapshot;
  recorder: TelemetryRecorder;
  clock: Clock;
  rng: Rng;
  node: { service: string };
  /** Connection pool for a fixed origin (inbound app, egress hosts). */
  origin(address: string, port: number): ConnectionPool;
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  /** Log one JSON line per request (method, path, status, duration, upstream endpoint). */
  accessLog?: boolean;
  /** The verified mutual-TLS identity of a connection's peer (and its service, if of this mesh). */
  peer?: (socket: Socket) => { identity: string; service: string | undefined } | undefined;
  /** The mesh's trust domain, which `service:<name>` principals of authorization policies expand in. */
  trustDomain?: () => string;
  /** Calls to mesh endpoints certainly go over mutual TLS (strict mode, with a certificate). */
  strictMtls?: () => boolean;
}

const RBAC_DENIED_TAG = ERRORS.TRELLIS_ERR_RBAC_DENIED.tag;

const NO_VERDICT: AuthzVerdict = { denied: undefined, dryRunDenied: undefined };

/** Set by an inbound listener to the caller's verified SPIFFE ID (mutual TLS), for the app; never passed on from a client. */
export const PEER_IDENTITY_HEADER = 'x-trellis-peer-identity';

const SLASH = 0x2f;

/**
 * The request's target as every later stage sees it (http-path.ts), or the error that refuses the request. An
 * absolute-form target's authority becomes the request's Host (RFC 9112 §3.2.2: it wins over the Host header); a
 * Host header naming another authority is refused rather than overruled, since only an attacker or a broken client
 * sends two different ones, and something in front of the proxy may have acted on the Host. HTTP/0.9 (a request
 * line without a version) and versions other than 1.x, which Node's parser accepts, are refused too.
 */
export function requestTarget(req: IncomingMessage, mergeSlashes: boolean): string | ProxyError {
  if (req.httpVersionMajor !== 1) {
    return new ProxyError('TRELLIS_ERR_BAD_GATEWAY_REQUEST', `HTTP/${req.httpVersion} is not supported`);
  }
  let target = req.url ?? '';
  if (target.charCodeAt(0) !== SLASH) {
    const absolute = absoluteTarget(target);
    if (isRefusal(absolute)) return new ProxyError('TRELLIS_ERR_BAD_REQUEST_TARGET', absolute.refused);
    const host = req.headers.host;
    if (host !== undefined && !sameAuthority(absolute.authority, host)) {
      return new ProxyError(
        'TRELLIS_ERR_BAD_REQUEST_TARGET',
        'the Host header names another authority than the absolute-form target',
      );
    }
    req.headers.host = absolute.authority;
    target = absolute.target;
  }
  const normal = normaliseTarget(target, mergeSlashes);
  return isRefusal(normal) ? new ProxyError('TRELLIS_ERR_BAD_REQUEST_TARGET', normal.refused) : normal;
}

function hostOnly(host: string | undefined): string {
  if (!host) return '';
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

function hostPort(host: string | undefined, fallback: number): number {
  if (!host) return fallback;
  const m = /:(\d+)$/.exec(host.trim());
  return m ? Number(m[1]) : fallback;
}

export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1;
  return pattern === host;
}

/** Outbound: the service named by the listener, else by the Host header (exact, or its first DNS label). */
export function serviceForHost(snapshot: Snapshot, host: string): string | undefined {
  const exact = snapshot.hosts.get(host);
  if (exact) return exact;
  const dot = host.indexOf('.');
  return dot > 0 ? snapshot.hosts.get(host.slice(0, dot)) : undefined;
}

/** Ingress: exact hosts before wildcards before "*", then the longest path prefix. */
export function ingressService(listener: IngressListener, host: string, path: string): string | undefined {
  let best: { rank: number; length: number; service: string } | undefined;
  for (const r of listener.routes) {
    if (!hostMatches(r.host, host) || !path.startsWith(r.pathPrefix)) continue;
    const rank = r.host === '*' ? 0 : r.host.startsWith('*.') ? 1 : 2;
    if (!best || rank > best.rank || (rank === best.rank && r.pathPrefix.length > best.length)) {
      best = { rank, length: r.pathPrefix.length, service: r.service };
    }
  }
  return best?.service;
}

export interface Resolved {
  destination: string;
  dispatch: Dispatch;
  /** For a fixed origin (inbound app, egress host): its endpoint, and the pool of connections to it. */
  endpoint?: EndpointState;
  pool?: ConnectionPool;
  /** For a cluster route: the subset of the destination picked. */
  subset?: Subset;
  target?: RouteTarget;
  cluster?: Cluster;
  hashKey?: string | undefined;
}

interface FixedOrigin {
  endpoint: EndpointState;
  pool: ConnectionPool;
  dispatch: Dispatch;
}

export class HttpListener {
  readonly server: http.Server;
  private readonly origins = new Map<string, FixedOrigin>();
  private readonly dryRunLog = new RateLimitedLog();
  private readonly bodies: BodyWatch;

  constructor(
    readonly name: string,
    readonly deps: ListenerDeps,
    limits: ProxyLimits,
  ) {
    this.server = http.createServer({
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeoutMs,
      // limits.requestTimeoutMs is enforced by `bodies`, from each request's snapshot: Node's would answer with a
      // raw 408 while the request is being handled.
      requestTimeout: 0,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
      requireHostHeader: false,
    });
    this.bodies = new BodyWatch(() => deps.clock.now());
    this.server.once('close', () => this.bodies.close());
    this.server.maxConnections = limits.maxConnections;
    // Node keeps this many header fields and drops the rest silently; one more than any limit lets handle() see
    // that a request has too many and refuse it rather than forward a truncated set.
    this.server.maxHeadersCount = MAX_HEADERS_LIMIT + 1;
    this.server.on('request', (req, res) => {
      this.handle(req, res).catch((error) => this.fail(res, error));
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      handleUpgrade(this, req, socket, head);
    });
    this.server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
      if (!socket.writable) return socket.destroy();
      const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
      const timedOut = error.code === 'ERR_HTTP_REQUEST_TIMEOUT';
      const status = tooLarge
        ? '431 Request Header Fields Too Large'
        : timedOut
          ? '408 Request Timeout'
          : '400 Bad Request';
      const tag = tooLarge ? 'headers_too_large' : timedOut ? 'request_timeout' : 'bad_request';
      socket.end(
        `HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\nx-trellis-error: ${tag}\r\n\r\n`,
      );
    });
  }

  private fail(res: ServerResponse, error: unknown): void {
    this.deps.log.warn({ err: error, listener: this.name }, 'request failed inside the proxy');
    if (!res.headersSent) {
      const reply = localReply(
        error instanceof ProxyError
          ? error
          : new ProxyError('TRELLIS_ERR_UPSTREAM_RESET', 'internal proxy error'),
      );
      res.writeHead(reply.status, reply.headers);
      reply.body?.pipe(res);
    } else res.destroy();
  }

  /**
   * Inbound only: what the authorization policies say about a request from `identity` (the verified peer, if any).
   * Counts denials per policy and logs dry-run denials (at most one line per policy every 10 s).
   */
  authorize(
    snapshot: Snapshot,
    identity: string | undefined,
    source: string,
    method: string,
    path: string,
  ): AuthzVerdict {
    const authz = snapshot.authz;
    if (!authz) return NO_VERDICT;
    const { recorder, node } = this.deps;
    const verdict = authz.evaluate(
      { identity, method, path },
      this.deps.trustDomain?.() ?? DEFAULT_TRUST_DOMAIN,
    );
    if (verdict.denied !== undefined) recorder.authorization(source, node.service, verdict.denied, false);
    else if (verdict.dryRunDenied !== undefined) {
      const policy = verdict.dryRunDenied;
      recorder.authorization(source, node.service, policy, true);
      const { log, suppressed } = this.dryRunLog.take(policy, this.deps.clock.now());
      if (log) {
        this.deps.log.warn(
          { policy, source, identity: identity ?? null, method, path, suppressed },
          'a dry-run authorization policy would deny this request; let through',
        );
      }
    }
    return verdict;
  }

  /** Finds where a request goes; throws ProxyError no_route / egress_denied. */
  resolve(
    snapshot: Snapshot,
    listener: Listener,
    method: string,
    path: string,
    headers: HeaderMap,
  ): Resolved {
    const host = hostOnly(headerValue(headers, 'host'));
    if (listener.mode === 'inbound') {
      const { address, port } = listener.upstream;
      const origin = this.origin('local', address, port, listener.timeoutMs);
      return {
        destination: this.deps.node.service,
        dispatch: origin.dispatch,
        endpoint: origin.endpoint,
        pool: origin.pool,
      };
    }
    if (listener.mode === 'egress') {
      // An absolute-form target's authority is the Host by now (requestTarget).
      const target = host;
      const port = hostPort(headerValue(headers, 'host'), 80);
      const allowed = listener.allow.some(
        (r) => hostMatches(r.host, target) && (!r.ports || r.ports.includes(port)),
      );
      if (!allowed) {
        throw new ProxyError(
          'TRELLIS_ERR_EGRESS_DENIED',
          `${target}:${port} is not on the egress allow-list of listener ${listener.name}`,
        );
      }
      const origin = this.origin('external', target.replace(/^\[|\]$/g, ''), port, listener.timeoutMs);
      return { destination: target, dispatch: origin.dispatch, endpoint: origin.endpoint, pool: origin.pool };
    }
    const service =
      listener.mode === 'ingress'
        ? ingressService(listener, host, path)
        : (listener.service ?? serviceForHost(snapshot, host));
    if (!service) {
      throw new ProxyError(
        'TRELLIS_ERR_NO_ROUTE',
        `no service for host "${host}" on listener ${listener.name}`,
      );
    }
    const cluster = snapshot.clusters.get(service);
    if (!cluster) throw new ProxyError('TRELLIS_ERR_NO_ROUTE', `unknown service "${service}"`);
    const route = cluster.router.route(method, path, headers);
    if (!route)
      throw new ProxyError(
        'TRELLIS_ERR_NO_ROUTE',
        `no route of service "${service}" matches ${method} ${path}`,
      );
    const target = route.target;
    const destination = target.destinations[pickWeighted(target.weights, this.deps.rng)];
    if (!destination)
      throw new ProxyError('TRELLIS_ERR_NO_ROUTE', `route ${route.rule.name} has no destination`);
    return {
      destination: service,
      dispatch: destination.dispatch,
      subset: destination.subset,
      target,
      cluster,
      hashKey: target.hashHeader ? headerValue(headers, target.hashHeader) : undefined,
    };
  }

  /**
   * The dispatch for an origin outside any cluster (the local app, an egress host): no balancing, no retries,
   * bounded by a timeout. Built once per origin and kept (at most 4096 of them), not per request.
   */
  private origin(service: string, address: string, port: number, timeoutMs: number): FixedOrigin {
    const key = `${service}|${address}|${port}|${timeoutMs}`;
    let origin = this.origins.get(key);
    if (!origin) {
      const endpoint = newEndpointState(service, address, port);
      const pool = this.deps.origin(address, port);
      const send = timeout(timeoutMs)(connect({ dispatcher: () => pool, report: () => {} }));
      origin = {
        endpoint,
        pool,
        dispatch: (request) => {
          request.context.endpoint = endpoint;
          return send(request);
        },
      };
      if (this.origins.size < 4096) this.origins.set(key, origin);
    }
    return origin;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { clock, rng, recorder, node } = this.deps;
    const started = clock.now();
    recorder.activeChange(1);
    const snapshot = this.deps.current();
    const listener = snapshot.listeners.get(this.name);
    // Before anything reads the path or the Host: routing, authorization, telemetry and the upstream see this one.
    const requested = requestTarget(req, snapshot.config.http.mergeSlashes);
    const url = typeof requested === 'string' ? requested : (req.url ?? '');
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    const headers = endToEnd(req.headers);
    addForwarding(headers, {
      clientAddress: req.socket.remoteAddress,
      proto: 'http',
      host: req.headers.host,
    });

    const controller = new LiteSignal();
    res.once('close', () => {
      if (!res.writableFinished) controller.abort(CLIENT_GONE);
    });
    if (hasBody(req)) {
      const { requestBodyIdleTimeoutMs, requestTimeoutMs } = snapshot.config.limits;
      this.bodies.watch(req, res, controller, requestBodyIdleTimeoutMs, requestTimeoutMs);
    }

    let source = node.service;
    let flags = 0;
    let identity: string | undefined;
    if (headers[PEER_IDENTITY_HEADER] !== undefined) delete headers[PEER_IDENTITY_HEADER];
    if (listener?.mode === 'inbound') {
      // Over mutual TLS the caller is who its certificate says; over plaintext it is unknown, whatever it claims.
      const peer = this.deps.peer?.(req.socket);
      if (peer) {
        identity = peer.identity;
        flags |= RECORD_MTLS;
        headers[PEER_IDENTITY_HEADER] = peer.identity;
        source = peer.service ?? UNKNOWN_SOURCE;
        headers[SOURCE_HEADER] = source;
      } else {
        source = UNKNOWN_SOURCE;
        if (headers[SOURCE_HEADER] !== undefined) delete headers[SOURCE_HEADER];
      }
    } else if (listener) headers[SOURCE_HEADER] = node.service;

    let destination = '';
    let response: ProxyResponse;
    let bytesIn: () => number = () => 0;
    let target: RouteTarget | undefined;
    try {
      if (!listener) throw new ProxyError('TRELLIS_ERR_NO_ROUTE', `listener ${this.name} is being removed`);
      if (typeof requested !== 'string') {
        req.resume();
        throw requested;
      }
      const fields = req.rawHeaders.length / 2;
      if (fields > snapshot.config.limits.maxHeaders) {
        req.resume();
        throw new ProxyError(
          'TRELLIS_ERR_HEADERS_TOO_LARGE',
          `${fields} header fields, more than limits.maxHeaders (${snapshot.config.limits.maxHeaders})`,
        );
      }
      if (listener.mode === 'inbound' && snapshot.authz) {
        destination = node.service;
        const verdict = this.authorize(snapshot, identity, source, method, path);
        if (verdict.denied !== undefined) {
          flags |= RECORD_DENIED;
          req.resume();
          throw new ProxyError(
            'TRELLIS_ERR_RBAC_DENIED',
            `authorization policy "${verdict.denied}" denies ${method} ${path} from ${identity ?? 'a caller without a verified identity'}`,
          );
        }
        if (verdict.dryRunDenied !== undefined) flags |= RECORD_DRY_RUN_DENIED;
      }
      const resolved = this.resolve(snapshot, listener, method, path, headers);
      destination = resolved.destination;
      target = resolved.target;
      const rule = target?.rule;
      if (rule?.fault?.delay && rng() * 100 < rule.fault.delay.percent) {
        await sleep(rule.fault.delay.fixedDelayMs, controller.asSignal);
      }
      if (rule?.fault?.abort && rng() * 100 < rule.fault.abort.percent) {
        req.resume();
        throw new ProxyError(
          'TRELLIS_ERR_FAULT_ABORT',
          `aborted by fault injection in route ${rule.name}`,
          rule.fault.abort.httpStatus,
        );
      }
      if (rule) applyHeaderOps(headers, rule.headers.request);
      const body = await readBody(req, snapshot.config.limits.retryBufferBytes, controller);
      bytesIn = body.bytes;
      if (
        target?.mirror &&
        (body.body === null || Buffer.isBuffer(body.body)) &&
        rng() * 100 < target.mirror.percent
      ) {
        this.mirror(target.mirror.dispatch, method, url, headers, body.body, resolved.hashKey);
      }
      const request: ProxyRequest = {
        method,
        path: url,
        headers,
        body: body.body,
        signal: controller.asSignal,
        context: { hashKey: resolved.hashKey, tried: [], retries: 0 },
      };
      response = await resolved.dispatch(request);
    } catch (error) {
      if (controller.aborted && !(controller.reason instanceof ProxyError)) {
        recorder.activeChange(-1);
        recorder.record(source, destination, '', 0, clock.now() - started, bytesIn(), 0, flags);
        return;
      }
      // A body that stalled aborts the request with its 408 (body.ts), whatever the await it interrupted threw.
      const failure = controller.reason instanceof ProxyError ? controller.reason : error;
      response = localReply(
        failure instanceof ProxyError
          ? failure
          : new ProxyError('TRELLIS_ERR_UPSTREAM_RESET', String(failure)),
      );
      if (failure instanceof ProxyError && failure.code === 'TRELLIS_ERR_REQUEST_TIMEOUT')
        res.shouldKeepAlive = false;
      else if (!req.complete) req.resume();
    }
    let sent = 0;
    response.body?.on('data', (chunk: Buffer) => {
      sent += chunk.length;
    });
    this.respond(res, response, target, () => {
      const duration = clock.now() - started;
      const endpoint = response.endpoint?.key ?? '';
      recorder.activeChange(-1);
      if (
        listener?.mode !== 'inbound' &&
        response.endpoint?.mesh === true &&
        this.deps.strictMtls?.() === true
      ) {
        flags |= RECORD_MTLS;
      }
      // The callee's sidecar denied the call: the caller's reports count it too.
      if (
        response.status === 403 &&
        response.endpoint &&
        response.headers[ERROR_HEADER] === RBAC_DENIED_TAG
      ) {
        flags |= RECORD_DENIED;
      }
      recorder.record(source, destination, endpoint, response.status, duration, bytesIn(), sent, flags);
      if (this.deps.accessLog) {
        this.deps.log.info(
          {
            access: true,
            method,
            path,
            status: response.status,
            durationMs: Math.round(duration * 1000) / 1000,
            source,
            destination,
            endpoint,
            error: response.headers[ERROR_HEADER],
            requestId: headers['x-request-id'],
            bytesIn: bytesIn(),
            bytesOut: sent,
          },
          'request',
        );
      }
    });
  }

  private respond(
    res: ServerResponse,
    response: ProxyResponse,
    target: RouteTarget | undefined,
    done: () => void,
  ) {
    const headers = endToEnd(response.headers);
    if (target) applyHeaderOps(headers, target.rule.headers.response);
    res.writeHead(response.status, headers);
    if (!response.body) {
      res.end();
      done();
      return;
    }
    forward(response.body, res, done);
  }

  private mirror(
    dispatch: Dispatch,
    method: string,
    url: string,
    headers: HeaderMap,
    body: Buffer | null,
    hashKey?: string,
  ) {
    const copy: HeaderMap = { ...headers };
    const host = headerValue(headers, 'host');
    if (host) copy.host = `${hostOnly(host)}-shadow`;
    dispatch({
      method,
      path: url,
      headers: copy,
      body,
      signal: new LiteSignal().asSignal,
      context: { hashKey, tried: [], retries: 0 },
    }).then(
      (r) => r.body?.resume(),
      () => {},
    );
  }
}

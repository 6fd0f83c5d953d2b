/**
 * An HTTP/1.1 listener in one of four modes. Each request reads the proxy's *current* snapshot once, at its
 * start, and finishes on it even if a new snapshot is swapped in meanwhile. Modes differ only in how the
 * destination is found: outbound by Host (or a fixed service), ingress by host and path prefix, inbound to
 * the local app, egress to allow-listed external hosts. Everything the proxy answers itself goes through
 * `localReply`, with an x-trellis-error tag. Inbound listeners first check the snapshot's authorization policies
 * (authz.ts) against the caller's verified mutual-TLS identity, before the request reaches the app.
 *
 * Requests arrive through the engine's server (engine/server.ts: raw sockets, Trellis's HTTP/1.1 codec) and go
 * upstream through its pools (engine/upstream.ts); node:http and undici are not on the request path.
 */
import type { Socket } from 'node:net';
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
import { type BodySource, collect } from '../engine/body.ts';
import { Http1Server, type ServerExchange } from '../engine/server.ts';
import type { UpstreamPool } from '../engine/upstream.ts';
import { ERROR_HEADER, localReply, ProxyError } from '../errors.ts';
import { addForwarding, applyHeaderOps } from '../headers.ts';
import { absoluteTarget, isRefusal, normaliseTarget, sameAuthority } from '../http-path.ts';
import type { Http1Error } from '../http1/errors.ts';
import { type Fields, headerName } from '../http1/fields.ts';
import { pickWeighted } from '../router.ts';
import type { Cluster, RouteTarget, Snapshot } from '../runtime.ts';
import { LiteSignal, sleep } from '../signal.ts';
import { NOTHING_TRIED } from '../stages/balance.ts';
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
  call,
  type Dispatch,
  type EndpointState,
  newEndpointState,
  type ProxyResponse,
  type Reply,
  type Rng,
} from '../types.ts';
import { handleUpgrade } from './upgrade.ts';

/**
 * The calling service, for the app behind an inbound listener: set from the caller's verified certificate, and
 * stripped otherwise, never passed on from a client (a plaintext caller could name any service).
 */
export const SOURCE_HEADER = 'x-trellis-source';
const SOURCE = headerName(SOURCE_HEADER);
/** Telemetry's caller for a request without a verified identity (as the control plane's UNKNOWN_SOURCE). */
export const UNKNOWN_SOURCE = 'unknown';

export interface ListenerDeps {
  current(): Snapshot;
  recorder: TelemetryRecorder;
  clock: Clock;
  rng: Rng;
  node: { service: string };
  /** Connection pool for a fixed origin (inbound app, egress hosts). */
  origin(address: string, port: number): UpstreamPool;
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
const PEER_IDENTITY = headerName(PEER_IDENTITY_HEADER);

const SLASH = 0x2f;

/**
 * The request's target as every later stage sees it (http-path.ts), or the error that refuses the request. An
 * absolute-form target's authority becomes the request's Host (RFC 9112 §3.2.2: it wins over the Host header); a
 * Host header naming another authority is refused rather than overruled, since only an attacker or a broken client
 * sends two different ones, and something in front of the proxy may have acted on the Host. (HTTP/0.9 and versions
 * other than 1.x never get this far: the parser refuses them.)
 */
export function requestTarget(
  request: { target: string; fields: Fields },
  mergeSlashes: boolean,
): string | ProxyError {
  let target = request.target;
  if (target.charCodeAt(0) !== SLASH) {
    const absolute = absoluteTarget(target);
    if (isRefusal(absolute)) return new ProxyError('TRELLIS_ERR_BAD_REQUEST_TARGET', absolute.refused);
    const host = request.fields.get('host');
    if (host !== undefined && !sameAuthority(absolute.authority, host)) {
      return new ProxyError(
        'TRELLIS_ERR_BAD_REQUEST_TARGET',
        'the Host header names another authority than the absolute-form target',
      );
    }
    request.fields.set('host', absolute.authority);
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
  pool?: UpstreamPool;
  /** For a cluster route: the subset of the destination picked. */
  subset?: Subset;
  target?: RouteTarget;
  cluster?: Cluster;
  hashKey?: string | undefined;
}

interface FixedOrigin {
  endpoint: EndpointState;
  pool: UpstreamPool;
  dispatch: Dispatch;
}

/** The tag a request the parser refused is answered with (as node:http's clientError answers were). */
function refusalTag(status: number): string {
  if (status === 431) return 'headers_too_large';
  if (status === 408) return 'request_timeout';
  return 'bad_request';
}

export class HttpListener {
  readonly server: Http1Server;
  private readonly origins = new Map<string, FixedOrigin>();
  private readonly dryRunLog = new RateLimitedLog();

  constructor(
    readonly name: string,
    readonly deps: ListenerDeps,
    limits: ProxyLimits,
  ) {
    this.server = new Http1Server({
      limits: {
        maxHeadBytes: limits.maxHeaderBytes,
        // One more than any limit: handle() refuses by the snapshot's own limit, with the catalogue's answer.
        maxHeaders: MAX_HEADERS_LIMIT + 1,
        maxStartLineBytes: limits.maxHeaderBytes,
        headersTimeoutMs: limits.headersTimeoutMs,
        keepAliveTimeoutMs: limits.keepAliveTimeoutMs,
        maxConnections: limits.maxConnections,
      },
      now: () => deps.clock.now(),
      onRequest: (exchange) => {
        if (exchange.upgrade) handleUpgrade(this, exchange);
        else {
          try {
            this.handle(exchange);
          } catch (error) {
            this.fail(exchange, error); // a bug: answered as the proxy's own error, and logged
          }
        }
      },
      refusal: (error: Http1Error) => `${ERROR_HEADER}: ${refusalTag(error.status)}\r\n`,
    });
    this.server.onBodyError = (_exchange, error) =>
      new ProxyError('TRELLIS_ERR_BAD_GATEWAY_REQUEST', `malformed request body: ${error.reason}`);
    this.server.onBodyTimeout = (_exchange, idle) =>
      new ProxyError(
        'TRELLIS_ERR_REQUEST_TIMEOUT',
        idle
          ? 'no request body received within limits.requestBodyIdleTimeoutMs'
          : 'the request body did not arrive within limits.requestTimeoutMs',
      );
  }

  /** An exception on the request path (a bug): answered as the proxy's own error, and logged. */
  fail(exchange: ServerExchange, error: unknown): void {
    this.deps.log.warn({ err: error, listener: this.name }, 'request failed inside the proxy');
    if (!exchange.responded) {
      const reply = localReply(
        error instanceof ProxyError
          ? error
          : new ProxyError('TRELLIS_ERR_UPSTREAM_RESET', 'internal proxy error'),
      );
      exchange.respond(reply.status, undefined, reply.headers, reply.body);
    } else exchange.connection.destroy();
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
    headers: Fields,
    hostField: string | undefined,
  ): Resolved {
    const host = hostOnly(hostField);
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
      const port = hostPort(hostField, 80);
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
      hashKey: target.hashHeader ? headers.get(target.hashHeader) : undefined,
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
        dispatch: (request, reply) => {
          request.context.endpoint = endpoint;
          send(request, reply);
        },
      };
      if (this.origins.size < 4096) this.origins.set(key, origin);
    }
    return origin;
  }

  private handle(exchange: ServerExchange): void {
    const { recorder, node } = this.deps;
    recorder.activeChange(1);
    const snapshot = this.deps.current();
    const listener = snapshot.listeners.get(this.name);
    const headers = exchange.fields;
    const fieldCount = headers.size;
    const originalHost = headers.get('host');
    // Before anything reads the path or the Host: routing, authorization, telemetry and the upstream see this one.
    const requested = requestTarget(exchange, snapshot.config.http.mergeSlashes);
    const url = typeof requested === 'string' ? requested : exchange.target;
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = exchange.method;
    addForwarding(headers, {
      clientAddress: exchange.socket.remoteAddress,
      proto: 'http',
      host: originalHost,
    });

    if (exchange.body !== null) {
      const { requestBodyIdleTimeoutMs, requestTimeoutMs } = snapshot.config.limits;
      exchange.watchBody({ idleMs: requestBodyIdleTimeoutMs, totalMs: requestTimeoutMs });
    }

    const call = new Call(this, exchange, listener, method, url, path);
    let identity: string | undefined;
    headers.deleteNamed(PEER_IDENTITY);
    if (listener?.mode === 'inbound') {
      // Over mutual TLS the caller is who its certificate says; over plaintext it is unknown, whatever it claims.
      const peer = this.deps.peer?.(exchange.socket);
      if (peer) {
        identity = peer.identity;
        call.flags |= RECORD_MTLS;
        headers.set(PEER_IDENTITY_HEADER, peer.identity);
        call.source = peer.service ?? UNKNOWN_SOURCE;
        headers.set(SOURCE_HEADER, call.source);
      } else {
        call.source = UNKNOWN_SOURCE;
        headers.deleteNamed(SOURCE);
      }
    } else if (listener) headers.setOwn(SOURCE, node.service); // a service name: a DNS label

    try {
      if (!listener) throw new ProxyError('TRELLIS_ERR_NO_ROUTE', `listener ${this.name} is being removed`);
      if (typeof requested !== 'string') throw requested;
      if (fieldCount > snapshot.config.limits.maxHeaders) {
        throw new ProxyError(
          'TRELLIS_ERR_HEADERS_TOO_LARGE',
          `${fieldCount} header fields, more than limits.maxHeaders (${snapshot.config.limits.maxHeaders})`,
        );
      }
      if (listener.mode === 'inbound' && snapshot.authz) {
        call.destination = node.service;
        const verdict = this.authorize(snapshot, identity, call.source, method, path);
        if (verdict.denied !== undefined) {
          call.flags |= RECORD_DENIED;
          throw new ProxyError(
            'TRELLIS_ERR_RBAC_DENIED',
            `authorization policy "${verdict.denied}" denies ${method} ${path} from ${identity ?? 'a caller without a verified identity'}`,
          );
        }
        if (verdict.dryRunDenied !== undefined) call.flags |= RECORD_DRY_RUN_DENIED;
      }
      // requestTarget sets the Host from an absolute-form target; an origin-form one leaves it as it came.
      const host = exchange.target.charCodeAt(0) === SLASH ? originalHost : headers.get('host');
      const resolved = this.resolve(snapshot, listener, method, path, headers, host);
      call.destination = resolved.destination;
      call.target = resolved.target;
      const delay = resolved.target?.rule.fault?.delay;
      if (delay && this.deps.rng() * 100 < delay.percent) {
        sleep(delay.fixedDelayMs, exchange.signal.asSignal).then(
          () => this.proceed(call, snapshot, resolved),
          (error) => call.fail(error),
        );
        return;
      }
      this.proceed(call, snapshot, resolved);
    } catch (error) {
      call.fail(error);
    }
  }

  /** After routing (and a fault's delay): a fault's abort, the rule's header changes, the body, then upstream. */
  private proceed(call: Call, snapshot: Snapshot, resolved: Resolved): void {
    try {
      const exchange = call.exchange;
      const rule = resolved.target?.rule;
      if (rule?.fault?.abort && this.deps.rng() * 100 < rule.fault.abort.percent) {
        throw new ProxyError(
          'TRELLIS_ERR_FAULT_ABORT',
          `aborted by fault injection in route ${rule.name}`,
          rule.fault.abort.httpStatus,
        );
      }
      if (rule) applyHeaderOps(exchange.fields, rule.headers.request);
      const reading = readBody(exchange, snapshot.config.limits.retryBufferBytes, exchange.signal);
      if (reading instanceof Promise) {
        reading.then(
          (body) => this.forward(call, resolved, body),
          (error) => call.fail(error),
        );
        return;
      }
      this.forward(call, resolved, reading);
    } catch (error) {
      call.fail(error);
    }
  }

  private forward(call: Call, resolved: Resolved, body: Buffer | BodySource | null): void {
    const exchange = call.exchange;
    const headers = exchange.fields;
    call.received = body;
    const target = resolved.target;
    if (
      target?.mirror &&
      (body === null || Buffer.isBuffer(body)) &&
      this.deps.rng() * 100 < target.mirror.percent
    ) {
      this.mirror(target.mirror.dispatch, call.method, call.url, headers, body, resolved.hashKey);
    }
    try {
      resolved.dispatch(
        {
          method: call.method,
          path: call.url,
          headers,
          body,
          signal: exchange.signal.asSignal,
          context: { hashKey: resolved.hashKey, tried: NOTHING_TRIED, retries: 0 },
        },
        call,
      );
    } catch (error) {
      call.fail(error); // a Dispatch does not throw; if one did, the client still gets an answer
    }
  }

  /** The answer to `call` (the upstream's, or the proxy's own for `failure`), sent, and recorded once done. */
  finish(call: Call, answer: ProxyResponse | undefined, failure: unknown): void {
    const exchange = call.exchange;
    const signal = exchange.signal;
    const { clock, recorder } = this.deps;
    let response: ProxyResponse;
    if (answer === undefined) {
      if (signal.aborted && !(signal.reason instanceof ProxyError)) {
        recorder.activeChange(-1);
        recorder.record(
          call.source,
          call.destination,
          '',
          0,
          clock.now() - exchange.startedAt,
          bytesOf(call.received),
          0,
          call.flags,
        );
        return;
      }
      // A body that stalled aborts the request with its 408 (the server's sweep), whatever the step it interrupted threw.
      const cause = signal.reason instanceof ProxyError ? signal.reason : failure;
      response = localReply(
        cause instanceof ProxyError ? cause : new ProxyError('TRELLIS_ERR_UPSTREAM_RESET', String(cause)),
      );
      if (
        cause instanceof ProxyError &&
        (cause.code === 'TRELLIS_ERR_REQUEST_TIMEOUT' || cause === signal.reason)
      ) {
        exchange.connection.closeAfter = true;
      }
    } else response = answer;
    if (
      response.headers.get(ERROR_HEADER) === RBAC_DENIED_TAG &&
      response.status === 403 &&
      response.endpoint
    ) {
      // The callee's sidecar denied the call: the caller's reports count it too.
      call.flags |= RECORD_DENIED;
    }
    call.response = response;
    exchange.onDone = call.done;
    const target = call.target;
    if (target) applyHeaderOps(response.headers, target.rule.headers.response);
    exchange.respond(
      response.status,
      response.reason,
      response.headers,
      response.body,
      response.declaredLength ?? -1,
    );
  }

  /** The exchange is over: its telemetry and access log line. */
  recordDone(call: Call): void {
    const { clock, recorder } = this.deps;
    const exchange = call.exchange;
    const response = call.response as ProxyResponse;
    const duration = clock.now() - exchange.startedAt;
    const endpoint = response.endpoint?.key ?? '';
    recorder.activeChange(-1);
    if (
      call.listener?.mode !== 'inbound' &&
      response.endpoint?.mesh === true &&
      this.deps.strictMtls?.() === true
    ) {
      call.flags |= RECORD_MTLS;
    }
    const sent = exchange.sent;
    recorder.record(
      call.source,
      call.destination,
      endpoint,
      response.status,
      duration,
      bytesOf(call.received),
      sent,
      call.flags,
    );
    if (this.deps.accessLog) {
      this.deps.log.info(
        {
          access: true,
          method: call.method,
          path: call.path,
          status: response.status,
          durationMs: Math.round(duration * 1000) / 1000,
          source: call.source,
          destination: call.destination,
          endpoint,
          error: response.headers.get(ERROR_HEADER),
          requestId: exchange.fields.get('x-request-id'),
          bytesIn: bytesOf(call.received),
          bytesOut: sent,
        },
        'request',
      );
    }
  }

  private mirror(
    dispatch: Dispatch,
    method: string,
    url: string,
    headers: Fields,
    body: Buffer | null,
    hashKey?: string,
  ) {
    const copy = headers.clone();
    const host = headers.get('host');
    if (host) copy.set('host', `${hostOnly(host)}-shadow`);
    call(dispatch, {
      method,
      path: url,
      headers: copy,
      body,
      signal: new LiteSignal().asSignal,
      context: { hashKey, tried: NOTHING_TRIED, retries: 0 },
    }).then(
      (r) => {
        const b = r.body;
        if (b !== null && !Buffer.isBuffer(b)) b.dump();
      },
      () => {},
    );
  }
}

/** Request body bytes received so far. */
function bytesOf(body: Buffer | BodySource | null): number {
  return body === null ? 0 : Buffer.isBuffer(body) ? body.length : body.received;
}

/**
 * The request body: small ones (up to the retry buffer) are read into memory so that retries and mirrors can resend
 * them; larger or length-less ones stream through untouched, and are then never retried. A buffered read ends with
 * the signal's reason as soon as it is aborted (a stalled body's 408).
 */
function readBody(
  exchange: ServerExchange,
  bufferLimit: number,
  signal: LiteSignal,
): Promise<Buffer | BodySource | null> | Buffer | BodySource | null {
  const body = exchange.body;
  if (body === null) return null;
  if (body.length < 0 || body.length > bufferLimit) return body;
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      body.abort();
      reject(signal.reason);
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort);
    collect(body, bufferLimit).then(
      (buffer) => {
        signal.removeEventListener('abort', onAbort);
        resolve(buffer);
      },
      (error) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * One request through a listener: what telemetry and the access log need of it, and the Reply the route's chain
 * answers to. It is also the exchange's onDone. An exception while answering (a bug) is caught here, so that it
 * reaches neither the upstream connection's read that delivered the answer nor the client's.
 */
class Call implements Reply {
  source: string;
  destination = '';
  flags = 0;
  received: Buffer | BodySource | null = null;
  target: RouteTarget | undefined = undefined;
  response: ProxyResponse | undefined = undefined;

  constructor(
    private readonly owner: HttpListener,
    readonly exchange: ServerExchange,
    readonly listener: Listener | undefined,
    readonly method: string,
    readonly url: string,
    readonly path: string,
  ) {
    this.source = owner.deps.node.service;
  }

  /** Answered already: a second report (a stage's bug) is ignored rather than answering twice. */
  private settled = false;

  respond(response: ProxyResponse): void {
    this.settle(response, undefined);
  }

  fail(error: unknown): void {
    this.settle(undefined, error);
  }

  private settle(answer: ProxyResponse | undefined, failure: unknown): void {
    if (this.settled) return;
    this.settled = true;
    try {
      this.owner.finish(this, answer, failure);
    } catch (error) {
      this.owner.fail(this.exchange, error);
    }
  }

  readonly done = (): void => this.owner.recordDone(this);
}

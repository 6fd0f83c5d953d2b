/**
 * Connect stage: the innermost Dispatch. Sends the attempt to the endpoint the balance stage chose, through
 * that endpoint's pool, streaming the body both ways. It reports each attempt's outcome (for outlier detection)
 * and maps transport failures onto the proxy's error codes: refused/unreachable/timeout to connect → 502
 * upstream_connect_failure, a dropped connection → 502 upstream_reset, an abort → the abort's reason.
 *
 * A pooled keep-alive connection can be closed by the upstream just as a request is written to it (HTTP/1.1's
 * keep-alive race: Node servers close idle connections after 5 s). Such a failure says nothing about the
 * upstream's health, so an idempotent request with a replayable body that meets one (a close of a connection that
 * had already carried a response, or a reset, which comes without that detail) is sent once more, on another
 * connection, before anything is reported; as Go's HTTP transport and browsers do. Route retry policies are not
 * involved.
 */
import type { PoolReply, UpstreamPool, UpstreamResponse } from '../engine/upstream.ts';
import { ProxyError } from '../errors.ts';
import type { Dispatch, EndpointState, Outcome, ProxyRequest, Reply } from '../types.ts';
import { onResponseDone } from './release.ts';

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'UPSTREAM_CONNECT_TIMEOUT',
]);

const CONNECT_FAILURE: Outcome = { kind: 'connect-failure' };
const RESET: Outcome = { kind: 'reset' };
const TIMEOUT: Outcome = { kind: 'timeout' };
/** Outcome objects for every status, made once, so reporting allocates nothing per request. */
const RESPONSES: Outcome[] = Array.from({ length: 600 }, (_, status) => ({ kind: 'response', status }));

/** Maps a transport error to a ProxyError and the outcome to report. */
export function classifyError(
  error: unknown,
  signal: AbortSignal,
): { error: Error; outcome: Outcome | null } {
  if (signal.aborted) {
    const reason = signal.reason;
    if (reason instanceof ProxyError) {
      return { error: reason, outcome: reason.code === 'TRELLIS_ERR_UPSTREAM_TIMEOUT' ? TIMEOUT : null };
    }
    return { error: reason instanceof Error ? reason : new Error('request aborted'), outcome: null };
  }
  return classifyTransportError(error);
}

/** Maps a failure to connect or of the connection (no abort involved) to a ProxyError and the outcome to report. */
export function classifyTransportError(error: unknown): { error: ProxyError; outcome: Outcome } {
  const e = error as { code?: string; cause?: { code?: string }; message?: string };
  const code = e.code ?? e.cause?.code ?? '';
  if (CONNECT_CODES.has(code) || CONNECT_CODES.has(e.cause?.code ?? '')) {
    return {
      error: new ProxyError('TRELLIS_ERR_UPSTREAM_CONNECT', `${code}: ${e.message ?? ''}`),
      outcome: CONNECT_FAILURE,
    };
  }
  return {
    error: new ProxyError('TRELLIS_ERR_UPSTREAM_RESET', `${code || 'reset'}: ${e.message ?? ''}`),
    outcome: RESET,
  };
}

/** RFC 9110's idempotent methods: sending one twice has the effect of sending it once. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/**
 * Whether `error` is the keep-alive race: a reused connection closed (or reset: a server that drops an idle
 * connection holding unread bytes sends one) before any byte of this response arrived.
 */
function staleConnection(error: unknown): boolean {
  return (error as { stale?: boolean }).stale === true;
}

export interface ConnectTarget {
  dispatcher(endpoint: EndpointState): UpstreamPool;
  report(endpoint: EndpointState, outcome: Outcome): void;
}

/**
 * One attempt at the chosen endpoint, as the pool's reply: it reports the outcome, keeps the endpoint's request
 * count, and resends once on the keep-alive race.
 */
class Attempt implements PoolReply {
  private resent = false;

  constructor(
    private readonly target: ConnectTarget,
    private readonly endpoint: EndpointState,
    private readonly request: ProxyRequest,
    private readonly reply: Reply,
  ) {}

  send(): void {
    const request = this.request;
    try {
      this.target
        .dispatcher(this.endpoint)
        .send(
          { method: request.method, path: request.path, fields: request.headers, body: request.body },
          request.signal,
          this,
        );
    } catch (error) {
      this.fail(error);
    }
  }

  resolve(response: UpstreamResponse): void {
    const endpoint = this.endpoint;
    this.target.report(endpoint, RESPONSES[response.status] ?? { kind: 'response', status: response.status });
    // In flight until its body is delivered (or abandoned): at once for a body that came whole.
    onResponseDone(response.body, endpoint);
    this.reply.respond({
      status: response.status,
      reason: response.reason,
      headers: response.fields,
      body: response.body,
      declaredLength: response.declaredLength,
      endpoint,
    });
  }

  reject(error: unknown): void {
    const request = this.request;
    if (
      !this.resent &&
      !request.signal.aborted &&
      (request.body === null || Buffer.isBuffer(request.body)) &&
      IDEMPOTENT.has(request.method) &&
      staleConnection(error)
    ) {
      this.resent = true;
      this.send();
      return;
    }
    this.fail(error);
  }

  private fail(error: unknown): void {
    this.endpoint.active -= 1;
    const { error: mapped, outcome } = classifyError(error, this.request.signal);
    if (outcome) this.target.report(this.endpoint, outcome);
    this.reply.fail(mapped);
  }
}

export function connect(target: ConnectTarget): Dispatch {
  return (request, reply) => {
    const endpoint = request.context.endpoint;
    if (!endpoint) {
      reply.fail(new Error('connect stage reached without an endpoint'));
      return;
    }
    endpoint.active += 1;
    new Attempt(target, endpoint, request, reply).send();
  };
}

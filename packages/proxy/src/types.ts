/**
 * The contracts the proxy's parts share. The request path is a chain of small stages
 * (`Layer = (next: Dispatch) => Dispatch`, as in linkerd2-proxy and undici's interceptors); balancers are pure
 * `pick()` strategies; outlier detection only hears outcomes reported by the request path.
 *
 * A Dispatch reports its outcome to a Reply, as undici's dispatch reports to its handler, rather than returning a
 * promise: a stage that only needs to see the outcome passes on a small Reply of its own, and a request crosses the
 * whole chain with no promise, async frame or microtask per stage. Measured side by side, the promise chain (five
 * async stages) was a fifth of a hop's user CPU. `call` adapts to a promise where that cost does not matter
 * (mirrors, tests).
 */
import type { EndpointHealth, Labels } from '@trellis/schema';
import type { BodySource } from './engine/body.ts';
import type { Fields } from './http1/fields.ts';

/** Milliseconds on a monotonic clock. Injected so that tests control time. */
export interface Clock {
  now(): number;
}

/** Uniform random number in [0, 1). Injected so that tests are deterministic. */
export type Rng = () => number;

export const systemClock: Clock = { now: () => performance.now() };

/**
 * One upstream endpoint of a cluster, as the request path and the detectors see it. The same object lives
 * across config snapshots as long as the endpoint (service, address, port) stays, so its state survives swaps.
 */
export interface EndpointState {
  readonly key: string;
  readonly service: string;
  readonly address: string;
  readonly port: number;
  weight: number;
  labels: Labels;
  zone: string;
  /** From the configuration (or the active health checker). */
  health: EndpointHealth;
  /** Clock time until which outlier detection keeps this endpoint out; 0 when not ejected. */
  ejectedUntil: number;
  /** Requests in flight to this endpoint (least-request balancing reads it). */
  active: number;
  /** A mesh proxy's inbound listener (registered by the proxy): reached over mutual TLS when possible. */
  mesh: boolean;
}

/** "address:port" as a URL or a label writes it: an IPv6 address in brackets. */
export function hostPort(address: string, port: number): string {
  return `${address.includes(':') ? `[${address}]` : address}:${port}`;
}

/** A fresh endpoint state: healthy, not ejected, idle. `key` is "address:port" (IPv6 in brackets). */
export function newEndpointState(
  service: string,
  address: string,
  port: number,
  fields: Partial<Omit<EndpointState, 'service' | 'address' | 'port'>> = {},
): EndpointState {
  return {
    key: hostPort(address, port),
    service,
    address,
    port,
    weight: 1,
    labels: {},
    zone: '',
    health: 'healthy',
    ejectedUntil: 0,
    active: 0,
    mesh: false,
    ...fields,
  };
}

export interface PickContext {
  /** Ring hash: the value of the configured header, when the request has it. */
  hashKey?: string | undefined;
}

/** A balancing strategy over a fixed list of hosts. Rebuilt when the list of usable hosts changes. */
export interface Balancer {
  pick(ctx: PickContext): EndpointState | undefined;
}

/** What an attempt's outcome was, for outlier detection and telemetry. */
export type Outcome =
  | { kind: 'response'; status: number }
  | { kind: 'connect-failure' }
  | { kind: 'reset' }
  | { kind: 'timeout' };

/** Per-request state the stages share: what balancing needs and what has been tried. */
export interface RequestContext {
  /** Ring hash key (value of the policy's hash header), if any. */
  hashKey?: string | undefined;
  /** Endpoints already tried by earlier attempts; a retry prefers another. */
  tried: EndpointState[];
  /** The endpoint chosen for the current attempt (set by the balance stage). */
  endpoint?: EndpointState | undefined;
  retries: number;
}

/**
 * A request on its way upstream. Its fields are the client's as they arrived, edited through an overlay; the
 * serializer leaves out the hop-by-hop ones and writes its own framing.
 */
export interface ProxyRequest {
  method: string;
  /** Path and query, as sent upstream. */
  path: string;
  headers: Fields;
  /** The body: none, a buffer (replayable: retries and mirrors may resend it) or a one-shot stream. */
  body: Buffer | BodySource | null;
  /** Aborted when the client goes away or a timeout fires. */
  signal: AbortSignal;
  context: RequestContext;
}

export interface ProxyResponse {
  status: number;
  /** The upstream's reason phrase, if any. */
  reason?: string | undefined;
  headers: Fields;
  /** None, a whole body (the proxy's own answers) or a stream from the upstream. */
  body: Buffer | BodySource | null;
  /** The Content-Length the upstream declared (-1: none): an answer to HEAD keeps it without a body. */
  declaredLength?: number;
  /** The endpoint that answered (absent for responses the proxy made itself). */
  endpoint?: EndpointState;
}

/** Where a Dispatch reports: exactly one of the two, once. */
export interface Reply {
  respond(response: ProxyResponse): void;
  fail(error: unknown): void;
}

/** Sends the request on and reports to `reply`; never throws (a failure is `reply.fail`). */
export type Dispatch = (request: ProxyRequest, reply: Reply) => void;
export type Layer = (next: Dispatch) => Dispatch;

/** Runs `dispatch` for a promise of its outcome. */
export function call(dispatch: Dispatch, request: ProxyRequest): Promise<ProxyResponse> {
  return new Promise((resolve, reject) => {
    try {
      dispatch(request, { respond: resolve, fail: reject });
    } catch (error) {
      reject(error);
    }
  });
}

/** Composes layers so that the first listed is the outermost: compose(a, b)(connect) = a(b(connect)). */
export function compose(...layers: Layer[]): Layer {
  return (inner) => layers.reduceRight((next, layer) => layer(next), inner);
}

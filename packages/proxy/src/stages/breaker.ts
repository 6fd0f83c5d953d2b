/**
 * Circuit-breaker stage, as Envoy's per-cluster thresholds: a request beyond maxRequests in flight, or beyond
 * maxPendingRequests waiting for one of maxConnections, is refused at once with 503 overflow rather than queued.
 * Retries are limited separately (maxRetries active retries) by the retry stage through the same state.
 */
import type { ConnectionPool } from '@trellis/schema';
import { ProxyError } from '../errors.ts';
import type { Layer, ProxyResponse, Reply } from '../types.ts';
import { onResponseDone } from './release.ts';

export class BreakerState {
  active = 0;
  retries = 0;
  constructor(public limits: ConnectionPool) {}

  get pending(): number {
    return Math.max(0, this.active - this.limits.maxConnections);
  }

  canRetry(): boolean {
    return this.retries < this.limits.maxRetries;
  }
}

/** The call's slot in the breaker, given back when it fails or its response body is done. */
class Slot implements Reply {
  constructor(
    private readonly state: BreakerState,
    private readonly reply: Reply,
  ) {}

  respond(response: ProxyResponse): void {
    onResponseDone(response.body, this.state);
    this.reply.respond(response);
  }

  fail(error: unknown): void {
    this.state.active -= 1;
    this.reply.fail(error);
  }
}

export function breaker(state: BreakerState, onOverflow: () => void): Layer {
  return (next) => (request, reply) => {
    const { maxRequests, maxConnections, maxPendingRequests } = state.limits;
    if (state.active >= maxRequests) {
      onOverflow();
      reply.fail(
        new ProxyError('TRELLIS_ERR_OVERFLOW', `maxRequests (${maxRequests}) requests already in flight`),
      );
      return;
    }
    if (state.active >= maxConnections && state.active - maxConnections >= maxPendingRequests) {
      onOverflow();
      reply.fail(
        new ProxyError(
          'TRELLIS_ERR_OVERFLOW',
          `all ${maxConnections} connections busy and maxPendingRequests (${maxPendingRequests}) waiting`,
        ),
      );
      return;
    }
    state.active += 1;
    next(request, new Slot(state, reply));
  };
}

/**
 * Circuit-breaker stage, as Envoy's per-cluster thresholds: a request beyond maxRequests in flight, or beyond
 * maxPendingRequests waiting for one of maxConnections, is refused at once with 503 overflow rather than queued.
 * Retries are limited separately (maxRetries active retries) by the retry stage through the same state.
 */
import type { ConnectionPool } from '@trellis/schema';
import { ProxyError } from '../errors.ts';
import type { Layer } from '../types.ts';
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

export function breaker(state: BreakerState, onOverflow: () => void): Layer {
  return (next) => async (request) => {
    const { maxRequests, maxConnections, maxPendingRequests } = state.limits;
    if (state.active >= maxRequests) {
      onOverflow();
      throw new ProxyError('TRELLIS_ERR_OVERFLOW', `maxRequests (${maxRequests}) requests already in flight`);
    }
    if (state.active >= maxConnections && state.active - maxConnections >= maxPendingRequests) {
      onOverflow();
      throw new ProxyError(
        'TRELLIS_ERR_OVERFLOW',
        `all ${maxConnections} connections busy and maxPendingRequests (${maxPendingRequests}) waiting`,
      );
    }
    state.active += 1;
    let response: Awaited<ReturnType<typeof next>>;
    try {
      response = await next(request);
    } catch (error) {
      state.active -= 1;
      throw error;
    }
    onResponseDone(response.body, state);
    return response;
  };
}

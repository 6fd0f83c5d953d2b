/**
 * Retry stage: re-sends a failed attempt when the route's retryOn allows it, the body can be replayed (none, or
 * buffered), the retry budget has a token and the breaker's maxRetries is not reached. Waits an exponential
 * backoff with full jitter between attempts. The route timeout around this stage bounds all attempts together.
 */
import type { RetryPolicy } from '@trellis/schema';
import { ProxyError } from '../errors.ts';
import { backoffDelay } from '../resilience/backoff.ts';
import type { RetryBudget } from '../resilience/retry-budget.ts';
import { sleep } from '../signal.ts';
import type { Layer, ProxyResponse, Rng } from '../types.ts';
import type { BreakerState } from './breaker.ts';

export interface RetryDeps {
  budget: RetryBudget;
  breaker: BreakerState;
  rng: Rng;
  /** Called for every retry sent (telemetry). */
  onRetry(): void;
  /** Called when a retry was wanted but the budget or maxRetries refused it. */
  onRetryRefused?(): void;
}

export function retryableStatus(policy: RetryPolicy, status: number): boolean {
  for (const on of policy.retryOn) {
    if (on === '5xx' && status >= 500) return true;
    if (on === 'gateway-error' && (status === 502 || status === 503 || status === 504)) return true;
    if (on === 'retriable-status-codes' && policy.retriableStatusCodes.includes(status)) return true;
  }
  return false;
}

export function retryableError(policy: RetryPolicy, error: unknown): boolean {
  if (!(error instanceof ProxyError)) return false;
  const on = policy.retryOn;
  switch (error.code) {
    case 'TRELLIS_ERR_UPSTREAM_CONNECT':
      return on.includes('connect-failure') || on.includes('5xx') || on.includes('gateway-error');
    case 'TRELLIS_ERR_UPSTREAM_RESET':
      return on.includes('reset') || on.includes('5xx');
    case 'TRELLIS_ERR_UPSTREAM_TIMEOUT':
      return on.includes('5xx') || on.includes('gateway-error') || on.includes('reset');
    default:
      return false;
  }
}

function discard(response: ProxyResponse): void {
  const body = response.body;
  if (body !== null && !Buffer.isBuffer(body)) body.dump();
}

export function retry(policy: RetryPolicy, deps: RetryDeps): Layer {
  return (next) => {
    if (policy.attempts === 0) return next;
    return async (request) => {
      deps.budget.onRequest();
      const replayable = request.body === null || Buffer.isBuffer(request.body);
      let retrying = false;
      for (let attempt = 0; ; attempt++) {
        const last = attempt >= policy.attempts || !replayable;
        let response: ProxyResponse | undefined;
        let failure: unknown;
        try {
          response = await next(request);
        } catch (error) {
          failure = error;
        } finally {
          if (retrying) {
            retrying = false;
            deps.breaker.retries -= 1;
          }
        }
        if (response) {
          if (last || !retryableStatus(policy, response.status)) return response;
        } else if (last || request.signal.aborted || !retryableError(policy, failure)) {
          throw failure;
        }
        if (!deps.breaker.canRetry() || !deps.budget.tryWithdraw()) {
          deps.onRetryRefused?.();
          if (response) return response;
          throw failure;
        }
        if (response) discard(response);
        deps.breaker.retries += 1;
        retrying = true;
        try {
          await sleep(backoffDelay(attempt, policy.backoff, deps.rng), request.signal);
        } catch (aborted) {
          retrying = false;
          deps.breaker.retries -= 1;
          throw aborted;
        }
        request.context.retries += 1;
        deps.onRetry();
      }
    };
  };
}

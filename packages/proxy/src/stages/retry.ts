/**
 * Retry stage: re-sends a failed attempt when the route's retryOn allows it, the body can be replayed (none, or
 * buffered), the retry budget has a token and the breaker's maxRetries is not reached. Waits an exponential
 * backoff with full jitter between attempts. The route timeout around this stage bounds all attempts together.
 * One object per request holds its attempts and is the Reply each of them reports to.
 */
import type { RetryPolicy } from '@trellis/schema';
import { ProxyError } from '../errors.ts';
import { backoffDelay } from '../resilience/backoff.ts';
import type { RetryBudget } from '../resilience/retry-budget.ts';
import type { Dispatch, Layer, ProxyRequest, ProxyResponse, Reply, Rng } from '../types.ts';
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

/** One request's attempts: the Reply each attempt reports to, deciding whether another follows. */
class Attempts implements Reply {
  private attempt = 0;
  /** A retry is in flight: it counts against the breaker's maxRetries until it has an outcome. */
  private retrying = false;
  private readonly replayable: boolean;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly policy: RetryPolicy,
    private readonly deps: RetryDeps,
    private readonly next: Dispatch,
    private readonly request: ProxyRequest,
    private readonly reply: Reply,
  ) {
    this.replayable = request.body === null || Buffer.isBuffer(request.body);
  }

  start(): void {
    this.next(this.request, this);
  }

  private get last(): boolean {
    return this.attempt >= this.policy.attempts || !this.replayable;
  }

  private settleRetry(): void {
    if (!this.retrying) return;
    this.retrying = false;
    this.deps.breaker.retries -= 1;
  }

  respond(response: ProxyResponse): void {
    this.settleRetry();
    if (this.last || !retryableStatus(this.policy, response.status)) this.reply.respond(response);
    else this.retry(response, undefined);
  }

  fail(error: unknown): void {
    this.settleRetry();
    if (this.last || this.request.signal.aborted || !retryableError(this.policy, error))
      this.reply.fail(error);
    else this.retry(undefined, error);
  }

  private retry(response: ProxyResponse | undefined, failure: unknown): void {
    const deps = this.deps;
    if (!deps.breaker.canRetry() || !deps.budget.tryWithdraw()) {
      deps.onRetryRefused?.();
      if (response) this.reply.respond(response);
      else this.reply.fail(failure);
      return;
    }
    if (response) discard(response);
    deps.breaker.retries += 1;
    this.retrying = true;
    const delay = backoffDelay(this.attempt, this.policy.backoff, deps.rng);
    const signal = this.request.signal;
    if (signal.aborted) {
      this.abandon();
      return;
    }
    // Made on the first retry only: most requests never wait.
    this.onAbort ??= () => {
      clearTimeout(this.timer);
      this.abandon();
    };
    this.resend ??= () => {
      this.request.signal.removeEventListener('abort', this.onAbort as () => void);
      this.attempt += 1;
      this.request.context.retries += 1;
      this.deps.onRetry();
      this.next(this.request, this);
    };
    signal.addEventListener('abort', this.onAbort);
    this.timer = setTimeout(this.resend, Math.max(0, delay));
  }

  private onAbort: (() => void) | undefined = undefined;
  private resend: (() => void) | undefined = undefined;

  private abandon(): void {
    this.retrying = false;
    this.deps.breaker.retries -= 1;
    this.reply.fail(this.request.signal.reason);
  }
}

export function retry(policy: RetryPolicy, deps: RetryDeps): Layer {
  return (next) => {
    if (policy.attempts === 0) return next;
    return (request, reply) => {
      deps.budget.onRequest();
      new Attempts(policy, deps, next, request, reply).start();
    };
  };
}

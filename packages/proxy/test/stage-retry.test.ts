/** The retry stage: which outcomes are retried, replayable bodies only, budget and maxRetries, backoff. */
import { ConnectionPool, RetryBudget as RetryBudgetConfig, RetryPolicy } from '@trellis/schema';
import { describe, expect, it } from 'vitest';
import { ProxyError } from '../src/errors.ts';
import { RetryBudget } from '../src/resilience/retry-budget.ts';
import { mulberry32 } from '../src/rng.ts';
import { BreakerState } from '../src/stages/breaker.ts';
import { retryableError, retryableStatus, retry as retryStage } from '../src/stages/retry.ts';
import { layered, request, scripted, streamOf } from './support/dispatch.ts';

const retry = layered(retryStage);

function deps(budget = RetryBudgetConfig.parse({ enabled: false }), pool = ConnectionPool.parse({})) {
  let retries = 0;
  let refused = 0;
  return {
    budget: new RetryBudget(budget, { now: () => 0 }),
    breaker: new BreakerState(pool),
    rng: mulberry32(7),
    onRetry: () => {
      retries += 1;
    },
    onRetryRefused: () => {
      refused += 1;
    },
    get retries() {
      return retries;
    },
    get refused() {
      return refused;
    },
  };
}

const fast = { backoff: { baseIntervalMs: 1, maxIntervalMs: 2 } };

describe('retry stage', () => {
  it.each([
    ['5xx', 500, true],
    ['5xx', 404, false],
    ['gateway-error', 503, true],
    ['gateway-error', 500, false],
    ['retriable-status-codes', 429, true],
  ] as const)('retryOn %s, status %i → retried: %s', (on, status, expected) => {
    const policy = RetryPolicy.parse({ retryOn: [on], retriableStatusCodes: [429] });
    expect(retryableStatus(policy, status)).toBe(expected);
  });

  it.each([
    ['connect-failure', 'TRELLIS_ERR_UPSTREAM_CONNECT', true],
    ['connect-failure', 'TRELLIS_ERR_UPSTREAM_RESET', false],
    ['reset', 'TRELLIS_ERR_UPSTREAM_RESET', true],
    ['5xx', 'TRELLIS_ERR_UPSTREAM_TIMEOUT', true],
    ['5xx', 'TRELLIS_ERR_OVERFLOW', false],
  ] as const)('retryOn %s, error %s → retried: %s', (on, code, expected) => {
    expect(retryableError(RetryPolicy.parse({ retryOn: [on] }), new ProxyError(code))).toBe(expected);
  });

  it('retries a 503 and returns the next answer', async () => {
    const d = deps();
    const inner = scripted([503, 200]);
    const res = await retry(RetryPolicy.parse({ attempts: 2, retryOn: ['5xx'], ...fast }), d)(inner)(
      request(),
    );
    expect(res.status).toBe(200);
    expect(inner.calls).toHaveLength(2);
    expect(d.retries).toBe(1);
  });

  it('stops after `attempts` retries and returns the last answer', async () => {
    const inner = scripted([503]);
    const res = await retry(RetryPolicy.parse({ attempts: 3, retryOn: ['5xx'], ...fast }), deps())(inner)(
      request(),
    );
    expect(res.status).toBe(503);
    expect(inner.calls).toHaveLength(4);
  });

  it('retries a connect failure and rethrows the last error', async () => {
    const failure = new ProxyError('TRELLIS_ERR_UPSTREAM_CONNECT');
    const inner = scripted([failure]);
    await expect(retry(RetryPolicy.parse({ attempts: 1, ...fast }), deps())(inner)(request())).rejects.toBe(
      failure,
    );
    expect(inner.calls).toHaveLength(2);
  });

  it('does not retry a streamed (non-replayable) body', async () => {
    const inner = scripted([503, 200]);
    const res = await retry(RetryPolicy.parse({ attempts: 2, retryOn: ['5xx'], ...fast }), deps())(inner)(
      request({ method: 'POST', body: streamOf('x') }),
    );
    expect(res.status).toBe(503);
    expect(inner.calls).toHaveLength(1);
  });

  it('resends a buffered body', async () => {
    const inner = scripted([503, 200]);
    const body = Buffer.from('payload');
    await retry(RetryPolicy.parse({ attempts: 1, retryOn: ['5xx'], ...fast }), deps())(inner)(
      request({ method: 'POST', body }),
    );
    expect(inner.calls.map((c) => c.body)).toEqual([body, body]);
  });

  it('the retry budget refuses retries once spent', async () => {
    const d = deps(RetryBudgetConfig.parse({ budgetPercent: 50, minRetriesPerSecond: 0 }));
    const inner = scripted([503]);
    const stage = retry(RetryPolicy.parse({ attempts: 1, retryOn: ['5xx'], ...fast }), d)(inner);
    for (let i = 0; i < 4; i++) await stage(request());
    expect(d.retries).toBe(2);
    expect(d.refused).toBe(2);
    expect(inner.calls).toHaveLength(6);
  });

  it('maxRetries 0 refuses every retry', async () => {
    const d = deps(undefined, ConnectionPool.parse({ maxRetries: 0 }));
    const inner = scripted([503, 200]);
    const res = await retry(RetryPolicy.parse({ attempts: 2, retryOn: ['5xx'], ...fast }), d)(inner)(
      request(),
    );
    expect(res.status).toBe(503);
    expect(d.refused).toBe(1);
  });

  it('counts the retry on the request context', async () => {
    const req = request();
    await retry(
      RetryPolicy.parse({ attempts: 2, retryOn: ['5xx'], ...fast }),
      deps(),
    )(scripted([503, 503, 200]))(req);
    expect(req.context.retries).toBe(2);
  });
});

/** The circuit-breaker stage: limits on requests in flight and on pending requests, released when bodies end. */
import { ConnectionPool } from '@trellis/schema';
import { describe, expect, it } from 'vitest';
import { ProxyError } from '../src/errors.ts';
import { BreakerState, breaker as breakerStage } from '../src/stages/breaker.ts';
import type { ProxyResponse } from '../src/types.ts';
import { type AsyncDispatch, drain, layered, request, response } from './support/dispatch.ts';

const breaker = layered(breakerStage);

describe('breaker stage', () => {
  it('refuses the request beyond maxRequests with 503 overflow, and frees the slot when the body ends', async () => {
    const state = new BreakerState(ConnectionPool.parse({ maxRequests: 2 }));
    let overflows = 0;
    const inner: AsyncDispatch = async () => response(200, 'body');
    const stage = breaker(state, () => {
      overflows += 1;
    })(inner);
    const a = await stage(request());
    const b = await stage(request());
    expect(state.active).toBe(2);
    const error = (await stage(request()).catch((e) => e)) as ProxyError;
    expect(error.code).toBe('TRELLIS_ERR_OVERFLOW');
    expect(error.status).toBe(503);
    expect(overflows).toBe(1);
    await drain(a.body);
    expect(state.active).toBe(1);
    await drain(b.body);
    expect(state.active).toBe(0);
    expect((await stage(request())).status).toBe(200);
  });

  it('counts pending requests beyond maxConnections against maxPendingRequests', async () => {
    const state = new BreakerState(ConnectionPool.parse({ maxConnections: 1, maxPendingRequests: 1 }));
    const stage = breaker(state, () => {})(() => new Promise<ProxyResponse>(() => {}));
    void stage(request());
    void stage(request());
    expect(state.active).toBe(2);
    expect(state.pending).toBe(1);
    await expect(stage(request())).rejects.toMatchObject({ code: 'TRELLIS_ERR_OVERFLOW' });
  });

  it('releases the slot when the inner call fails', async () => {
    const state = new BreakerState(ConnectionPool.parse({ maxRequests: 1 }));
    const stage = breaker(state, () => {})(async () => {
      throw new ProxyError('TRELLIS_ERR_UPSTREAM_RESET');
    });
    await expect(stage(request())).rejects.toBeInstanceOf(ProxyError);
    expect(state.active).toBe(0);
  });

  it('tracks active retries against maxRetries', () => {
    const state = new BreakerState(ConnectionPool.parse({ maxRetries: 1 }));
    expect(state.canRetry()).toBe(true);
    state.retries = 1;
    expect(state.canRetry()).toBe(false);
  });
});

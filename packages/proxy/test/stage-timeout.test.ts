/** The timeout stage: 504 upstream_timeout when no response in time; no effect on a prompt answer. */
import { describe, expect, it } from 'vitest';
import { ProxyError } from '../src/errors.ts';
import { timeout as timeoutStage } from '../src/stages/timeout.ts';
import type { Dispatch } from '../src/types.ts';
import { type AsyncDispatch, layered, request, response } from './support/dispatch.ts';

const timeout = layered(timeoutStage);

const hangs: AsyncDispatch = (req) =>
  new Promise((_resolve, reject) => req.signal.addEventListener('abort', () => reject(req.signal.reason)));

describe('timeout stage', () => {
  it('aborts the inner call with upstream_timeout', async () => {
    const error = await timeout(20)(hangs)(request()).catch((e) => e);
    expect(error).toBeInstanceOf(ProxyError);
    expect((error as ProxyError).code).toBe('TRELLIS_ERR_UPSTREAM_TIMEOUT');
    expect((error as ProxyError).status).toBe(504);
  });

  it('passes a prompt response through and leaves no timer behind', async () => {
    const res = await timeout(1000)(async () => response(201))(request());
    expect(res.status).toBe(201);
  });

  it('propagates the caller aborting', async () => {
    const caller = new AbortController();
    const pending = timeout(10_000)(hangs)(request({ signal: caller.signal }));
    caller.abort(new Error('client left'));
    await expect(pending).rejects.toThrow('client left');
  });

  it('is a no-op without a duration', () => {
    const inner: Dispatch = (_request, reply) => reply.respond(response(200));
    expect(timeoutStage(undefined)(inner)).toBe(inner);
  });
});

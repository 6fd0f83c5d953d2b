/** Fake requests and inner dispatches for testing one stage at a time. */
import { Readable } from 'node:stream';
import type { Dispatch, ProxyRequest, ProxyResponse } from '../../src/types.ts';

export function request(overrides: Partial<ProxyRequest> = {}): ProxyRequest {
  return {
    method: 'GET',
    path: '/',
    headers: {},
    body: null,
    signal: new AbortController().signal,
    context: { tried: [], retries: 0 },
    ...overrides,
  };
}

export function response(status: number, body?: string): ProxyResponse {
  return { status, headers: {}, body: body === undefined ? null : Readable.from([Buffer.from(body)]) };
}

/** A dispatch that answers from a script of results (a status, or an Error to throw), recording each call. */
export function scripted(script: (number | Error)[]): Dispatch & { calls: ProxyRequest[] } {
  const calls: ProxyRequest[] = [];
  const fn = (async (req: ProxyRequest) => {
    calls.push(req);
    const next = script[Math.min(calls.length - 1, script.length - 1)];
    if (next instanceof Error) throw next;
    return response(next ?? 200);
  }) as Dispatch & { calls: ProxyRequest[] };
  fn.calls = calls;
  return fn;
}

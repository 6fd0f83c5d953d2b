/** Fake requests and inner dispatches for testing one stage at a time. */
import { type BodySource, PushBody } from '../../src/engine/body.ts';
import { Fields } from '../../src/http1/fields.ts';
import type { Dispatch, ProxyRequest, ProxyResponse } from '../../src/types.ts';

export function request(overrides: Partial<ProxyRequest> = {}): ProxyRequest {
  return {
    method: 'GET',
    path: '/',
    headers: Fields.of({}),
    body: null,
    signal: new AbortController().signal,
    context: { tried: [], retries: 0 },
    ...overrides,
  };
}

/** A streamed body holding `text`, which ends once it is read: what an upstream's answer body is to the stages. */
export function streamOf(text: string): PushBody {
  const body = new PushBody(-1, { pause() {}, resume() {}, abort() {} });
  body.push(Buffer.from(text));
  const pipe = body.pipe.bind(body);
  body.pipe = (sink) => {
    pipe(sink);
    body.finish();
  };
  return body;
}

/** Reads a streamed body to its end (a client taking the whole answer). */
export function drain(body: Buffer | BodySource | null): Promise<void> {
  if (body === null || Buffer.isBuffer(body)) return Promise.resolve();
  return new Promise((resolve) => {
    body.whenSettled(resolve);
    body.dump();
  });
}

export function response(status: number, body?: string): ProxyResponse {
  return { status, headers: Fields.of({}), body: body === undefined ? null : streamOf(body) };
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

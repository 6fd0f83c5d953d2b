/** Fake requests and inner dispatches for testing one stage at a time. */
import { type BodySource, PushBody } from '../../src/engine/body.ts';
import { Fields } from '../../src/http1/fields.ts';
import { call, type Dispatch, type Layer, type ProxyRequest, type ProxyResponse } from '../../src/types.ts';

/** A stage's inner call as the tests write it: an async function. */
export type AsyncDispatch = (request: ProxyRequest) => Promise<ProxyResponse>;

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
export function scripted(script: (number | Error)[]): AsyncDispatch & { calls: ProxyRequest[] } {
  const calls: ProxyRequest[] = [];
  const fn = (async (req: ProxyRequest) => {
    calls.push(req);
    const next = script[Math.min(calls.length - 1, script.length - 1)];
    if (next instanceof Error) throw next;
    return response(next ?? 200);
  }) as AsyncDispatch & { calls: ProxyRequest[] };
  fn.calls = calls;
  return fn;
}

/** A Dispatch made of an async function: the inner end of a stage under test. */
export function fromAsync(fn: AsyncDispatch): Dispatch {
  return (request, reply) => {
    fn(request).then(
      (response) => reply.respond(response),
      (error) => reply.fail(error),
    );
  };
}

/** A Dispatch called for a promise of its outcome. */
export function promised(dispatch: Dispatch): AsyncDispatch {
  return (request) => call(dispatch, request);
}

/**
 * A stage as the tests drive it: made with the stage's own arguments, over an async inner call, called for a
 * promise. `layered(retry)(policy, deps)(inner)(request)` runs the real stage between the two adapters.
 */
export function layered<A extends unknown[]>(make: (...args: A) => Layer) {
  return (...args: A) =>
    (inner: AsyncDispatch): AsyncDispatch =>
      promised(make(...args)(fromAsync(inner)));
}

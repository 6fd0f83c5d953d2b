import { ProxyStatusList } from '@trellis/schema';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ApiError,
  getAllPages,
  getJson,
  putJson,
  send,
  sendJson,
  setCsrfToken,
  setUnauthenticatedHandler,
} from '../src/lib/api.ts';

const answer = (status: number, body: unknown) => async () =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('getJson', () => {
  it('returns the parsed answer', async () => {
    const data = await getJson(
      '/api/v1/proxies',
      ProxyStatusList,
      undefined,
      answer(200, { items: [], replicas: [] }),
    );
    expect(data).toEqual({ items: [], replicas: [] });
  });

  it('rejects an answer that does not match the schema', async () => {
    await expect(
      getJson('/api/v1/proxies', ProxyStatusList, undefined, answer(200, { items: 3 })),
    ).rejects.toThrow(/unexpected answer \(items:/);
  });

  it("carries the API's message and status", async () => {
    const err = await getJson('/x', ProxyStatusList, undefined, answer(503, { message: 'not ready' })).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(503);
    expect((err as ApiError).message).toContain('not ready');
  });

  it('reports an unreachable control plane with status 0', async () => {
    const err = await getJson('/x', ProxyStatusList, undefined, async () => {
      throw new TypeError('fetch failed');
    }).catch((e: unknown) => e);
    expect((err as ApiError).status).toBe(0);
  });
});

describe('getAllPages', () => {
  it('follows the cursors, keeping the query of the path', async () => {
    const asked: string[] = [];
    const fetchImpl = async (input: string | URL | Request) => {
      const url = new URL(String(input), 'http://console');
      asked.push(`${url.pathname}${url.search}`);
      const cursor = url.searchParams.get('cursor');
      const body = cursor ? { items: [3], nextCursor: null } : { items: [1, 2], nextCursor: 'Mg' };
      return new Response(JSON.stringify(body), { status: 200 });
    };
    const items = await getAllPages('/api/v1/routes?service=service-c', z.number(), undefined, fetchImpl);
    expect(items).toEqual([1, 2, 3]);
    expect(asked).toEqual([
      '/api/v1/routes?service=service-c&limit=500',
      '/api/v1/routes?service=service-c&limit=500&cursor=Mg',
    ]);
  });
});

describe('getAllPages of a list that does not page', () => {
  it('takes a missing nextCursor as the last page', async () => {
    let calls = 0;
    const fetchImpl = async () => {
      calls++;
      return new Response(JSON.stringify({ items: [1, 2] }), { status: 200 });
    };
    expect(await getAllPages('/api/v1/tokens', z.number(), undefined, fetchImpl)).toEqual([1, 2]);
    expect(calls).toBe(1);
  });
});

describe('putJson', () => {
  it('sends the JSON body and returns the answer with the revision it created', async () => {
    let sent: RequestInit | undefined;
    const fetchImpl = async (_input: string | URL | Request, init?: RequestInit) => {
      sent = init;
      return new Response(JSON.stringify({ n: 7 }), {
        status: 200,
        headers: { 'content-type': 'application/json', 'x-trellis-revision': '42' },
      });
    };
    const change = await putJson('/api/v1/routes/r', { a: 1 }, z.object({ n: z.number() }), fetchImpl);
    expect(change).toEqual({ value: { n: 7 }, revision: 42 });
    expect(sent?.method).toBe('PUT');
    expect(sent?.body).toBe('{"a":1}');
    expect(new Headers(sent?.headers).get('content-type')).toBe('application/json');
  });

  it('carries the problem+json of a refusal: field errors, or the current resource on a conflict', async () => {
    const problem = {
      type: 'https://trellis.dev/errors/trellis-err-version-conflict',
      title: 'The resource was changed by someone else',
      status: 409,
      detail: 'route "r" is at version 2, not 1: someone else changed it; reload and re-apply',
      code: 'TRELLIS_ERR_VERSION_CONFLICT',
      current: { name: 'r', version: 2 },
    };
    const err = await putJson('/api/v1/routes/r', {}, z.unknown(), answer(409, problem)).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(409);
    expect((err as ApiError).message).toBe(problem.detail);
    expect((err as ApiError).problem?.current).toEqual({ name: 'r', version: 2 });

    const invalid = {
      ...problem,
      status: 400,
      code: 'TRELLIS_ERR_VALIDATION',
      detail: 'timeoutMs: must be at least 1 ms',
      errors: [{ path: 'timeoutMs', message: 'must be at least 1 ms' }],
    };
    const err400 = await putJson('/x', {}, z.unknown(), answer(400, invalid)).catch((e: unknown) => e);
    expect((err400 as ApiError).problem?.errors).toEqual([
      { path: 'timeoutMs', message: 'must be at least 1 ms' },
    ]);
  });

  it('reports an answer that is not problem+json by its status', async () => {
    const fetchImpl = async () => new Response('Bad Gateway', { status: 502, statusText: 'Bad Gateway' });
    const err = await putJson('/x', {}, z.unknown(), fetchImpl).catch((e: unknown) => e);
    expect((err as ApiError).status).toBe(502);
    expect((err as ApiError).problem).toBeUndefined();
  });
});

describe('sendJson', () => {
  it('sends a DELETE without a body and returns the revision of its 204', async () => {
    let sent: RequestInit | undefined;
    let url = '';
    const fetchImpl = async (input: string | URL | Request, init?: RequestInit) => {
      url = String(input);
      sent = init;
      return new Response(null, { status: 204, headers: { 'x-trellis-revision': '43' } });
    };
    const change = await sendJson(
      'DELETE',
      '/api/v1/routes/r?version=3',
      undefined,
      z.undefined(),
      fetchImpl,
    );
    expect(change).toEqual({ value: undefined, revision: 43 });
    expect(url).toBe('/api/v1/routes/r?version=3');
    expect(sent?.method).toBe('DELETE');
    expect(sent?.body).toBeUndefined();
    expect(new Headers(sent?.headers).get('content-type')).toBeNull();
  });

  it('POSTs the JSON body', async () => {
    let sent: RequestInit | undefined;
    const fetchImpl = async (_input: string | URL | Request, init?: RequestInit) => {
      sent = init;
      return new Response(JSON.stringify({ n: 1 }), { status: 201, headers: { 'x-trellis-revision': '9' } });
    };
    const change = await sendJson('POST', '/api/v1/routes', { n: 1 }, z.object({ n: z.number() }), fetchImpl);
    expect(change).toEqual({ value: { n: 1 }, revision: 9 });
    expect(sent?.method).toBe('POST');
    expect(sent?.body).toBe('{"n":1}');
  });
});

describe('the session', () => {
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { 'content-type': 'application/json', ...headers },
    });

  it('sends the CSRF token with every change', async () => {
    setCsrfToken('tok-1');
    let sent: RequestInit | undefined;
    const fetchImpl = async (_input: string | URL | Request, init?: RequestInit) => {
      sent = init;
      return json(200, { n: 1 }, { 'x-trellis-revision': '5' });
    };
    await sendJson('PUT', '/api/v1/routes/r', {}, z.object({ n: z.number() }), fetchImpl);
    expect(new Headers(sent?.headers).get('x-trellis-csrf')).toBe('tok-1');
  });

  it("reads the session's token when it has none, and again after a CSRF refusal", async () => {
    setCsrfToken(undefined);
    const calls: string[] = [];
    let meAnswers = 0;
    const fetchImpl = async (input: string | URL | Request, init?: RequestInit) => {
      const url = String(input);
      if (url === '/api/v1/auth/me') {
        meAnswers++;
        calls.push(`me`);
        return json(200, { csrfToken: `tok-${meAnswers}` });
      }
      const token = new Headers(init?.headers).get('x-trellis-csrf');
      calls.push(`${init?.method} ${token}`);
      if (token === 'tok-1') return json(403, { code: 'TRELLIS_ERR_CSRF', detail: 'stale' });
      return json(201, { n: 2 }, { 'x-trellis-revision': '6' });
    };
    const change = await sendJson('POST', '/api/v1/routes', {}, z.object({ n: z.number() }), fetchImpl);
    expect(change.revision).toBe(6);
    expect(calls).toEqual(['me', 'POST tok-1', 'me', 'POST tok-2']);
  });

  it('a 401 sends the browser to the login page, except for a wrong password', async () => {
    setCsrfToken('t');
    let redirects = 0;
    setUnauthenticatedHandler(() => redirects++);
    const unauthenticated = async () => json(401, { code: 'TRELLIS_ERR_UNAUTHENTICATED', detail: 'sign in' });
    await expect(getJson('/api/v1/services', z.unknown(), undefined, unauthenticated)).rejects.toMatchObject({
      status: 401,
    });
    await expect(sendJson('PUT', '/api/v1/routes/r', {}, z.unknown(), unauthenticated)).rejects.toThrow();
    expect(redirects).toBe(2);
    await expect(send('POST', '/api/v1/auth/login', {}, z.unknown(), unauthenticated)).rejects.toMatchObject({
      status: 401,
    });
    expect(redirects).toBe(2);
  });

  it('carries the code of a refusal for the role, and the wait of a rate limit', async () => {
    setCsrfToken('t');
    const forbidden = async () =>
      json(403, {
        type: 'https://trellis.dev/errors/trellis-err-forbidden',
        title: 'The caller lacks the role this needs',
        status: 403,
        detail: 'this needs the editor role',
        code: 'TRELLIS_ERR_FORBIDDEN',
      });
    const err = (await sendJson('PUT', '/x', {}, z.unknown(), forbidden).catch(
      (e: unknown) => e,
    )) as ApiError;
    expect(err.code).toBe('TRELLIS_ERR_FORBIDDEN');
    expect(err.message).toBe('this needs the editor role');
    const limited = async () =>
      json(429, { code: 'TRELLIS_ERR_RATE_LIMITED', detail: 'wait' }, { 'retry-after': '12' });
    const err429 = (await send('POST', '/api/v1/auth/login', {}, z.unknown(), limited).catch(
      (e: unknown) => e,
    )) as ApiError;
    expect(err429.retryAfter).toBe(12);
  });
});

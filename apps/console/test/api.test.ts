import { ProxyStatusList } from '@trellis/schema';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ApiError, getAllPages, getJson, putJson, sendJson } from '../src/lib/api.ts';

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

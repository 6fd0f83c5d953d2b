import { ProxyStatusList } from '@trellis/schema';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ApiError, getAllPages, getJson } from '../src/lib/api.ts';

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

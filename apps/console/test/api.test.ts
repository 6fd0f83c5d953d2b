import { ProxyStatusList } from '@trellis/schema';
import { describe, expect, it } from 'vitest';
import { ApiError, getJson } from '../src/lib/api.ts';

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

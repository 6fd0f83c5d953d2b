/** Small helpers for calling the API in-process (fastify inject) in tests. */
import type { FastifyInstance } from 'fastify';

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | number | undefined>;
}

export async function call<T = any>(
  app: FastifyInstance,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  url: string,
  payload?: unknown,
): Promise<ApiResponse<T>> {
  const res = await app.inject({
    method,
    url,
    ...(payload === undefined
      ? {}
      : {
          payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
          headers: { 'content-type': 'application/json' },
        }),
  });
  const text = res.body;
  return { status: res.statusCode, body: text === '' ? undefined : JSON.parse(text), headers: res.headers };
}

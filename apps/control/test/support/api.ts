/** Small helpers for calling the API in-process (fastify inject) in tests, as an admin unless told otherwise. */
import type { FastifyInstance } from 'fastify';

/** The static admin bearer token every test control plane is given (TRELLIS_ADMIN_TOKEN). */
export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789abcdefghijklmnop';
/** The first-run password of user `admin` in test control planes started with startPlane. */
export const TEST_ADMIN_PASSWORD = 'test-admin-password';

/** `Authorization: Bearer <token>` headers; the test admin token by default. */
export function bearer(token: string = TEST_ADMIN_TOKEN): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | number | undefined>;
}

export interface CallOptions {
  /** A bearer token to send instead of the test admin token; null sends no credentials at all. */
  token?: string | null;
  headers?: Record<string, string>;
}

export async function call<T = any>(
  app: FastifyInstance,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  url: string,
  payload?: unknown,
  options: CallOptions = {},
): Promise<ApiResponse<T>> {
  const token = options.token === undefined ? TEST_ADMIN_TOKEN : options.token;
  const headers: Record<string, string> = {
    ...(token === null ? {} : bearer(token)),
    ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
    ...options.headers,
  };
  const res = await app.inject({
    method,
    url,
    headers,
    ...(payload === undefined
      ? {}
      : { payload: typeof payload === 'string' ? payload : JSON.stringify(payload) }),
  });
  const text = res.body;
  return { status: res.statusCode, body: text === '' ? undefined : JSON.parse(text), headers: res.headers };
}

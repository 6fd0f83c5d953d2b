/**
 * M8 §2: a control plane that stops answering (its event loop held, as the nested-body attack did) must not leave
 * the console "Loading…" for as long as the console's server keeps the request open. A read that gets no answer in
 * READ_TIMEOUT_MS fails as unreachable; the page's banner says so and offers a Retry that reads the page again.
 * The timers here are fake: nothing waits for real.
 */
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { ProxyStatusList } from '@trellis/schema';
import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, ApiTimeoutError, getJson, isUnreachable, READ_TIMEOUT_MS } from '../src/lib/api.ts';
import { ErrorBanner } from '../src/lib/ErrorBanner.tsx';

/** A control plane that takes the request and never answers (it stops only when the request is aborted). */
const hangs = (_input: string | URL | Request, init?: RequestInit) =>
  new Promise<Response>((_, reject) => {
    init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
  });

afterEach(() => {
  vi.useRealTimers();
});

describe('a control plane that does not answer', () => {
  it('a read fails as unreachable after READ_TIMEOUT_MS, naming what it waited for', async () => {
    vi.useFakeTimers();
    const read = getJson('/api/v1/proxies', ProxyStatusList, undefined, hangs).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(READ_TIMEOUT_MS - 1);
    let settled = false;
    void read.then(() => {
      settled = true;
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const error = await read;
    expect(error).toBeInstanceOf(ApiTimeoutError);
    expect((error as ApiError).status).toBe(0);
    expect((error as ApiError).message).toBe('no answer to GET /api/v1/proxies within 10 s');
    expect(isUnreachable(error)).toBe(true);
  });

  it('a body that stops arriving half-way fails the same way', async () => {
    vi.useFakeTimers();
    const halfBody = async (_input: string | URL | Request, init?: RequestInit) =>
      new Response(
        new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('{"items":['));
            init?.signal?.addEventListener('abort', () =>
              controller.error(new DOMException('aborted', 'AbortError')),
            );
          },
        }),
        { status: 200 },
      );
    const read = getJson('/api/v1/proxies', ProxyStatusList, undefined, halfBody).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(READ_TIMEOUT_MS);
    expect(await read).toBeInstanceOf(ApiTimeoutError);
  });

  it('the page giving up (navigating away) is still an abort, not an error to show', async () => {
    vi.useFakeTimers();
    const page = new AbortController();
    const read = getJson('/api/v1/proxies', ProxyStatusList, page.signal, hangs).catch((e: unknown) => e);
    page.abort();
    const error = await read;
    expect(error).not.toBeInstanceOf(ApiError);
    expect((error as Error).name).toBe('AbortError');
  });

  it('what counts as unreachable: no answer, refused, or a gateway error; not the API refusing a request', () => {
    expect(isUnreachable(new ApiError('fetch failed', 0))).toBe(true);
    expect(isUnreachable(new ApiError('Internal Server Error', 500))).toBe(true);
    for (const status of [502, 503, 504]) expect(isUnreachable(new ApiError('x', status))).toBe(true);
    expect(isUnreachable(new ApiError('bug', 500, undefined, 'TRELLIS_ERR_INTERNAL'))).toBe(false);
    expect(isUnreachable(new ApiError('no', 404, undefined, 'TRELLIS_ERR_NOT_FOUND'))).toBe(false);
    expect(isUnreachable(new Error('x'))).toBe(false);
  });

  it('the banner says the control plane is unreachable and offers Retry', () => {
    const html = renderToStaticMarkup(
      createElement(
        QueryClientProvider,
        { client: new QueryClient() },
        createElement(ErrorBanner, {
          error: new ApiTimeoutError('no answer to GET /api/v1/services within 10 s'),
        }),
      ),
    );
    expect(html).toContain(
      'The control plane is unreachable: no answer to GET /api/v1/services within 10 s.',
    );
    expect(html).toMatch(/<button[^>]*>Retry<\/button>/);
  });
});

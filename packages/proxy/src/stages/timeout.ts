/**
 * Timeout stage: aborts the inner call when no response headers arrived within `ms`. Used twice: around the
 * whole request (route timeout, bounding every retry) and around each attempt (per-try timeout). The body of a
 * response that did arrive is not bounded, so long streams are not cut.
 */
import { ProxyError } from '../errors.ts';
import type { Layer } from '../types.ts';

export function timeout(ms: number | undefined): Layer {
  return (next) => {
    if (!ms) return next;
    return async (request) => {
      const controller = new AbortController();
      const parent = request.signal;
      const onParentAbort = () => controller.abort(parent.reason);
      if (parent.aborted) controller.abort(parent.reason);
      else parent.addEventListener('abort', onParentAbort, { once: true });
      const timer = setTimeout(
        () => controller.abort(new ProxyError('TRELLIS_ERR_UPSTREAM_TIMEOUT', `no response within ${ms} ms`)),
        ms,
      );
      try {
        return await next({ ...request, signal: controller.signal });
      } finally {
        clearTimeout(timer);
        parent.removeEventListener('abort', onParentAbort);
      }
    };
  };
}

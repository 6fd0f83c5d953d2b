/**
 * Timeout stage: aborts the inner call when no response headers arrived within `ms`. Used twice: around the
 * whole request (route timeout, bounding every retry) and around each attempt (per-try timeout). The body of a
 * response that did arrive is not bounded, so long streams are not cut. Deadlines come from per-duration queues
 * (deadlines.ts), not a timer each.
 */
import { deadlines } from '../deadlines.ts';
import { ProxyError } from '../errors.ts';
import { childSignal } from '../signal.ts';
import type { Layer } from '../types.ts';

export function timeout(ms: number | undefined): Layer {
  return (next) => {
    if (!ms) return next;
    const queue = deadlines(ms);
    return async (request) => {
      const { signal, detach } = childSignal(request.signal);
      const deadline = queue.add(() =>
        signal.abort(new ProxyError('TRELLIS_ERR_UPSTREAM_TIMEOUT', `no response within ${ms} ms`)),
      );
      try {
        return await next({ ...request, signal: signal.asSignal });
      } finally {
        deadline.cancel();
        detach();
      }
    };
  };
}

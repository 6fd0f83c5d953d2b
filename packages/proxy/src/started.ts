/**
 * How the proxy tells its entry file (src/heap.ts, bundled apart from the proxy) that it has started: listening,
 * and, when joined to a control plane, configured and holding its certificate. The entry holds back V8's optimizing
 * compiler until then (at most 3 s), so that the code only the start runs is not optimized.
 */
export const STARTED = Symbol.for('trellis.proxy.started');

export function markStarted(): void {
  const hook = (globalThis as Record<symbol, unknown>)[STARTED];
  if (typeof hook === 'function') hook();
}

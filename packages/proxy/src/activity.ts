/**
 * How the proxy tells the bundle's lazily loaded schemas (scripts/build.mjs) whether it is carrying traffic. The
 * schemas take about 100 ms of CPU to load, during which the proxy answers nothing; dropping them after each burst
 * of config changes keeps an idle sidecar small, but a busy one would stall its traffic at every config change
 * that followed a quiet spell. So they are dropped only once neither a validation nor a request has come for a
 * while: the entry compares two readings of the hook, and the request path pays nothing beyond a counter.
 */
export const ACTIVITY = Symbol.for('trellis.proxy.activity');

/** Installs `read` (a count that grows with every request) as the process's activity reading. */
export function reportActivity(read: () => number): void {
  (globalThis as Record<symbol, unknown>)[ACTIVITY] = read;
}

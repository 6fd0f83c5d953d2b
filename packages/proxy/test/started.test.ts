/** src/started.ts: how the proxy tells its entry file (src/heap.ts) that it has started. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { markStarted, STARTED } from '../src/started.ts';

const hooks = globalThis as Record<symbol, unknown>;
afterEach(() => {
  delete hooks[STARTED];
});

describe('markStarted', () => {
  it("calls the entry's hook, by a symbol both bundles share", () => {
    const hook = vi.fn();
    hooks[STARTED] = hook;
    markStarted();
    expect(hook).toHaveBeenCalledTimes(1);
    expect(STARTED).toBe(Symbol.for('trellis.proxy.started'));
  });

  it('does nothing without an entry (tests, the proxy run from source)', () => {
    expect(() => markStarted()).not.toThrow();
  });
});

/**
 * A minimal AbortSignal look-alike for the request path. Node's AbortController costs a DOMException and an
 * EventTarget per use, which profiling showed to be a large share of per-request CPU; this keeps the same
 * surface that undici and our stages use (aborted, reason, add/removeEventListener, throwIfAborted) at the cost
 * of a plain object.
 */
type Listener = (event: { type: 'abort' }) => void;

const ABORT_EVENT = { type: 'abort' } as const;

export class LiteSignal {
  aborted = false;
  reason: unknown = undefined;
  private listeners: Listener[] | null = null;

  addEventListener(_type: 'abort', listener: Listener, _options?: unknown): void {
    if (this.listeners === null) this.listeners = [listener];
    else this.listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: Listener): void {
    const list = this.listeners;
    if (list === null) return;
    const i = list.indexOf(listener);
    if (i !== -1) list.splice(i, 1);
  }

  throwIfAborted(): void {
    if (this.aborted) throw this.reason;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const list = this.listeners;
    this.listeners = null;
    if (list !== null) for (const listener of list) listener(ABORT_EVENT);
  }

  /** Typed as AbortSignal for the APIs that take one; only the members above are ever used. */
  get asSignal(): AbortSignal {
    return this as unknown as AbortSignal;
  }
}

/** A signal that is aborted when `parent` is; `detach()` unlinks it. */
export function childSignal(parent: AbortSignal): { signal: LiteSignal; detach(): void } {
  const signal = new LiteSignal();
  if (parent.aborted) {
    signal.abort(parent.reason);
    return { signal, detach: () => {} };
  }
  const onAbort = () => signal.abort(parent.reason);
  parent.addEventListener('abort', onAbort);
  return { signal, detach: () => parent.removeEventListener('abort', onAbort) };
}

/** Waits `ms`, or rejects with the signal's reason as soon as it is aborted. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

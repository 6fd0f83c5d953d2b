/**
 * A minimal AbortSignal look-alike for the request path. Node's AbortController costs a DOMException and an
 * EventTarget per use, which profiling showed to be a large share of per-request CPU; this keeps the same
 * surface that undici and our stages use (aborted, reason, add/removeEventListener, throwIfAborted) at the cost
 * of a plain object.
 */
type ListenerFunction = (event: { type: 'abort' }) => void;
/** An object listener, as EventTarget takes one: its handleEvent is called (no closure needed to bind it). */
interface ListenerObject {
  handleEvent(event: { type: 'abort' }): void;
}
type Listener = ListenerFunction | ListenerObject;

function call(listener: Listener): void {
  if (typeof listener === 'function') listener(ABORT_EVENT);
  else listener.handleEvent(ABORT_EVENT);
}

const ABORT_EVENT = { type: 'abort' } as const;

export class LiteSignal {
  aborted = false;
  reason: unknown = undefined;
  // The first listener in a field, an array only for more: most signals have one. A per-request `[listener]` literal
  // was seen pretenured by V8 (its allocation site tenured under load), which then kept each request's closures
  // alive through scavenges: 97 % of young objects promoted and 12 ms scavenges.
  private one: Listener | null = null;
  private listeners: Listener[] | null = null;

  addEventListener(_type: 'abort', listener: Listener, _options?: unknown): void {
    if (this.one === null && this.listeners === null) this.one = listener;
    else {
      if (this.listeners === null) this.listeners = [] as Listener[];
      this.listeners.push(listener);
    }
  }

  removeEventListener(_type: 'abort', listener: Listener): void {
    if (this.one === listener) {
      this.one = null;
      return;
    }
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
    const one = this.one;
    const list = this.listeners;
    this.one = null;
    this.listeners = null;
    if (one !== null) call(one);
    if (list !== null) for (const listener of list) call(listener);
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

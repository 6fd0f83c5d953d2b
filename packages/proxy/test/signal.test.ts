/** The request path's light abort signal behaves like AbortSignal where it is used. */
import { describe, expect, it } from 'vitest';
import { childSignal, LiteSignal } from '../src/signal.ts';

describe('LiteSignal', () => {
  it('aborts once, with the first reason, calling listeners once', () => {
    const s = new LiteSignal();
    const calls: string[] = [];
    const a = () => calls.push('a');
    s.addEventListener('abort', a);
    s.addEventListener('abort', () => calls.push('b'));
    s.abort('first');
    s.abort('second');
    expect(s.aborted).toBe(true);
    expect(s.reason).toBe('first');
    expect(calls).toEqual(['a', 'b']);
    expect(() => s.throwIfAborted()).toThrow();
  });

  it('does not call removed listeners', () => {
    const s = new LiteSignal();
    let called = false;
    const l = () => {
      called = true;
    };
    s.addEventListener('abort', l);
    s.removeEventListener('abort', l);
    s.abort(new Error('x'));
    expect(called).toBe(false);
  });

  it('calls an object listener through its handleEvent, as EventTarget does, and removes it by identity', () => {
    const s = new LiteSignal();
    const seen: string[] = [];
    const kept = { handleEvent: (e: { type: string }) => seen.push(`kept ${e.type}`) };
    const removed = { handleEvent: () => seen.push('removed') };
    s.addEventListener('abort', () => seen.push('fn'));
    s.addEventListener('abort', kept);
    s.addEventListener('abort', removed);
    s.removeEventListener('abort', removed);
    s.abort('x');
    expect(seen).toEqual(['fn', 'kept abort']);
  });

  it('a child follows its parent until detached', () => {
    const parent = new LiteSignal();
    const { signal, detach } = childSignal(parent.asSignal);
    parent.abort('gone');
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe('gone');

    const p2 = new AbortController();
    const c2 = childSignal(p2.signal);
    c2.detach();
    p2.abort('later');
    expect(c2.signal.aborted).toBe(false);
    detach();
  });

  it('a child of an already aborted parent starts aborted', () => {
    const p = new AbortController();
    p.abort('already');
    expect(childSignal(p.signal).signal.reason).toBe('already');
  });
});

/** Per-duration deadline queues (src/deadlines.ts): fire in order and on time, never once cancelled, bounded memory. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeadlineQueue } from '../src/deadlines.ts';

let clock = 0;
const now = () => clock;

/** Moves the injected clock and the fake timers together. */
function advance(ms: number): void {
  clock += ms;
  vi.advanceTimersByTime(ms);
}

beforeEach(() => {
  clock = 0;
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('DeadlineQueue', () => {
  it('fires each deadline once it is due, in order, and never a cancelled one', () => {
    const q = new DeadlineQueue(100, now);
    const fired: string[] = [];
    q.add(() => fired.push('a'));
    advance(30);
    const b = q.add(() => fired.push('b'));
    advance(30);
    q.add(() => fired.push('c'));
    b.cancel();
    advance(39);
    expect(fired).toEqual([]);
    advance(1);
    expect(fired).toEqual(['a']);
    advance(59);
    expect(fired).toEqual(['a']);
    advance(1);
    expect(fired).toEqual(['a', 'c']);
    expect(q.size).toEqual({ live: 0, held: 0 });
  });

  it('expires an object target through its expire method, unless cancelled', () => {
    const q = new DeadlineQueue(100, now);
    const fired: string[] = [];
    q.addFor({ expire: () => fired.push('kept') });
    q.addFor({ expire: () => fired.push('cancelled') }).cancel();
    advance(100);
    expect(fired).toEqual(['kept']);
    expect(q.size).toEqual({ live: 0, held: 0 });
  });

  it('a deadline added by one that fires is due a whole duration later, not sooner', () => {
    const q = new DeadlineQueue(50, now);
    const fired: number[] = [];
    q.add(() => {
      fired.push(clock);
      q.add(() => fired.push(clock));
    });
    advance(50);
    advance(49);
    expect(fired).toEqual([50]);
    advance(1);
    expect(fired).toEqual([50, 100]);
  });

  it('holds a bounded number of cancelled entries behind a long-lived one', () => {
    const q = new DeadlineQueue(15_000, now);
    let fired = 0;
    q.add(() => fired++);
    for (let i = 0; i < 100_000; i++) q.add(() => fired++).cancel();
    expect(q.size.live).toBe(1);
    expect(q.size.held).toBeLessThan(2100);
    advance(15_000);
    expect(fired).toBe(1);
    expect(q.size).toEqual({ live: 0, held: 0 });
  });
});

/** Linkerd's retry budget over a 10 s sliding window, driven by a fake clock. */
import { RetryBudget as RetryBudgetConfig } from '@trellis/schema';
import { describe, expect, it } from 'vitest';
import { RetryBudget } from '../src/resilience/retry-budget.ts';
import { fakeClock } from './support/endpoints.ts';

function budget(input: Partial<RetryBudgetConfig>, clock = fakeClock()) {
  return { budget: new RetryBudget(RetryBudgetConfig.parse(input), clock), clock };
}

function withdrawAll(b: RetryBudget, limit = 100_000): number {
  let n = 0;
  while (n < limit && b.tryWithdraw()) n++;
  return n;
}

describe('RetryBudget', () => {
  it('allows exactly budgetPercent of the requests as retries', () => {
    const { budget: b } = budget({ budgetPercent: 20, minRetriesPerSecond: 0 });
    expect(b.tryWithdraw()).toBe(false);
    for (let i = 0; i < 100; i++) b.onRequest();
    expect(b.available()).toBe(20);
    for (let i = 0; i < 20; i++) expect(b.tryWithdraw()).toBe(true);
    expect(b.tryWithdraw()).toBe(false);
    expect(b.available()).toBe(0);
  });

  it('accumulates fractional deposits', () => {
    const { budget: b } = budget({ budgetPercent: 25, minRetriesPerSecond: 0 });
    for (let i = 0; i < 3; i++) b.onRequest();
    expect(b.tryWithdraw()).toBe(false);
    b.onRequest();
    expect(b.tryWithdraw()).toBe(true);
    expect(b.tryWithdraw()).toBe(false);
  });

  it('forgets deposits after the 10 s window, bucket by bucket', () => {
    const { budget: b, clock } = budget({ budgetPercent: 20, minRetriesPerSecond: 0 });
    for (let i = 0; i < 50; i++) b.onRequest();
    clock.advance(5_000);
    for (let i = 0; i < 50; i++) b.onRequest();
    expect(b.available()).toBe(20);
    clock.advance(4_999);
    expect(b.available()).toBe(20);
    clock.advance(1);
    expect(b.available()).toBe(10);
    clock.advance(5_000);
    expect(b.available()).toBe(0);
    expect(b.tryWithdraw()).toBe(false);
  });

  it('forgets withdrawals after the window too', () => {
    const { budget: b, clock } = budget({ budgetPercent: 20, minRetriesPerSecond: 0 });
    for (let i = 0; i < 100; i++) b.onRequest();
    expect(withdrawAll(b)).toBe(20);
    clock.advance(3_000);
    for (let i = 0; i < 100; i++) b.onRequest();
    expect(withdrawAll(b)).toBe(20);
    clock.advance(7_000);
    expect(b.available()).toBe(0);
    clock.advance(3_000);
    expect(withdrawAll(b)).toBe(0);
    clock.advance(60_000);
    for (let i = 0; i < 10; i++) b.onRequest();
    expect(withdrawAll(b)).toBe(2);
  });

  it('lets a quiet service retry minRetriesPerSecond × 10 times per window', () => {
    const { budget: b, clock } = budget({ budgetPercent: 20, minRetriesPerSecond: 3 });
    expect(b.available()).toBe(30);
    expect(withdrawAll(b)).toBe(30);
    clock.advance(9_999);
    expect(b.tryWithdraw()).toBe(false);
    clock.advance(1);
    expect(withdrawAll(b)).toBe(30);
  });

  it('adds the floor to the deposits', () => {
    const { budget: b } = budget({ budgetPercent: 10, minRetriesPerSecond: 1 });
    for (let i = 0; i < 50; i++) b.onRequest();
    expect(withdrawAll(b)).toBe(15);
  });

  it('is unlimited when disabled', () => {
    const { budget: b } = budget({ enabled: false, budgetPercent: 0, minRetriesPerSecond: 0 });
    expect(withdrawAll(b, 10_000)).toBe(10_000);
    expect(b.available()).toBe(Number.POSITIVE_INFINITY);
  });
});

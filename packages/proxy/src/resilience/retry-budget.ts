/**
 * Linkerd's retry budget: retries may add at most `budgetPercent` % on top of the original requests, measured over
 * a sliding 10 s window, so that retries cannot multiply the load on an upstream that is already failing (a retry
 * storm). A floor of `minRetriesPerSecond` keeps retries possible for services with little traffic.
 *
 * The window is ten one-second buckets indexed by the clock's second and cleared lazily when time has moved on, so
 * there are no timers. Requests and retries are counted as integers and the budget is computed from the counts,
 * which keeps "100 requests at 20 % allow exactly 20 retries" free of floating-point drift.
 */
import type { RetryBudget as RetryBudgetConfig } from '@trellis/schema';
import type { Clock } from '../types.ts';

const BUCKETS = 10;
const BUCKET_MS = 1000;
const WINDOW_SECONDS = (BUCKETS * BUCKET_MS) / 1000;

const slotOf = (second: number): number => ((second % BUCKETS) + BUCKETS) % BUCKETS;

export class RetryBudget {
  private readonly requests = new Float64Array(BUCKETS);
  private readonly retries = new Float64Array(BUCKETS);
  private readonly config: RetryBudgetConfig;
  private readonly clock: Clock;
  private second: number;

  constructor(config: RetryBudgetConfig, clock: Clock) {
    this.config = config;
    this.clock = clock;
    this.second = this.currentSecond();
  }

  /** Counts an original request (not a retry): it deposits budgetPercent/100 of a token. */
  onRequest(): void {
    const slot = this.rotate();
    this.requests[slot] = (this.requests[slot] ?? 0) + 1;
  }

  /** Takes one token for a retry; false when the budget is spent. Always true when the budget is disabled. */
  tryWithdraw(): boolean {
    if (!this.config.enabled) return true;
    const slot = this.rotate();
    if (this.hundredthsAvailable() < 100) return false;
    this.retries[slot] = (this.retries[slot] ?? 0) + 1;
    return true;
  }

  /** Whole retries the budget allows right now (Infinity when disabled). */
  available(): number {
    if (!this.config.enabled) return Number.POSITIVE_INFINITY;
    this.rotate();
    return Math.max(0, Math.floor(this.hundredthsAvailable() / 100));
  }

  /** Tokens in the window in hundredths of a token, exact for integer budget percentages. */
  private hundredthsAvailable(): number {
    let requests = 0;
    let retries = 0;
    for (const n of this.requests) requests += n;
    for (const n of this.retries) retries += n;
    const floor = this.config.minRetriesPerSecond * WINDOW_SECONDS;
    return requests * this.config.budgetPercent + (floor - retries) * 100;
  }

  private currentSecond(): number {
    return Math.floor(this.clock.now() / BUCKET_MS);
  }

  /** Clears the buckets of the seconds that passed since the last call; returns the current bucket. */
  private rotate(): number {
    const now = this.currentSecond();
    if (now > this.second) {
      const stale = Math.min(now - this.second, BUCKETS);
      for (let i = 1; i <= stale; i++) {
        const slot = slotOf(this.second + i);
        this.requests[slot] = 0;
        this.retries[slot] = 0;
      }
      this.second = now;
    }
    return slotOf(this.second);
  }
}

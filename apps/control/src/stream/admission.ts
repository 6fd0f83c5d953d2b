/**
 * Reconnect storms: when a control plane restarts, every proxy comes back at once. New stream connections are
 * admitted at a steady rate (a token bucket with a burst of one second's worth) and the rest wait in a queue
 * rather than being refused, so that the storm drains in order instead of turning into retries.
 */
export class AdmissionQueue {
  private tokens: number;
  private last: number;
  private readonly queue: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly perSecond: number,
    private readonly maxQueued = 100_000,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = perSecond;
    this.last = now();
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Runs `admit` now or when a token is free; false (nothing run) when the queue is full. */
  admit(admit: () => void): boolean {
    this.refill();
    if (this.queue.length === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      admit();
      return true;
    }
    if (this.queue.length >= this.maxQueued) return false;
    this.queue.push(admit);
    this.schedule();
    return true;
  }

  /** Stops admitting; whatever is queued is run at once (the caller then refuses it, rather than leave it hanging). */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const admit of this.queue.splice(0)) admit();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.perSecond, this.tokens + ((t - this.last) / 1000) * this.perSecond);
    this.last = t;
  }

  private schedule(): void {
    if (this.timer) return;
    const wait = Math.max(1, ((1 - this.tokens) / this.perSecond) * 1000);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.refill();
      while (this.tokens >= 1 && this.queue.length > 0) {
        this.tokens -= 1;
        (this.queue.shift() as () => void)();
      }
      if (this.queue.length > 0) this.schedule();
    }, wait);
    this.timer.unref();
  }
}

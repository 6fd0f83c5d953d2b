/**
 * Failed logins, counted per username and per client address over a sliding window: after `max` failures within
 * `windowMs` for either, further logins for it are refused (429 with Retry-After) until the oldest failure leaves
 * the window, whatever the password. An attempt takes its place in the count when it starts, before its password
 * hash runs, and keeps it until it is settled: logins sent all at once cannot all slip under the limit while each
 * waits for its hash. Kept in memory: each control-plane replica counts its own, which bounds a guesser to `max`
 * tries per window per replica, and a restart forgets.
 */
export interface LoginLimiterOptions {
  max?: number;
  windowMs?: number;
  now?: () => number;
}

/** An attempt under way: counted against its keys until it is settled, once. */
export interface LoginAttempt {
  /** The password was wrong: the attempt becomes a failure in the window. */
  failed(): void;
  /** It succeeded: its place is given back and the username's failures are forgotten. */
  succeeded(): void;
  /** Neither (it could not be checked): its place is given back. Does nothing once settled. */
  release(): void;
}

/** The wait told to a login refused only for attempts still being checked: those settle within a second. */
const IN_FLIGHT_SECONDS = 1;

export class LoginLimiter {
  private readonly failures = new Map<string, number[]>();
  private readonly inFlight = new Map<string, number>();
  private readonly max: number;
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(options: LoginLimiterOptions = {}) {
    this.max = options.max ?? 5;
    this.windowMs = options.windowMs ?? 15 * 60_000;
    this.now = options.now ?? Date.now;
  }

  /**
   * Takes a place for an attempt on `keys` (the username's first: a success forgets its failures), or answers
   * how many seconds to wait when any of them has no place left.
   */
  begin(keys: readonly string[]): LoginAttempt | { retryAfterSeconds: number } {
    const wait = this.retryAfterSeconds(keys);
    if (wait > 0) return { retryAfterSeconds: wait };
    for (const key of keys) this.inFlight.set(key, (this.inFlight.get(key) ?? 0) + 1);
    let settled = false;
    const settle = (then: () => void) => {
      if (settled) return;
      settled = true;
      for (const key of keys) {
        const left = (this.inFlight.get(key) ?? 1) - 1;
        if (left > 0) this.inFlight.set(key, left);
        else this.inFlight.delete(key);
      }
      then();
    };
    return {
      failed: () => settle(() => this.fail(keys)),
      succeeded: () => settle(() => this.failures.delete(keys[0] as string)),
      release: () => settle(() => {}),
    };
  }

  /** Seconds until a login for these keys may be tried again; 0 when it may now. */
  retryAfterSeconds(keys: readonly string[]): number {
    const now = this.now();
    let wait = 0;
    for (const key of keys) {
      const times = this.recent(key, now);
      const pending = this.inFlight.get(key) ?? 0;
      if (times.length >= this.max) {
        const oldest = times[times.length - this.max] as number;
        wait = Math.max(wait, Math.ceil((oldest + this.windowMs - now) / 1000));
      } else if (times.length + pending >= this.max) {
        wait = Math.max(wait, IN_FLIGHT_SECONDS);
      }
    }
    return wait;
  }

  private fail(keys: readonly string[]): void {
    const now = this.now();
    for (const key of keys) {
      const times = this.recent(key, now);
      times.push(now);
      this.failures.set(key, times);
    }
    if (this.failures.size > 100_000) this.prune(now);
  }

  private recent(key: string, now: number): number[] {
    const times = (this.failures.get(key) ?? []).filter((t) => t > now - this.windowMs);
    if (times.length === 0) this.failures.delete(key);
    return times;
  }

  private prune(now: number): void {
    for (const key of [...this.failures.keys()]) this.recent(key, now);
  }
}

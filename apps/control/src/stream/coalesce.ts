/**
 * Latest-wins, single-flight work on a growing number (the mesh revision). Revisions arrive in bursts (one
 * NOTIFY per commit); pushing each one to every proxy would send snapshots that are stale before they land. So
 * at most one run is in flight, and offers that arrive meanwhile collapse into one follow-up run for the highest
 * of them: with 5 running, 6 and 7 arriving lead to one more run, for 7. Offers made in the same tick share a run.
 */
export class LatestOnly {
  private wanted = -1;
  private done = -1;
  private forced = false;
  private running: Promise<void> | undefined;
  private waiters: { target: number; resolve: () => void }[] = [];

  /**
   * @param run does the work for at least `target` and returns the value actually reached: more when it found
   *   something newer, less when it could not get that far (the offer then stays pending).
   * @param onError reports a failed run; the offer stays pending until the next offer or `retry()`.
   */
  constructor(
    private readonly run: (target: number) => Promise<number>,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** The highest value a run has reached (-1 before the first). */
  get reached(): number {
    return this.done;
  }

  /** Asks for a run reaching at least `target`. */
  offer(target: number): void {
    if (target > this.wanted) this.wanted = target;
    this.kick();
  }

  /** Asks for one more run even if `reached` is already high enough (the state may have moved unannounced). */
  refresh(): void {
    this.forced = true;
    this.kick();
  }

  /** Runs again for whatever is pending, e.g. after a failure. */
  retry(): void {
    this.kick();
  }

  /** Resolves once a run has reached `target`, or once runs stop short of it (after a failure, say). */
  reach(target: number): Promise<void> {
    if (this.done >= target) return Promise.resolve();
    const promise = new Promise<void>((resolve) => this.waiters.push({ target, resolve }));
    this.offer(target);
    return promise;
  }

  /** Resolves when no run is in flight. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private kick(): void {
    if (this.running || !(this.forced || this.wanted > this.done)) return;
    this.running = Promise.resolve().then(() => this.loop());
  }

  private async loop(): Promise<void> {
    try {
      while (this.forced || this.wanted > this.done) {
        const target = Math.max(this.wanted, this.done);
        const forced = this.forced;
        this.forced = false;
        let reached: number;
        try {
          reached = await this.run(target);
        } catch (error) {
          if (forced) this.forced = true;
          this.onError(error);
          break;
        }
        if (reached > this.done) this.done = reached;
        this.settle(false);
        if (reached < target) break;
      }
    } finally {
      this.running = undefined;
      this.settle(true);
    }
  }

  private settle(all: boolean): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) {
      if (all || this.done >= w.target) w.resolve();
      else this.waiters.push(w);
    }
  }
}

/**
 * Batches work that is much cheaper done many at a time, such as registering proxies (one transaction and one
 * revision for a whole reconnect storm instead of one each). One batch runs at a time; whatever is submitted
 * while it runs becomes the next batch. So a lone submission runs at once, with no timer to wait for, and a
 * burst coalesces by itself.
 */
interface Waiting<T, R> {
  item: T;
  resolve(result: R): void;
  reject(error: unknown): void;
}

export class Batcher<T, R> {
  private queue: Waiting<T, R>[] = [];
  private running: Promise<void> | undefined;

  /**
   * @param run handles a batch and returns one result per item, in order: a value, or an Error for that item
   *   alone. If `run` throws, every item of the batch fails with that error.
   */
  constructor(
    private readonly run: (items: T[]) => Promise<(R | Error)[]>,
    private readonly maxBatch = 500,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.running) this.running = this.drain();
    });
  }

  /** Resolves once nothing is queued or running. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const results = await this.run(batch.map((w) => w.item));
        batch.forEach((w, i) => {
          const result = results[i];
          if (result instanceof Error) w.reject(result);
          else if (i < results.length) w.resolve(result as R);
          else w.reject(new Error('the batch returned no result for this item'));
        });
      } catch (error) {
        for (const w of batch) w.reject(error);
      }
    }
    this.running = undefined;
  }
}

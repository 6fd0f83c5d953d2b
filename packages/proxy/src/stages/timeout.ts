/**
 * Timeout stage: aborts the inner call when no response headers arrived within `ms`. Used twice: around the
 * whole request (route timeout, bounding every retry) and around each attempt (per-try timeout). The body of a
 * response that did arrive is not bounded, so long streams are not cut. Deadlines come from per-duration queues
 * (deadlines.ts), not a timer each.
 */
import { type Deadline, type DeadlineQueue, deadlines, type Expiring } from '../deadlines.ts';
import { ProxyError } from '../errors.ts';
import { LiteSignal } from '../signal.ts';
import type { Layer, ProxyRequest, ProxyResponse, Reply } from '../types.ts';

/**
 * One timed call: the inner call's signal (aborted by the caller's or by the deadline), and the Reply that stops
 * the clock. One object per call: it is itself what the deadline expires and what the caller's signal calls
 * (handleEvent), so no closure is made per call.
 */
class TimedCall implements Reply, Expiring {
  readonly signal = new LiteSignal();
  private readonly deadline: Deadline;

  constructor(
    private readonly parent: AbortSignal,
    private readonly reply: Reply,
    private readonly queue: DeadlineQueue,
  ) {
    this.deadline = queue.addFor(this);
    if (parent.aborted) this.signal.abort(parent.reason);
    else parent.addEventListener('abort', this);
  }

  expire(): void {
    this.signal.abort(
      new ProxyError('TRELLIS_ERR_UPSTREAM_TIMEOUT', `no response within ${this.queue.ms} ms`),
    );
  }

  /** The caller's signal aborted. */
  handleEvent(): void {
    this.signal.abort(this.parent.reason);
  }

  private stop(): void {
    this.deadline.cancel();
    this.parent.removeEventListener('abort', this);
  }

  respond(response: ProxyResponse): void {
    this.stop();
    this.reply.respond(response);
  }

  fail(error: unknown): void {
    this.stop();
    this.reply.fail(error);
  }
}

export function timeout(ms: number | undefined): Layer {
  return (next) => {
    if (!ms) return next;
    const queue = deadlines(ms);
    return (request, reply) => {
      const timed = new TimedCall(request.signal, reply, queue);
      const inner: ProxyRequest = {
        method: request.method,
        path: request.path,
        headers: request.headers,
        body: request.body,
        signal: timed.signal.asSignal,
        context: request.context,
      };
      next(inner, timed);
    };
  };
}

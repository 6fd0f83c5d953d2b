/**
 * Timeouts on the request path without a timer per request. All the timeouts of one duration expire in the order
 * they were set (the clock only moves forward), so each duration keeps a first-in-first-out queue of deadlines and
 * one timer, armed for the oldest live one; cancelling a deadline only marks it. Node's own timers also group by
 * duration, but setTimeout makes a Timeout object and links it into its list, and clearTimeout unlinks it, for every
 * request; here a request costs one small entry.
 *
 * Cancelled entries leave the queue as the oldest ones expire or are cancelled, and the queue is compacted when they
 * outnumber the live ones, so that one long request at the front does not hold the memory of every request after
 * it.
 */

export interface Deadline {
  cancel(): void;
}

/** What a deadline calls when it expires: an object with a method, so that a caller need not make a closure. */
export interface Expiring {
  expire(): void;
}

class Call implements Expiring {
  constructor(private readonly fn: () => void) {}
  expire(): void {
    this.fn();
  }
}

class Entry implements Deadline {
  constructor(
    readonly at: number,
    public fire: Expiring | null,
    private readonly queue: DeadlineQueue,
  ) {}

  cancel(): void {
    if (this.fire === null) return;
    this.fire = null;
    this.queue.cancelled();
  }
}

/** Compaction leaves alone queues with fewer dead entries than this. */
const COMPACT_MIN = 1024;

export class DeadlineQueue {
  private entries: Entry[] = [];
  private head = 0;
  private live = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Inside expire(): entries added or cancelled by what fires wait for its end to re-arm or compact. */
  private expiring = false;

  constructor(
    readonly ms: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Calls `fire` in `ms` (the queue's duration) unless cancelled first. */
  add(fire: () => void): Deadline {
    return this.addFor(new Call(fire));
  }

  /** Calls `target.expire()` in `ms` unless cancelled first. */
  addFor(target: Expiring): Deadline {
    const entry = new Entry(this.now() + this.ms, target, this);
    this.entries.push(entry);
    this.live++;
    if (this.timer === undefined && !this.expiring) this.arm(this.ms);
    return entry;
  }

  /** Live deadlines, and entries held (live and cancelled), for tests. */
  get size(): { live: number; held: number } {
    return { live: this.live, held: this.entries.length - this.head };
  }

  cancelled(): void {
    this.live--;
    if (this.expiring) return;
    this.dropDeadHead();
    const dead = this.entries.length - this.head - this.live;
    if (dead > COMPACT_MIN && dead > 2 * this.live) {
      this.entries = this.entries.slice(this.head).filter((e) => e.fire !== null);
      this.head = 0;
    }
  }

  private dropDeadHead(): void {
    const entries = this.entries;
    while (this.head < entries.length && (entries[this.head] as Entry).fire === null) this.head++;
    if (this.head === entries.length) {
      entries.length = 0;
      this.head = 0;
    }
  }

  private arm(delayMs: number): void {
    this.timer = setTimeout(() => this.expire(), Math.max(1, Math.ceil(delayMs)));
    this.timer.unref();
  }

  private expire(): void {
    this.timer = undefined;
    this.expiring = true;
    const now = this.now();
    try {
      while (this.head < this.entries.length) {
        const entry = this.entries[this.head] as Entry;
        const fire = entry.fire;
        if (fire !== null && entry.at > now) break;
        this.head++;
        if (fire !== null) {
          entry.fire = null;
          this.live--;
          fire.expire();
        }
      }
    } finally {
      this.expiring = false;
      this.dropDeadHead();
      const next = this.entries[this.head];
      if (next !== undefined) this.arm(next.at - now);
    }
  }
}

const queues = new Map<number, DeadlineQueue>();

/** The process's queue for timeouts of `ms` milliseconds. */
export function deadlines(ms: number): DeadlineQueue {
  let queue = queues.get(ms);
  if (queue === undefined) {
    queue = new DeadlineQueue(ms);
    queues.set(ms, queue);
  }
  return queue;
}

/**
 * Keeps one child process running, as a small init system would. The demo mesh is a dozen processes that crash
 * (tests kill them on purpose; an operator may too): a crashed child is started again after an exponential
 * backoff, so a child that dies at once cannot spin a core, and the backoff resets once a child has stayed up.
 *
 * Stopping is clean by construction. Each child leads its own process group (`detached`), so a signal sent to the
 * group also reaches anything the child started, and Ctrl-C at the terminal reaches only the supervisor, which then
 * stops its children itself: SIGTERM (the proxies drain), then SIGKILL to the group after a timeout. Each child
 * also gets an IPC channel and preloads parent-watch.ts, which stops it when the channel closes, so not even a
 * SIGKILLed supervisor leaves children behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';

export interface RestartBackoff {
  /** Delay before the first restart after a crash. */
  initialMs: number;
  /** The delay doubles with each crash in a row, up to this. */
  maxMs: number;
  /** A child that stayed up this long counts as healthy again: its next crash restarts after `initialMs`. */
  resetAfterMs: number;
}

export const DEFAULT_BACKOFF: RestartBackoff = { initialMs: 250, maxMs: 10_000, resetAfterMs: 10_000 };

export interface ProcessSpec {
  /** For messages: "service-c/c-3 app". */
  name: string;
  command: string;
  args: string[];
  cwd?: string;
  /** The child's environment; inherited when absent. */
  env?: NodeJS.ProcessEnv;
  /**
   * Says whether a started child serves yet (an HTTP probe); asked every `probeIntervalMs` until it says yes. A
   * child without a probe is ready once spawned.
   */
  probe?: () => Promise<boolean>;
  probeIntervalMs?: number;
  backoff?: RestartBackoff;
  /** After SIGTERM, how long a stopping child gets before SIGKILL. */
  stopTimeoutMs?: number;
  /** Each line the child writes (stdout and stderr). */
  onOutput?: (line: string) => void;
}

export type ProcessState = 'idle' | 'starting' | 'ready' | 'backoff' | 'stopping' | 'stopped';

export interface ExitInfo {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Whether the supervisor asked for it (stop, restart) rather than the child dying on its own. */
  expected: boolean;
  /** When the supervisor will start it again; undefined when it will not. */
  restartInMs: number | undefined;
}

const OUTPUT_LINES = 200;

/** Sends `signal` to the process group led by `pid`; false when there is no such group any more. */
export function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Whether a process with this pid exists (zombies included). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One supervised child. Events: `spawn` (pid), `ready` (pid), `exit` (ExitInfo), `error` is never emitted (spawn
 * failures count as crashes).
 */
export class Supervised extends EventEmitter {
  readonly name: string;
  private child: ChildProcess | undefined;
  private stateValue: ProcessState = 'idle';
  private crashesInARow = 0;
  private startedAt = 0;
  private backoffTimer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private exited: Promise<void> = Promise.resolve();
  private expectingExit = false;
  /** Every pid this child has had, oldest first. */
  readonly pids: number[] = [];
  /** How many times it was started again after a crash. */
  restarts = 0;
  /** The last lines it wrote. */
  readonly output: string[] = [];

  constructor(private readonly spec: ProcessSpec) {
    super();
    this.name = spec.name;
  }

  get state(): ProcessState {
    return this.stateValue;
  }

  /** The current pid, or undefined while it is not running. */
  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  /** Starts the child and resolves once it is ready (or rejects after `timeoutMs`, with its last output). */
  async start(timeoutMs = 20_000): Promise<void> {
    if (this.stateValue !== 'idle' && this.stateValue !== 'stopped')
      throw new Error(`${this.name} already runs`);
    const ready = this.nextReady(timeoutMs);
    this.crashesInARow = 0;
    this.spawnChild();
    await ready;
  }

  /** Resolves when the child is (or next becomes) ready; rejects after `timeoutMs` or when it is stopped. */
  waitReady(timeoutMs = 20_000): Promise<void> {
    if (this.stateValue === 'ready') return Promise.resolve();
    return this.nextReady(timeoutMs).then(() => undefined);
  }

  /**
   * Resolves with the pid of the next incarnation to become ready, ignoring the current one: call it before
   * killing the child to wait for its replacement.
   */
  nextReady(timeoutMs = 20_000): Promise<number> {
    return new Promise((resolve, reject) => {
      const done = (error?: Error, pid?: number) => {
        clearTimeout(timer);
        this.off('ready', onReady);
        this.off('stopped', onStopped);
        if (error) reject(error);
        else resolve(pid as number);
      };
      const onReady = (pid: number) => done(undefined, pid);
      const onStopped = () => done(new Error(`${this.name} was stopped before it became ready`));
      const timer = setTimeout(
        () =>
          done(
            new Error(
              `${this.name} was not ready within ${timeoutMs} ms (state ${this.stateValue}, ${this.restarts} restarts); last output:\n${this.output.slice(-20).join('\n')}`,
            ),
          ),
        timeoutMs,
      );
      this.on('ready', onReady);
      this.on('stopped', onStopped);
    });
  }

  /** Sends a signal to the child's process group, as a crash would: the supervisor restarts it. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    const pid = this.pid;
    if (pid !== undefined) signalGroup(pid, signal);
  }

  /** A deliberate restart: stops the child cleanly, starts it again at once, resolves when it is ready. */
  async restart(timeoutMs = 20_000): Promise<void> {
    await this.stopChild();
    this.crashesInARow = 0;
    const ready = this.nextReady(timeoutMs);
    this.spawnChild();
    await ready;
  }

  /** Stops the child for good: SIGTERM, then SIGKILL to its group after the stop timeout. Idempotent. */
  async stop(): Promise<void> {
    await this.stopChild();
    this.stateValue = 'stopped';
    this.emit('stopped');
  }

  private async stopChild(): Promise<void> {
    clearTimeout(this.backoffTimer);
    clearTimeout(this.probeTimer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.stateValue = 'stopping';
    this.expectingExit = true;
    const pid = child.pid as number;
    signalGroup(pid, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), this.spec.stopTimeoutMs ?? 5000);
    try {
      await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  private spawnChild(): void {
    this.stateValue = 'starting';
    this.expectingExit = false;
    let child: ChildProcess;
    try {
      child = spawn(this.spec.command, this.spec.args, {
        cwd: this.spec.cwd,
        env: this.spec.env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      });
    } catch (error) {
      this.record(`spawn failed: ${(error as Error).message}`);
      this.scheduleRestart({ pid: 0, code: null, signal: null });
      return;
    }
    this.child = child;
    this.startedAt = Date.now();
    // The IPC channel exists for parent-watch.ts in the child; it must not keep the supervisor alive.
    child.channel?.unref();
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    for (const stream of [child.stdout, child.stderr]) {
      let partial = '';
      stream?.on('data', (chunk: string) => {
        partial += chunk;
        let nl = partial.indexOf('\n');
        while (nl !== -1) {
          this.record(partial.slice(0, nl));
          partial = partial.slice(nl + 1);
          nl = partial.indexOf('\n');
        }
      });
    }
    this.exited = new Promise((resolve) => {
      child.once('error', (error) => {
        // Spawning failed (no such command): there will be no exit event.
        if (child.pid === undefined) {
          this.record(`spawn failed: ${error.message}`);
          this.scheduleRestart({ pid: 0, code: null, signal: null });
          resolve();
        }
      });
      child.once('exit', (code, signal) => {
        const pid = child.pid as number;
        // Whatever the child left in its group goes with it.
        signalGroup(pid, 'SIGKILL');
        clearTimeout(this.probeTimer);
        if (this.expectingExit) {
          this.emit('exit', { pid, code, signal, expected: true, restartInMs: undefined } satisfies ExitInfo);
        } else {
          this.scheduleRestart({ pid, code, signal });
        }
        resolve();
      });
    });
    if (child.pid === undefined) return;
    this.pids.push(child.pid);
    this.emit('spawn', child.pid);
    this.probeUntilReady(child);
  }

  private scheduleRestart(exit: { pid: number; code: number | null; signal: NodeJS.Signals | null }): void {
    const backoff = this.spec.backoff ?? DEFAULT_BACKOFF;
    if (Date.now() - this.startedAt >= backoff.resetAfterMs) this.crashesInARow = 0;
    const delay = Math.min(backoff.maxMs, backoff.initialMs * 2 ** this.crashesInARow);
    this.crashesInARow += 1;
    this.stateValue = 'backoff';
    this.emit('exit', { ...exit, expected: false, restartInMs: delay } satisfies ExitInfo);
    this.backoffTimer = setTimeout(() => {
      this.restarts += 1;
      this.spawnChild();
    }, delay);
  }

  private probeUntilReady(child: ChildProcess): void {
    const probe = this.spec.probe;
    const becomeReady = () => {
      if (this.child !== child || this.stateValue !== 'starting') return;
      this.stateValue = 'ready';
      this.emit('ready', child.pid);
    };
    if (!probe) {
      becomeReady();
      return;
    }
    const attempt = () => {
      if (this.child !== child || this.stateValue !== 'starting') return;
      probe().then(
        (ok) => {
          if (ok) becomeReady();
          else this.probeTimer = setTimeout(attempt, this.spec.probeIntervalMs ?? 25);
        },
        () => {
          this.probeTimer = setTimeout(attempt, this.spec.probeIntervalMs ?? 25);
        },
      );
    };
    attempt();
  }

  private record(line: string): void {
    this.output.push(line);
    if (this.output.length > OUTPUT_LINES) this.output.shift();
    this.spec.onOutput?.(line);
  }
}

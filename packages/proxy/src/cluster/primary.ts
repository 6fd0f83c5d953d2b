/**
 * The primary of `trellis-proxy --workers N`, for gateways that need more than one core. It forks N workers
 * (src/cluster/worker.ts) that accept on the same listening sockets, balanced by the kernel
 * (`cluster.SCHED_NONE`: every worker waits in accept on the shared socket, and whichever the kernel wakes takes
 * the connection; Node 20's net has no SO_REUSEPORT). It carries no traffic itself. To the rest of the mesh it is
 * the one proxy: the CLI drives it as it drives a single proxy (the ProxyHandle it returns), so it alone reads the
 * config file, joins the control plane, holds the workload identity and serves the admin listener. It
 *
 * - chooses the listening ports: a listener on port 0 gets a free port picked here, so every worker, and a worker
 *   started again later, asks for the same socket;
 * - validates each config (file change or snapshot) and applies it to every worker; it is applied when all have
 *   applied it, and a worker that refuses it has the others put back to the previous one;
 * - sends the certificate (and each renewal) to the workers, which present it for mutual TLS;
 * - merges the workers' telemetry into one frame a second for the control plane, and their admin pages;
 * - starts a worker again when one exits without being told to (after 0.1 s, doubling up to 5 s while they keep
 *   failing at once); the others serve meanwhile;
 * - on close, tells every worker to drain and waits for them (killing any still there after the drain timeout).
 */
import cluster, { type Worker } from 'node:cluster';
import net from 'node:net';
import type { FieldError, Listener, ProxyConfig, TelemetryFrame } from '@trellis/schema';
import type { Logger } from 'pino';
import { type AdminServer, type AdminSource, startAdmin } from '../admin.ts';
import type { IdentityManager, WorkloadCertificate } from '../identity.ts';
import { type ApplyResult, ProxyConfigError } from '../proxy.ts';
import { checkProxyConfig } from '../schemas.ts';
import type { TelemetrySink } from '../telemetry/recorder.ts';
import { mergeClusters, mergeMetrics, mergeStats } from './admin-merge.ts';
import {
  type AdminPage,
  type FromWorker,
  type ToWorker,
  WORKER_ENV,
  type WorkerCertificate,
} from './messages.ts';
import { mergeFrames } from './telemetry.ts';

export interface WorkerGroupOptions {
  workers: number;
  logger: Logger;
  sink?: TelemetrySink;
  admin?: { host?: string; port: number } | undefined;
  drainTimeoutMs: number;
}

/** How long the primary waits for a worker's admin answer before leaving that worker out of a page. */
const ADMIN_TIMEOUT_MS = 5000;
const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 5000;
/** A worker that ran this long before it exited had started well: its replacement starts at once. */
const STABLE_MS = 10_000;
/** A worker not serving this long after it was forked is killed (and, after the first start, forked again). */
const READY_TIMEOUT_MS = 30_000;

interface Slot {
  index: number;
  worker: Worker;
  pid: number;
  startedAt: number;
  ready: boolean;
  /** The config the worker runs, to know whether it missed a change while it started. */
  config: ProxyConfig | undefined;
  restarts: number;
}

/** Gateways only: a sidecar's inbound and outbound listeners belong to one workload and stay one process. */
export function workersRefusal(config: ProxyConfig, workers: number): string | undefined {
  const local = config.listeners.find((l) => l.mode === 'inbound' || l.mode === 'outbound');
  if (workers <= 1 || !local) return undefined;
  return (
    `--workers ${workers} is for gateways (ingress and egress listeners): listener "${local.name}" is ` +
    `${local.mode}, and a sidecar runs as one process`
  );
}

function certificateOf(cert: WorkloadCertificate): WorkerCertificate {
  return { keyPem: cert.keyPem, chainPem: cert.chainPem, rootsPem: cert.rootsPem };
}

function freePort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, address, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export class WorkerGroup {
  private current!: ProxyConfig;
  private readonly slots = new Map<number, Slot>();
  /** Ports chosen for listeners configured on port 0, by name, mode and address. */
  private readonly ports = new Map<string, number>();
  private readonly pending = new Map<number, (message: FromWorker) => void>();
  private nextId = 1;
  private frames: { worker: number; frame: TelemetryFrame }[] = [];
  private telemetryTimer: NodeJS.Timeout | undefined;
  private admin: AdminServer | undefined;
  private identity: IdentityManager | undefined;
  private applying: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> | undefined;
  /** Configs applied to every worker and refused, as a single proxy counts them (/stats). */
  private readonly reloads = { applied: 1, rejected: 0 };
  /** Consecutive quick exits, for the restart backoff. */
  private failures = 0;
  private readonly log: Logger;

  private constructor(private readonly options: WorkerGroupOptions) {
    this.log = options.logger;
  }

  static async start(input: unknown, options: WorkerGroupOptions): Promise<WorkerGroup> {
    const group = new WorkerGroup(options);
    const checked = group.check(input);
    if (!checked.ok) throw new ProxyConfigError(checked.message, checked.errors);
    group.current = await group.pinPorts(checked.config);
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ silent: false });
    const started = await Promise.allSettled(
      Array.from({ length: options.workers }, (_, index) => group.fork(index)),
    );
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) {
      await group.close();
      throw failed.reason;
    }
    if (options.admin) group.admin = await startAdmin(group.adminSource(), options.admin);
    group.telemetryTimer = setInterval(() => group.flushTelemetry(), 1000);
    group.telemetryTimer.unref();
    return group;
  }

  get snapshot(): { config: ProxyConfig } {
    return { config: this.current };
  }

  get adminUrl(): string | undefined {
    return this.admin?.url;
  }

  address(name: string): { address: string; port: number } | undefined {
    const l = this.current.listeners.find((x) => x.name === name);
    return l ? { address: l.address, port: l.port } : undefined;
  }

  useIdentity(identity: IdentityManager): void {
    this.identity = identity;
    const broadcast = (cert: WorkloadCertificate) => {
      for (const slot of this.slots.values())
        if (slot.ready) this.send(slot, { type: 'certificate', certificate: certificateOf(cert) });
    };
    identity.onChange(broadcast);
    if (identity.current) broadcast(identity.current);
  }

  apply(input: unknown): Promise<ApplyResult> {
    const run = this.applying.then(() => this.applyNow(input));
    this.applying = run.catch(() => {});
    return run;
  }

  close(): Promise<void> {
    this.closing ??= this.drain();
    return this.closing;
  }

  private check(
    input: unknown,
  ): { ok: true; config: ProxyConfig } | { ok: false; message: string; errors: FieldError[] } {
    const checked = checkProxyConfig(input);
    if (!checked.ok)
      return { ok: false, message: `invalid proxy config: ${checked.message}`, errors: checked.errors };
    const refusal = workersRefusal(checked.value, this.options.workers);
    if (refusal) return { ok: false, message: refusal, errors: [{ path: 'listeners', message: refusal }] };
    return { ok: true, config: checked.value };
  }

  /** The config with every port-0 listener on the port chosen for it (the same one as long as it exists). */
  private async pinPorts(config: ProxyConfig): Promise<ProxyConfig> {
    const key = (l: Listener) => `${l.name}|${l.mode}|${l.address}`;
    const listeners: Listener[] = [];
    for (const l of config.listeners) {
      if (l.port !== 0) {
        listeners.push(l);
        continue;
      }
      let port = this.ports.get(key(l));
      if (port === undefined) {
        port = await freePort(l.address);
        this.ports.set(key(l), port);
      }
      listeners.push({ ...l, port });
    }
    return { ...config, listeners };
  }

  private async applyNow(input: unknown): Promise<ApplyResult> {
    if (this.closing) return { ok: false, message: 'the proxy is shutting down', errors: [] };
    const checked = this.check(input);
    if (!checked.ok) {
      this.reloads.rejected += 1;
      this.log.error({ errors: checked.errors }, checked.message);
      return checked;
    }
    const config = await this.pinPorts(checked.config);
    const previous = this.current;
    const ready = [...this.slots.values()].filter((s) => s.ready);
    const results = await Promise.all(ready.map((slot) => this.applyTo(slot, config)));
    const refused = results.find((r): r is Extract<ApplyResult, { ok: false }> => !r.ok);
    if (refused) {
      await Promise.all(ready.filter((_, i) => results[i]?.ok).map((slot) => this.applyTo(slot, previous)));
      this.reloads.rejected += 1;
      return refused;
    }
    this.reloads.applied += 1;
    this.current = config;
    for (const slot of this.slots.values()) this.caughtUp(slot);
    return { ok: true, revision: config.revision };
  }

  private async applyTo(slot: Slot, config: ProxyConfig): Promise<ApplyResult> {
    const id = this.nextId++;
    const answer = await this.ask(slot, { type: 'apply', id, config }, id, 60_000);
    if (answer?.type !== 'applied') {
      return { ok: false, message: `worker ${slot.index} (pid ${slot.pid}) did not answer`, errors: [] };
    }
    if (answer.result.ok) slot.config = config;
    return answer.result;
  }

  private send(slot: Slot, message: ToWorker): void {
    if (slot.worker.isConnected()) slot.worker.send(message);
  }

  private ask(slot: Slot, message: ToWorker, id: number, timeoutMs: number): Promise<FromWorker | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(undefined);
      }, timeoutMs);
      this.pending.set(id, (answer) => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(answer);
      });
      this.send(slot, message);
    });
  }

  /** Starts worker `index`; resolves once it serves, rejects if it cannot start with the current config. */
  private fork(index: number, restarts = 0): Promise<void> {
    const worker = cluster.fork({ [WORKER_ENV]: String(index) });
    const slot: Slot = {
      index,
      worker,
      pid: worker.process.pid ?? 0,
      startedAt: Date.now(),
      ready: false,
      config: undefined,
      restarts,
    };
    this.slots.set(index, slot);
    return new Promise((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        reject(new Error(`worker ${index} did not serve within ${READY_TIMEOUT_MS} ms`));
        worker.process.kill('SIGKILL');
      }, READY_TIMEOUT_MS);
      timer.unref();
      worker.on('message', (message: FromWorker) => {
        switch (message.type) {
          case 'hello': {
            const cert = this.identity?.current;
            slot.config = this.current;
            this.send(slot, {
              type: 'start',
              config: this.current,
              ...(cert ? { certificate: certificateOf(cert) } : {}),
            });
            return;
          }
          case 'ready': {
            clearTimeout(timer);
            slot.ready = true;
            settled = true;
            resolve();
            this.caughtUp(slot);
            const cert = this.identity?.current;
            if (cert) this.send(slot, { type: 'certificate', certificate: certificateOf(cert) });
            return;
          }
          case 'failed':
            clearTimeout(timer);
            settled = true;
            reject(new ProxyConfigError(message.message, message.errors));
            return;
          case 'telemetry':
            this.frames.push({ worker: index, frame: message.frame });
            return;
          default:
            this.pending.get(message.id)?.(message);
        }
      });
      worker.on('exit', (code, signal) => {
        clearTimeout(timer);
        slot.ready = false;
        if (this.slots.get(index) === slot) this.slots.delete(index);
        if (!settled) {
          settled = true;
          reject(new Error(`worker ${index} exited (${signal ?? `code ${code}`}) before it served`));
        }
        if (this.closing) return;
        this.restart(slot, code, signal);
      });
    });
  }

  /** A worker that started while a change was being applied gets the config of now. */
  private caughtUp(slot: Slot): void {
    if (slot.ready && slot.config !== this.current) void this.applyTo(slot, this.current);
  }

  private restart(slot: Slot, code: number | null, signal: string | null): void {
    const ranFor = Date.now() - slot.startedAt;
    this.failures = ranFor >= STABLE_MS ? 0 : this.failures + 1;
    const delay =
      this.failures === 0 ? 0 : Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** (this.failures - 1));
    this.log.warn(
      { worker: slot.index, pid: slot.pid, code, signal, restartInMs: delay },
      'a worker exited; starting it again',
    );
    const timer = setTimeout(() => {
      if (this.closing) return;
      this.fork(slot.index, slot.restarts + 1).catch((error: Error) =>
        this.log.error({ worker: slot.index, err: error }, 'a worker could not start again'),
      );
    }, delay);
    timer.unref();
  }

  private flushTelemetry(): void {
    const frames = this.frames;
    this.frames = [];
    const merged = mergeFrames(frames);
    if (merged) this.options.sink?.publish(merged);
  }

  /** The page from every worker that answers in time, with the worker. */
  private async pages(page: AdminPage): Promise<{ slot: Slot; value: unknown }[]> {
    const ready = [...this.slots.values()].filter((s) => s.ready);
    const answers = await Promise.all(
      ready.map((slot) => {
        const id = this.nextId++;
        return this.ask(slot, { type: 'admin', id, page }, id, ADMIN_TIMEOUT_MS);
      }),
    );
    const values: { slot: Slot; value: unknown }[] = [];
    answers.forEach((answer, i) => {
      const slot = ready[i];
      if (answer?.type !== 'admin' || !slot) return;
      if (answer.error !== undefined) throw new Error(answer.error);
      values.push({ slot, value: answer.value });
    });
    if (values.length === 0) throw new Error('no worker answered');
    return values;
  }

  private adminSource(): AdminSource {
    return {
      ready: () => !this.closing && [...this.slots.values()].some((s) => s.ready),
      config: async () =>
        (await this.pages('config'))[0]?.value as Awaited<ReturnType<AdminSource['config']>>,
      clusters: async () => mergeClusters((await this.pages('clusters')).map((p) => p.value)),
      stats: async () => {
        const pages = await this.pages('stats');
        return {
          ...mergeStats(pages.map((p) => p.value)),
          reloads: { ...this.reloads },
          // Which worker served what: each one's own requests, by process.
          workers: pages.map(({ slot, value }) => ({
            index: slot.index,
            pid: slot.pid,
            restarts: slot.restarts,
            revision: (value as { revision?: number }).revision,
            requests: mergeStats([value]).edges.edges.reduce((n, e) => n + Number(e.requests ?? 0), 0),
          })),
        };
      },
      metrics: async () => mergeMetrics((await this.pages('metrics')).map((p) => String(p.value))),
      certificates: () => this.identity?.status() ?? { identity: null, certificate: null },
    };
  }

  private async drain(): Promise<void> {
    clearInterval(this.telemetryTimer);
    const exits = [...this.slots.values()].map(
      (slot) =>
        new Promise<void>((resolve) => {
          if (slot.worker.isDead()) return resolve();
          const timer = setTimeout(() => {
            slot.worker.process.kill('SIGKILL');
            resolve();
          }, this.options.drainTimeoutMs + 2000);
          slot.worker.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          this.send(slot, { type: 'drain' });
        }),
    );
    await Promise.all(exits);
    await this.admin?.close();
  }
}

export function startWorkers(input: unknown, options: WorkerGroupOptions): Promise<WorkerGroup> {
  return WorkerGroup.start(input, options);
}

/**
 * The proxy's side of the control-plane stream. It says hello with its identity, applies each snapshot it is
 * sent (merged with its local bootstrap: node, listeners, limits) atomically through the proxy, and answers
 * ACK or NACK with the validation error. The last snapshot it applied is kept on disk so that a proxy that
 * starts while the control plane is down serves with what it last knew; a lost connection is retried with
 * exponential backoff and jitter, and nothing about an outage touches the request path.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  applyEndpointsMessage,
  CLOSE_CODES,
  type FieldError,
  type MeshSlice,
  type ProxyConfigInput,
  type ProxyIdentity,
  STREAM_MAX_MESSAGE_BYTES,
  STREAM_PROTOCOL_VERSION,
  type TelemetryFrame,
} from '@trellis/schema';
import type { Logger } from 'pino';
import type { IdentityManager } from './identity.ts';
import type { TrellisProxy } from './proxy.ts';
import { backoffDelay } from './resilience/backoff.ts';
import { defaultRng } from './rng.ts';
import {
  type Checked,
  checkControlMessage,
  checkIdentityMessage,
  checkMeshSlice,
  checkMeshSliceConfig,
} from './schemas.ts';
import type { Rng } from './types.ts';
import { WebSocket } from './ws-client.ts';

/** What stays local to the proxy: everything in a ProxyConfig but the mesh slice. */
export type Bootstrap = Omit<ProxyConfigInput, 'services' | 'endpoints' | 'routes' | 'policies' | 'revision'>;

export interface ControlClientOptions {
  url: string;
  token: string;
  /**
   * PEM file of the roots a wss:// control plane's certificate must chain to; read at every connect, so renewed
   * roots are picked up. Without it, the system's roots.
   */
  caFile?: string;
  identity: ProxyIdentity;
  bootstrap: Bootstrap;
  /** Where snapshots are applied: the proxy, or the primary of a proxy's worker processes. */
  proxy: Pick<TrellisProxy, 'apply'>;
  /** Folder for the last-known-good snapshot; none when absent. */
  stateDir?: string;
  /** The snapshot from `stateDir` the proxy was already started with; read and applied by `start()` when absent. */
  restored?: Persisted;
  logger: Logger;
  rng?: Rng;
  backoff?: { baseIntervalMs: number; maxIntervalMs: number };
  /** The proxy's workload identity: certificates are requested (and renewed) over the stream when given. */
  workload?: IdentityManager;
}

/** Retries of a refused or failed certificate request back off from 1 s to a minute. */
const IDENTITY_BACKOFF = { baseIntervalMs: 1000, maxIntervalMs: 60_000 };

export interface Persisted {
  revision: number;
  slice: MeshSlice;
  /** The mesh the revision belongs to, as the snapshot named it. */
  mesh?: string;
}

const STATE_FILE = 'last-known-good.json';
const MAX_QUEUED_FRAMES = 60;

export function mergeConfig(bootstrap: Bootstrap, revision: number, slice: MeshSlice): ProxyConfigInput {
  return { ...bootstrap, revision, ...slice };
}

/** Reads the last-known-good snapshot, or undefined when there is none (or it is unreadable). */
export async function readLastKnownGood(stateDir: string): Promise<Persisted | undefined> {
  try {
    const value = JSON.parse(await fs.readFile(path.join(stateDir, STATE_FILE), 'utf8')) as {
      revision?: unknown;
      slice?: unknown;
      mesh?: unknown;
    };
    const slice = checkMeshSlice(value.slice);
    if (!slice.ok || typeof value.revision !== 'number') return undefined;
    return {
      revision: value.revision,
      slice: slice.value,
      ...(typeof value.mesh === 'string' ? { mesh: value.mesh } : {}),
    };
  } catch {
    return undefined;
  }
}

async function writeLastKnownGood(stateDir: string, state: Persisted): Promise<void> {
  await fs.mkdir(stateDir, { recursive: true });
  const tmp = path.join(stateDir, `${STATE_FILE}.${randomUUID()}.tmp`);
  await fs.writeFile(tmp, JSON.stringify(state));
  await fs.rename(tmp, path.join(stateDir, STATE_FILE));
}

export class ControlClient {
  private socket: WebSocket | undefined;
  private stopped = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private current: Persisted | undefined;
  private frames: TelemetryFrame[] = [];
  /** The last frame published listed endpoints held ejected. */
  private heldEjected = false;
  private telemetryTimer: NodeJS.Timeout | undefined;
  private identityTimer: NodeJS.Timeout | undefined;
  private identityAttempt = 0;
  /** Resolves each time a connection is established (tests wait on it). */
  connected = 0;
  acks = 0;
  nacks = 0;

  constructor(private readonly options: ControlClientOptions) {}

  /** Applies the on-disk snapshot if there is one, then starts connecting. */
  async start(): Promise<void> {
    if (this.options.restored) {
      this.current = this.options.restored;
      this.options.logger.info(
        { revision: this.current.revision },
        'started from the last-known-good snapshot on disk',
      );
    } else if (this.options.stateDir) {
      const saved = await readLastKnownGood(this.options.stateDir);
      if (saved) {
        const result = await this.options.proxy.apply(
          mergeConfig(this.options.bootstrap, saved.revision, saved.slice),
        );
        if (result.ok) {
          this.current = saved;
          this.options.logger.info(
            { revision: saved.revision },
            'started from the last-known-good snapshot on disk',
          );
        }
      }
    }
    this.connect();
    this.telemetryTimer = setInterval(() => this.flushTelemetry(), 1000);
    this.telemetryTimer.unref();
  }

  /**
   * The proxy's telemetry sink: frames are batched and sent each second while connected. Empty frames are left
   * out, except the first with no ejected endpoints after some: the control plane learns the ejections ended.
   */
  publish(frame: TelemetryFrame): void {
    const held = frame.ejectedNow.length > 0;
    const heldBefore = this.heldEjected;
    this.heldEjected = held;
    if (frame.edges.length === 0 && frame.ejections === 0 && !held && !heldBefore) return;
    this.frames.push(frame);
    if (this.frames.length > MAX_QUEUED_FRAMES) this.frames.shift();
  }

  get revision(): number | undefined {
    return this.current?.revision;
  }

  get isOpen(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.identityTimer);
    clearInterval(this.telemetryTimer);
    const socket = this.socket;
    if (socket && socket.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.close(CLOSE_CODES.shuttingDown, 'proxy shutting down');
        setTimeout(() => {
          socket.terminate();
          resolve();
        }, 1000).unref();
      });
    }
  }

  private connect(): void {
    if (this.stopped) return;
    const caFile = this.options.caFile;
    if (caFile === undefined) {
      this.open(undefined);
      return;
    }
    fs.readFile(caFile, 'utf8').then(
      (ca) => this.open(ca),
      (err: Error) => {
        this.options.logger.error({ err, caFile }, 'cannot read the control plane CA file; retrying');
        this.retryLater();
      },
    );
  }

  /** Schedules the next connect after a backoff; returns the delay. */
  private retryLater(): number {
    const delay = backoffDelay(
      Math.min(this.attempt, 16),
      this.options.backoff ?? { baseIntervalMs: 250, maxIntervalMs: 30_000 },
      this.options.rng ?? defaultRng,
    );
    this.attempt += 1;
    this.timer = setTimeout(() => this.connect(), delay);
    this.timer.unref();
    return delay;
  }

  private open(ca: string | undefined): void {
    if (this.stopped) return;
    const { logger } = this.options;
    const socket = new WebSocket(this.options.url, {
      maxPayload: STREAM_MAX_MESSAGE_BYTES,
      handshakeTimeout: 5000,
      ...(ca === undefined ? {} : { ca }),
    });
    this.socket = socket;
    socket.on('open', () => {
      this.attempt = 0;
      this.connected += 1;
      logger.info({ url: this.options.url }, 'connected to the control plane');
      socket.send(
        JSON.stringify({
          type: 'hello',
          protocol: STREAM_PROTOCOL_VERSION,
          token: this.options.token,
          node: this.options.identity,
          ...(this.current?.mesh ? { revision: this.current.revision, mesh: this.current.mesh } : {}),
        }),
      );
    });
    // One message at a time, in order: each update builds on the state the one before it left, and applying is
    // asynchronous; two frames arriving in one read must not both start from the same old state.
    let queue: Promise<void> = Promise.resolve();
    socket.on('message', (data) => {
      const text = data.toString();
      queue = queue
        .then(() => this.onMessage(socket, text))
        .catch((err) => logger.error({ err }, 'control message failed'));
    });
    socket.on('close', (code, reason) => {
      if (this.socket === socket) this.socket = undefined;
      this.options.workload?.abandon();
      if (this.stopped) return;
      const delay = this.retryLater();
      logger.warn(
        { code, reason: reason.toString(), retryInMs: Math.round(delay) },
        'control plane connection lost; serving with the current snapshot',
      );
    });
    socket.on('error', (err) => logger.debug({ err }, 'control plane socket error'));
  }

  private send(socket: WebSocket, message: object): void {
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  private nack(
    socket: WebSocket,
    revision: number,
    nonce: string,
    error: string,
    errors: FieldError[],
  ): void {
    this.nacks += 1;
    this.options.logger.error({ revision, errors }, `refused snapshot: ${error}`);
    this.send(socket, {
      type: 'nack',
      revision,
      nonce,
      error: error.slice(0, 4096),
      errors: errors.slice(0, 100),
    });
  }

  private async onMessage(socket: WebSocket, text: string): Promise<void> {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      socket.close(CLOSE_CODES.protocolError, 'malformed JSON');
      return;
    }
    const type = (raw as { type?: unknown } | null)?.type;
    if (type === 'certificate' || type === 'certificate-error') {
      this.onIdentity(socket, raw);
      return;
    }
    const parsed = checkControlMessage(raw);
    if (!parsed.ok) {
      socket.close(CLOSE_CODES.protocolError, parsed.message.slice(0, 120));
      return;
    }
    const message = parsed.value;
    let slice: MeshSlice;
    // The part of the message the schema left unchecked (`unknown`), validated now: refused with a NACK if wrong.
    const checked = <T>(result: Checked<T>, what: string): T | undefined => {
      if (result.ok) return result.value;
      this.nack(socket, message.revision, message.nonce, `invalid ${what}: ${result.message}`, result.errors);
      return undefined;
    };
    if (message.type === 'snapshot') {
      const valid = checked(checkMeshSlice(message.slice), 'snapshot');
      if (!valid) return;
      slice = valid;
    } else if (!this.current) {
      this.nack(
        socket,
        message.revision,
        message.nonce,
        `a ${message.type} update arrived before any snapshot`,
        [],
      );
      return;
    } else if (message.type === 'config') {
      const config = checked(checkMeshSliceConfig(message.config), 'config');
      if (!config) return;
      const listed = new Set(config.services.map((s) => s.name));
      slice = {
        ...config,
        endpoints: this.current.slice.endpoints.filter((e) => listed.has(e.service)),
      };
    } else {
      slice = {
        ...this.current.slice,
        endpoints: applyEndpointsMessage(this.current.slice.endpoints, message),
      };
    }
    const result = await this.options.proxy.apply(
      mergeConfig(this.options.bootstrap, message.revision, slice),
    );
    if (!result.ok) {
      this.nack(socket, message.revision, message.nonce, result.message, result.errors);
      return;
    }
    const mesh = message.type === 'snapshot' ? message.mesh : this.current?.mesh;
    this.current = { revision: message.revision, slice, ...(mesh ? { mesh } : {}) };
    this.acks += 1;
    this.send(socket, { type: 'ack', revision: message.revision, nonce: message.nonce });
    // Synced: the stream is usable, so this is when a missing or due certificate is asked for.
    void this.requestIdentity(socket);
    if (this.options.stateDir) {
      await writeLastKnownGood(this.options.stateDir, this.current).catch((err) =>
        this.options.logger.warn({ err }, 'could not save the last-known-good snapshot'),
      );
    }
  }

  private onIdentity(socket: WebSocket, raw: unknown): void {
    const identity = this.options.workload;
    const parsed = checkIdentityMessage(raw);
    if (!parsed.ok) {
      socket.close(CLOSE_CODES.protocolError, parsed.message.slice(0, 120));
      return;
    }
    if (!identity) return;
    const result = identity.accept(parsed.value);
    if (result.ok) {
      this.identityAttempt = 0;
      this.scheduleIdentity(identity.renewAt() - Date.now());
    } else {
      this.scheduleIdentity(
        backoffDelay(Math.min(this.identityAttempt++, 16), IDENTITY_BACKOFF, this.options.rng ?? defaultRng),
      );
    }
  }

  private scheduleIdentity(delayMs: number): void {
    clearTimeout(this.identityTimer);
    if (this.stopped) return;
    // setTimeout holds at most 2^31-1 ms; a later renewal is re-planned when the timer fires.
    this.identityTimer = setTimeout(
      () => {
        this.identityTimer = undefined;
        const socket = this.socket;
        if (socket) void this.requestIdentity(socket);
        else this.scheduleIdentity(1000);
      },
      Math.min(Math.max(0, delayMs), 2_000_000_000),
    );
    this.identityTimer.unref();
  }

  /**
   * Sends a CSR if one is due. Called after each ACK and by the timer; while a timer is planned (the renewal, or
   * the backoff after a refusal) only the timer acts, so refusals are not retried at the pace of revisions.
   */
  private async requestIdentity(socket: WebSocket): Promise<void> {
    const identity = this.options.workload;
    if (!identity || this.stopped || socket !== this.socket || socket.readyState !== WebSocket.OPEN) return;
    if (this.identityTimer || identity.awaiting) return;
    if (!identity.due()) {
      // Not yet: a timer can fire a millisecond early.
      this.scheduleIdentity(identity.renewAt() - Date.now() + 1);
      return;
    }
    try {
      this.send(socket, await identity.request());
    } catch (err) {
      this.options.logger.error({ err }, 'could not make a certificate request');
      this.scheduleIdentity(
        backoffDelay(Math.min(this.identityAttempt++, 16), IDENTITY_BACKOFF, this.options.rng ?? defaultRng),
      );
    }
  }

  private flushTelemetry(): void {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN || this.frames.length === 0) return;
    const frames = this.frames;
    this.frames = [];
    this.send(socket, { type: 'telemetry', frames });
  }
}

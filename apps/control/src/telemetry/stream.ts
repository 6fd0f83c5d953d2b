/**
 * The live telemetry stream on TELEMETRY_STREAM_PATH: a WebSocket on which the console gets the live topology
 * about every second without polling, optionally narrowed to one service (`?service=`). The topology is computed
 * once per tick and shared by every subscriber; a subscriber that stops reading is cut off rather than buffered
 * for without limit. The stream only sends: anything a subscriber sends is ignored.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  CLOSE_CODES,
  describeFieldErrors,
  type LiveTelemetryMessage,
  TELEMETRY_CLOSE_CODES,
  TELEMETRY_STREAM_PATH,
  TelemetrySubscribeQuery,
  type Topology,
  toFieldErrors,
} from '@trellis/schema';
import type { Logger } from 'pino';
import { type WebSocket, WebSocketServer } from 'ws';
import { closeReason } from '../stream/hub.ts';
import { focusTopology } from './topology.ts';

export interface TelemetryStreamOptions {
  logger: Logger;
  /** The current topology, computed once per tick. */
  topology: () => Promise<Topology>;
  /** Default 1000. */
  intervalMs?: number;
}

/** A subscriber with this much unsent is not reading and is disconnected. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

interface Subscriber {
  ws: WebSocket;
  service: string | undefined;
}

export class TelemetryStream {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  private readonly log: Logger;
  private readonly subscribers = new Set<Subscriber>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private closing = false;

  constructor(private readonly options: TelemetryStreamOptions) {
    this.log = options.logger.child({ component: 'telemetry-stream' });
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Whether an upgrade request is for this stream. */
  handles(req: IncomingMessage): boolean {
    const path = (req.url ?? '/').split('?')[0];
    return path === TELEMETRY_STREAM_PATH || path === `${TELEMETRY_STREAM_PATH}/`;
  }

  start(): void {
    if (this.timer || this.closing) return;
    this.timer = setInterval(() => this.tick(), this.options.intervalMs ?? 1000);
    this.timer.unref();
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', (err) => this.log.debug({ err }, 'socket error during upgrade'));
    if (this.closing) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req));
  }

  /** Closes every subscriber with 1001 and stops the ticks. Idempotent. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearInterval(this.timer);
    for (const s of this.subscribers) s.ws.close(CLOSE_CODES.shuttingDown, 'control plane shutting down');
    await this.ticking;
    for (const s of this.subscribers) s.ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  /** Sends the current topology to every subscriber now. */
  tick(): Promise<void> {
    if (this.ticking || this.subscribers.size === 0 || this.closing) return this.ticking ?? Promise.resolve();
    this.ticking = this.send([...this.subscribers])
      .catch((err) => this.log.warn({ err }, 'could not compute the live topology; will retry'))
      .finally(() => {
        this.ticking = undefined;
      });
    return this.ticking;
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    ws.on('error', (err) => this.log.debug({ err }, 'telemetry stream error'));
    const url = new URL(req.url ?? '/', 'http://localhost');
    const parsed = TelemetrySubscribeQuery.safeParse(Object.fromEntries(url.searchParams));
    if (!parsed.success) {
      const reason = `invalid query: ${describeFieldErrors(toFieldErrors(parsed.error))}`;
      ws.close(TELEMETRY_CLOSE_CODES.badQuery, closeReason(reason));
      return;
    }
    const subscriber: Subscriber = { ws, service: parsed.data.service };
    this.subscribers.add(subscriber);
    ws.on('close', () => this.subscribers.delete(subscriber));
    this.send([subscriber]).catch((err) => this.log.warn({ err }, 'could not send the first live topology'));
  }

  private async send(to: readonly Subscriber[]): Promise<void> {
    const topology = await this.options.topology();
    const whole = JSON.stringify({ type: 'live', ...topology } satisfies LiveTelemetryMessage);
    for (const s of to) {
      if (s.ws.readyState !== s.ws.OPEN) continue;
      if (s.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
        this.log.warn('a telemetry subscriber is not reading; disconnecting it');
        s.ws.terminate();
        continue;
      }
      const message: LiveTelemetryMessage | undefined = s.service
        ? { type: 'live', ...focusTopology(topology, s.service) }
        : undefined;
      s.ws.send(message ? JSON.stringify(message) : whole);
    }
  }
}

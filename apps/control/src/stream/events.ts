/**
 * The console's event feed on EVENTS_STREAM_PATH: tells every subscriber, the moment this process loads it, that a
 * revision was committed, and (coalesced to a few messages a second) that proxies' sync states changed. The
 * console invalidates its cached queries on these instead of polling every list. Messages are a few dozen bytes
 * and carry no mesh data, so one serialisation serves every subscriber; a subscriber that stops reading is cut
 * off. The feed only sends: anything a subscriber sends is ignored.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { CLOSE_CODES, EVENTS_STREAM_PATH, type MeshEvent, type RevisionKind } from '@trellis/schema';
import type { Logger } from 'pino';
import { type WebSocket, WebSocketServer } from 'ws';

/** What the proxy stream reports as it goes. */
export interface MeshEventSink {
  revisionLoaded(revision: number, kind: RevisionKind): void;
  proxiesChanged(): void;
}

export interface EventStreamOptions {
  logger: Logger;
  /** The newest loaded revision, sent in the hello. */
  currentRevision: () => number;
  /** Least time between two "proxies" messages. Default 250 ms. */
  proxiesIntervalMs?: number;
}

const MAX_BUFFERED_BYTES = 256 * 1024;

export class EventStream implements MeshEventSink {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 1024 });
  private readonly log: Logger;
  private readonly subscribers = new Set<WebSocket>();
  private proxiesTimer: NodeJS.Timeout | undefined;
  private proxiesSentAt = Number.NEGATIVE_INFINITY;
  private closing = false;

  constructor(private readonly options: EventStreamOptions) {
    this.log = options.logger.child({ component: 'event-stream' });
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  handles(req: IncomingMessage): boolean {
    const path = (req.url ?? '/').split('?')[0];
    return path === EVENTS_STREAM_PATH || path === `${EVENTS_STREAM_PATH}/`;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', (err) => this.log.debug({ err }, 'socket error during upgrade'));
    if (this.closing) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', (err) => this.log.debug({ err }, 'event stream error'));
      this.subscribers.add(ws);
      ws.on('close', () => this.subscribers.delete(ws));
      this.send([ws], { type: 'hello', revision: this.options.currentRevision() });
    });
  }

  revisionLoaded(revision: number, kind: RevisionKind): void {
    this.send(this.subscribers, { type: 'revision', revision, kind });
  }

  /** Coalesced: the first change is sent at once, later ones at most once per interval, the last never lost. */
  proxiesChanged(): void {
    if (this.proxiesTimer || this.closing) return;
    const interval = this.options.proxiesIntervalMs ?? 250;
    const wait = this.proxiesSentAt + interval - performance.now();
    const fire = () => {
      this.proxiesTimer = undefined;
      this.proxiesSentAt = performance.now();
      this.send(this.subscribers, { type: 'proxies' });
    };
    if (wait <= 0) fire();
    else {
      this.proxiesTimer = setTimeout(fire, wait);
      this.proxiesTimer.unref();
    }
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.proxiesTimer);
    for (const ws of this.subscribers) ws.close(CLOSE_CODES.shuttingDown, 'control plane shutting down');
    for (const ws of this.subscribers) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private send(to: Iterable<WebSocket>, event: MeshEvent): void {
    if (this.closing) return;
    const text = JSON.stringify(event);
    for (const ws of to) {
      if (ws.readyState !== ws.OPEN) continue;
      if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
        this.log.warn('an event subscriber is not reading; disconnecting it');
        ws.terminate();
        continue;
      }
      ws.send(text);
    }
  }
}

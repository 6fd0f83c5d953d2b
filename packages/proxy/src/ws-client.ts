/**
 * The WebSocket client of the control stream (RFC 6455): the opening handshake over `net` or `tls`, masked frames out,
 * fragmented messages in (up to `maxPayload`), ping answered with pong, the closing handshake. It has the surface of
 * the `ws` package's client that src/control-client.ts uses (`open`, `message`, `close` with code and reason, `error`;
 * `send`, `close`, `terminate`, `readyState`), and is tested against the `ws` server the control plane runs.
 *
 * Why not `ws`: its client loads node:http, node:https and zlib for the handshake and compression the stream does not
 * use; a sidecar without them is 1 MiB smaller (docs/proxy-memory.md). No extension is offered (no compression), no
 * subprotocol, no redirects, no proxy: the stream needs none.
 */

import { isUtf8 } from 'node:buffer';
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_HEAD_BYTES = 16 * 1024;
/** How long a close we started waits for the server's before the connection is cut (as `ws`). */
const CLOSE_TIMEOUT_MS = 30_000;

const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

export interface WsClientOptions {
  /** Largest message accepted (all its fragments); a larger one closes with 1009. Default 100 MiB, as `ws`. */
  maxPayload?: number;
  /** The opening handshake's time limit; 0: none. */
  handshakeTimeout?: number;
  /** PEM roots a wss:// server's certificate must chain to; the system's when absent. */
  ca?: string | Buffer | Array<string | Buffer>;
}

/** Close codes a peer may send (RFC 6455 7.4, as `ws` checks them). */
function validCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999)
  );
}

class ProtocolError extends Error {
  constructor(
    message: string,
    readonly closeCode: number,
  ) {
    super(message);
  }
}

export class WebSocket extends EventEmitter {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;

  readyState = WebSocket.CONNECTING;
  private readonly socket: net.Socket;
  private readonly key = randomBytes(16).toString('base64');
  private readonly maxPayload: number;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  private buffered: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragmentsBytes = 0;
  private fragmentedOpcode = -1;
  private closeCode = 1006;
  private closeReason: Buffer = Buffer.alloc(0);
  private closeSent = false;
  private closeReceived = false;
  private emittedClose = false;

  constructor(address: string, options: WsClientOptions = {}) {
    super();
    const url = new URL(address);
    const secure = url.protocol === 'wss:';
    if (!secure && url.protocol !== 'ws:') throw new SyntaxError(`not a ws:// or wss:// URL: ${address}`);
    this.maxPayload = options.maxPayload ?? 100 * 1024 * 1024;
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const port = Number(url.port || (secure ? 443 : 80));
    this.socket = secure
      ? tls.connect({
          host,
          port,
          ...(net.isIP(host) === 0 ? { servername: host } : {}),
          ...(options.ca === undefined ? {} : { ca: options.ca }),
          ALPNProtocols: ['http/1.1'],
        })
      : net.connect({ host, port });
    this.socket.setNoDelay(true);
    if (options.handshakeTimeout) {
      this.handshakeTimer = setTimeout(
        () => this.abortHandshake(new Error('Opening handshake has timed out')),
        options.handshakeTimeout,
      );
    }
    const path = `${url.pathname || '/'}${url.search}`;
    const head =
      `GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${this.key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
    this.socket.once(secure ? 'secureConnect' : 'connect', () => this.socket.write(head));
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (error) => this.onSocketError(error));
    this.socket.on('close', () => this.onSocketClose());
  }

  /** Sends a text message (a string) or a binary one (a Buffer), in one frame. */
  send(data: string | Buffer): void {
    if (this.readyState !== WebSocket.OPEN) throw new Error('WebSocket is not open');
    this.writeFrame(typeof data === 'string' ? OP_TEXT : OP_BINARY, Buffer.from(data));
  }

  /** Starts the closing handshake; the connection ends when the server answers it (or after 30 s). */
  close(code?: number, reason = ''): void {
    if (this.readyState === WebSocket.CLOSED) return;
    if (this.readyState === WebSocket.CONNECTING) {
      this.abortHandshake(new Error('WebSocket was closed before the connection was established'));
      return;
    }
    if (this.readyState === WebSocket.CLOSING) {
      if (this.closeSent && this.closeReceived) this.socket.end();
      return;
    }
    this.readyState = WebSocket.CLOSING;
    this.sendClose(code, reason);
    if (this.closeReceived) this.socket.end();
    this.closeTimer = setTimeout(() => this.socket.destroy(), CLOSE_TIMEOUT_MS);
  }

  /** Cuts the connection at once. */
  terminate(): void {
    if (this.readyState === WebSocket.CLOSED) return;
    if (this.readyState === WebSocket.CONNECTING) {
      this.abortHandshake(new Error('WebSocket was closed before the connection was established'));
      return;
    }
    this.readyState = WebSocket.CLOSING;
    this.socket.destroy();
  }

  private abortHandshake(error: Error): void {
    this.readyState = WebSocket.CLOSING;
    clearTimeout(this.handshakeTimer);
    this.emit('error', error);
    this.socket.destroy();
  }

  private onSocketError(error: Error): void {
    if (this.readyState === WebSocket.CLOSED) return;
    if (this.readyState === WebSocket.CONNECTING) {
      this.abortHandshake(error);
      return;
    }
    this.readyState = WebSocket.CLOSING;
    this.emit('error', error);
    this.socket.destroy();
  }

  private onSocketClose(): void {
    clearTimeout(this.handshakeTimer);
    clearTimeout(this.closeTimer);
    this.readyState = WebSocket.CLOSED;
    if (this.emittedClose) return;
    this.emittedClose = true;
    this.emit('close', this.closeCode, this.closeReason);
  }

  private onData(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    try {
      if (this.readyState === WebSocket.CONNECTING && !this.readHandshake()) return;
      this.readFrames();
    } catch (error) {
      if (error instanceof ProtocolError) this.failConnection(error);
      else throw error;
    }
  }

  /** Reads the server's answer to the handshake; false until it is whole. */
  private readHandshake(): boolean {
    const end = this.buffered.indexOf('\r\n\r\n');
    if (end === -1) {
      if (this.buffered.length > MAX_HEAD_BYTES)
        this.abortHandshake(new Error('Invalid handshake: head too large'));
      return false;
    }
    const lines = this.buffered.toString('latin1', 0, end).split('\r\n');
    this.buffered = this.buffered.subarray(end + 4);
    const status = /^HTTP\/1\.1 (\d{3})(?: |$)/.exec(lines[0] ?? '');
    if (status?.[1] !== '101') {
      this.abortHandshake(new Error(`Unexpected server response: ${status ? status[1] : lines[0]}`));
      return false;
    }
    const fields = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      fields.set(name, fields.has(name) ? `${fields.get(name)}, ${value}` : value);
    }
    const accept = createHash('sha1')
      .update(this.key + GUID)
      .digest('base64');
    let problem: string | undefined;
    if (fields.get('upgrade')?.toLowerCase() !== 'websocket') problem = 'Invalid Upgrade header';
    else if (!/(^|,)\s*upgrade\s*(,|$)/i.test(fields.get('connection') ?? ''))
      problem = 'Invalid Connection header';
    else if (fields.get('sec-websocket-accept') !== accept) problem = 'Invalid Sec-WebSocket-Accept header';
    else if (fields.has('sec-websocket-extensions'))
      problem = 'Server sent a Sec-WebSocket-Extensions header but no extension was requested';
    else if (fields.has('sec-websocket-protocol'))
      problem = 'Server sent a subprotocol but none was requested';
    if (problem !== undefined) {
      this.abortHandshake(new Error(problem));
      return false;
    }
    clearTimeout(this.handshakeTimer);
    this.readyState = WebSocket.OPEN;
    this.emit('open');
    return true;
  }

  private readFrames(): void {
    while (
      this.readyState === WebSocket.OPEN ||
      (this.readyState === WebSocket.CLOSING && !this.closeReceived)
    ) {
      const buf = this.buffered;
      if (buf.length < 2) return;
      const b0 = buf[0] as number;
      const b1 = buf[1] as number;
      const fin = (b0 & 0x80) !== 0;
      const opcode = b0 & 0x0f;
      if ((b0 & 0x70) !== 0) throw new ProtocolError('RSV1, RSV2 and RSV3 must be clear', 1002);
      if ((b1 & 0x80) !== 0) throw new ProtocolError('MASK must be clear', 1002);
      let length = b1 & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buf.length < 4) return;
        length = buf.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buf.length < 10) return;
        const high = buf.readUInt32BE(2);
        if (high > 0x1fffff)
          throw new ProtocolError('Unsupported WebSocket frame: payload length > 2^53 - 1', 1009);
        length = high * 2 ** 32 + buf.readUInt32BE(6);
        offset = 10;
      }
      const control = opcode >= 0x8;
      if (control) {
        if (!fin) throw new ProtocolError('FIN must be set', 1002);
        if (length > 125) throw new ProtocolError(`invalid payload length ${length}`, 1002);
        if (opcode !== OP_CLOSE && opcode !== OP_PING && opcode !== OP_PONG) {
          throw new ProtocolError(`invalid opcode ${opcode}`, 1002);
        }
      } else if (opcode === OP_CONTINUATION) {
        if (this.fragmentedOpcode === -1) throw new ProtocolError('invalid opcode 0', 1002);
      } else if (opcode === OP_TEXT || opcode === OP_BINARY) {
        if (this.fragmentedOpcode !== -1) throw new ProtocolError(`invalid opcode ${opcode}`, 1002);
      } else {
        throw new ProtocolError(`invalid opcode ${opcode}`, 1002);
      }
      if (!control && this.fragmentsBytes + length > this.maxPayload) {
        throw new ProtocolError('Max payload size exceeded', 1009);
      }
      if (buf.length < offset + length) return;
      const payload = buf.subarray(offset, offset + length);
      this.buffered = buf.subarray(offset + length);
      if (control) this.onControl(opcode, payload);
      else this.onDataFrame(opcode, fin, payload);
    }
  }

  private onDataFrame(opcode: number, fin: boolean, payload: Buffer): void {
    if (opcode !== OP_CONTINUATION) this.fragmentedOpcode = opcode;
    this.fragments.push(payload);
    this.fragmentsBytes += payload.length;
    if (!fin) return;
    const message =
      this.fragments.length === 1 ? (this.fragments[0] as Buffer) : Buffer.concat(this.fragments);
    const binary = this.fragmentedOpcode === OP_BINARY;
    this.fragments = [];
    this.fragmentsBytes = 0;
    this.fragmentedOpcode = -1;
    if (!binary && !isUtf8(message)) throw new ProtocolError('invalid UTF-8 sequence', 1007);
    // A copy: the message may be a view of a larger read buffer.
    this.emit('message', Buffer.from(message), binary);
  }

  private onControl(opcode: number, payload: Buffer): void {
    if (opcode === OP_PING) {
      if (this.readyState === WebSocket.OPEN) this.writeFrame(OP_PONG, payload);
      this.emit('ping', payload);
      return;
    }
    if (opcode === OP_PONG) {
      this.emit('pong', payload);
      return;
    }
    // Close.
    this.closeReceived = true;
    if (payload.length === 1) throw new ProtocolError('invalid payload length 1', 1002);
    if (payload.length === 0) {
      this.closeCode = 1005;
    } else {
      const code = payload.readUInt16BE(0);
      if (!validCloseCode(code)) throw new ProtocolError(`invalid status code ${code}`, 1002);
      const reason = payload.subarray(2);
      if (!isUtf8(reason)) throw new ProtocolError('invalid UTF-8 sequence', 1007);
      this.closeCode = code;
      this.closeReason = Buffer.from(reason);
    }
    if (!this.closeSent) {
      this.readyState = WebSocket.CLOSING;
      this.sendClose(this.closeCode === 1005 ? undefined : this.closeCode, '');
    }
    this.socket.end();
  }

  /** Fails the connection (RFC 6455 7.1.7): a close frame with the reason, then the end of the socket. */
  private failConnection(error: ProtocolError): void {
    this.buffered = Buffer.alloc(0);
    if (this.readyState === WebSocket.CLOSED) return;
    this.closeCode = error.closeCode;
    this.readyState = WebSocket.CLOSING;
    this.emit('error', error);
    if (!this.closeSent) this.sendClose(error.closeCode, '');
    this.socket.end();
    this.closeTimer = setTimeout(() => this.socket.destroy(), CLOSE_TIMEOUT_MS);
  }

  private sendClose(code: number | undefined, reason: string): void {
    this.closeSent = true;
    if (code === undefined) {
      this.writeFrame(OP_CLOSE, Buffer.alloc(0));
      return;
    }
    const text = Buffer.from(reason);
    const payload = Buffer.allocUnsafe(2 + text.length);
    payload.writeUInt16BE(code, 0);
    text.copy(payload, 2);
    this.writeFrame(OP_CLOSE, payload);
  }

  /** One frame, FIN set, masked as a client's must be. */
  private writeFrame(opcode: number, payload: Buffer): void {
    if (this.socket.destroyed) return;
    const length = payload.length;
    const lengthBytes = length < 126 ? 0 : length < 65_536 ? 2 : 8;
    const frame = Buffer.allocUnsafe(2 + lengthBytes + 4 + length);
    frame[0] = 0x80 | opcode;
    if (lengthBytes === 0) frame[1] = 0x80 | length;
    else if (lengthBytes === 2) {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(length, 2);
    } else {
      frame[1] = 0x80 | 127;
      frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
      frame.writeUInt32BE(length >>> 0, 6);
    }
    const maskAt = 2 + lengthBytes;
    randomFillSync(frame, maskAt, 4);
    const dataAt = maskAt + 4;
    for (let i = 0; i < length; i++) {
      frame[dataAt + i] = (payload[i] as number) ^ (frame[maskAt + (i & 3)] as number);
    }
    this.socket.write(frame);
  }
}

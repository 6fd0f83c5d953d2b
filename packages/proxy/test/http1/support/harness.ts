/**
 * Runs one byte stream through Trellis's RequestParser (cut exactly as the case says) and through a real
 * `node:http` server (llhttp, strict) over a loopback socket (cut into the same writes), and reduces both to
 * the same shape: the messages each accepted, in order, and whether it refused the rest. `compare` then says
 * whether they agree, or how they differ, using the documented divergences in `divergences.ts`.
 *
 * One server serves every case; each case is its own connection (a refusal closes it anyway), identified on
 * the server by the client's port. The server never answers: a client's EOF makes node:http drop what is
 * pending and close, and what the server saw is recorded as it is parsed, before that.
 */
import http from 'node:http';
import net from 'node:net';
import { rawFields } from '../../../src/http1/lookup.ts';
import { type ParserLimits, RequestParser } from '../../../src/http1/parser.ts';
import { classify, type DivergenceContext } from './divergences.ts';

export interface Seen {
  method: string;
  target: string;
  version: string;
  /** rawHeaders: name, value, name, value, … */
  headers: string[];
  body: Buffer;
  trailers: string[];
}

export interface Outcome {
  messages: Seen[];
  /** Why the rest was refused (our code, or llhttp's err.code); null when nothing was refused. */
  error: string | null;
  /** After an upgrade or CONNECT request: every byte after its head. */
  tunnel: Buffer | null;
  /** Ours only: the stream offset where each message (and the one after the last) starts. */
  starts: number[];
}

export function pieces(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let last = 0;
  for (const c of cuts) {
    out.push(bytes.subarray(last, c));
    last = c;
  }
  out.push(bytes.subarray(last));
  return out;
}

export function runOurs(bytes: Buffer, cuts: readonly number[], limits: ParserLimits): Outcome {
  const messages: Seen[] = [];
  const starts = [0];
  let current: Seen | null = null;
  let bodyParts: Buffer[] = [];
  let error: string | null = null;
  let tunnel: Buffer | null = null;
  let tunnelBody: Buffer | null = null;
  const parser = new RequestParser(limits, {
    onHead(head) {
      current = {
        method: head.method,
        target: head.target,
        version: `1.${head.versionMinor}`,
        headers: rawFields(head),
        body: Buffer.alloc(0),
        trailers: [],
      };
      bodyParts = [];
    },
    onBody(chunk) {
      bodyParts.push(Buffer.from(chunk));
    },
    onTrailers(fields) {
      if (current !== null) current.trailers = rawFields(fields);
    },
    onComplete() {
      const seen = current as Seen;
      seen.body = Buffer.concat(bodyParts);
      messages.push(seen);
      starts.push(parser.offset);
      if (parser.paused) tunnelBody = seen.body;
    },
    onError(e) {
      error = e.code;
    },
  });
  for (const piece of pieces(bytes, cuts)) parser.execute(piece);
  parser.finish();
  if (parser.paused) {
    const last = messages[messages.length - 1] as Seen;
    tunnel = Buffer.concat([tunnelBody ?? Buffer.alloc(0), parser.takeRest()]);
    last.body = Buffer.alloc(0);
  }
  return { messages, error, tunnel, starts };
}

interface Connection {
  seen: { seen: Seen; parts: Buffer[]; req: http.IncomingMessage | null }[];
  error: string | null;
  tunnel: Buffer[] | null;
  closed: Promise<void>;
  close: () => void;
}

export interface NodeServerOptions {
  maxHeaderSize: number;
}

/** The reference: a node:http server as strict as Node gets, recording what it parsed per connection. */
export class LlhttpServer {
  private readonly server: http.Server;
  private readonly connections = new Map<number, Connection>();
  private port = 0;

  constructor(options: NodeServerOptions) {
    this.server = http.createServer({
      insecureHTTPParser: false,
      requireHostHeader: false,
      maxHeaderSize: options.maxHeaderSize,
      joinDuplicateHeaders: false,
      keepAliveTimeout: 0,
      requestTimeout: 0,
      headersTimeout: 0,
    });
    this.server.maxHeadersCount = 0;
    const onRequest = (req: http.IncomingMessage) => {
      const conn = this.connection(req.socket.remotePort as number);
      const entry = {
        seen: {
          method: req.method as string,
          target: req.url as string,
          version: req.httpVersion,
          headers: req.rawHeaders,
          body: Buffer.alloc(0),
          trailers: [],
        } as Seen,
        parts: [] as Buffer[],
        req,
      };
      conn.seen.push(entry);
      req.on('data', (chunk: Buffer) => entry.parts.push(chunk));
      req.on('error', () => {});
    };
    this.server.on('request', onRequest);
    this.server.on('checkContinue', onRequest);
    this.server.on('checkExpectation', onRequest);
    const onTunnel = (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      const conn = this.connection(socket.remotePort as number);
      conn.seen.push({
        seen: {
          method: req.method as string,
          target: req.url as string,
          version: req.httpVersion,
          headers: req.rawHeaders,
          body: Buffer.alloc(0),
          trailers: [],
        },
        parts: [],
        req: null,
      });
      const tunnel: Buffer[] = [Buffer.from(head)];
      conn.tunnel = tunnel;
      socket.on('data', (chunk: Buffer) => tunnel.push(chunk));
      socket.on('end', () => socket.end());
      socket.on('error', () => {});
    };
    this.server.on('upgrade', onTunnel);
    this.server.on('connect', onTunnel);
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
      const conn = this.connection(socket.remotePort as number);
      conn.error ??= err.code ?? 'ERROR';
      setImmediate(() => socket.destroy());
    });
    this.server.on('connection', (socket: net.Socket) => {
      const conn = this.connection(socket.remotePort as number);
      socket.on('close', conn.close);
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private connection(port: number): Connection {
    let conn = this.connections.get(port);
    if (conn === undefined) {
      let close = () => {};
      const closed = new Promise<void>((resolve) => {
        close = resolve;
      });
      conn = { seen: [], error: null, tunnel: null, closed, close };
      this.connections.set(port, conn);
    }
    return conn;
  }

  /** Writes the pieces on a new connection (one event-loop turn apart), half-closes, and waits for both ends. */
  async run(bytes: Buffer, cuts: readonly number[], timeoutMs = 15_000): Promise<Outcome> {
    const socket = net.connect(this.port, '127.0.0.1');
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('data', () => {});
    const clientClosed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const port = socket.localPort as number;
    const conn = this.connection(port);
    for (const piece of pieces(bytes, cuts)) {
      if (socket.destroyed || !socket.writable) break;
      socket.write(piece);
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (!socket.destroyed) socket.end();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      Promise.all([clientClosed, conn.closed]).then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) socket.destroy();
    await new Promise((resolve) => setImmediate(resolve));
    this.connections.delete(port);
    const messages: Seen[] = [];
    for (const entry of conn.seen) {
      if (entry.req !== null) {
        if (!entry.req.complete) break;
        entry.seen.body = Buffer.concat(entry.parts);
        entry.seen.trailers = entry.req.rawTrailers;
      }
      messages.push(entry.seen);
    }
    return {
      messages,
      error: timedOut ? 'HARNESS_TIMEOUT' : conn.error,
      tunnel: conn.tunnel === null ? null : Buffer.concat(conn.tunnel),
      starts: [],
    };
  }
}

export type Verdict =
  | { kind: 'accepted'; messages: number }
  | { kind: 'refused'; ours: string; llhttp: string }
  | { kind: 'divergence'; id: string; ours: string | null; llhttp: string | null }
  | { kind: 'failure'; reason: string };

function sameMessage(a: Seen, b: Seen): string | null {
  if (a.method !== b.method) return `method ${a.method} vs ${b.method}`;
  if (a.target !== b.target) return `target ${JSON.stringify(a.target)} vs ${JSON.stringify(b.target)}`;
  if (a.version !== b.version) return `version ${a.version} vs ${b.version}`;
  if (JSON.stringify(a.headers) !== JSON.stringify(b.headers)) {
    return `headers ${JSON.stringify(a.headers)} vs ${JSON.stringify(b.headers)}`;
  }
  if (!a.body.equals(b.body)) return `body of ${a.body.length} vs ${b.body.length} bytes`;
  if (JSON.stringify(a.trailers) !== JSON.stringify(b.trailers)) {
    return `trailers ${JSON.stringify(a.trailers)} vs ${JSON.stringify(b.trailers)}`;
  }
  return null;
}

/**
 * Both refuse, or both accept the same messages; anything else must be one of the documented divergences, in
 * the direction documented, for the reason documented.
 */
export function compare(bytes: Buffer, ours: Outcome, llhttp: Outcome, limits: ParserLimits): Verdict {
  if (llhttp.error === 'HARNESS_TIMEOUT')
    return { kind: 'failure', reason: 'the node:http connection did not close' };
  const common = Math.min(ours.messages.length, llhttp.messages.length);
  for (let k = 0; k < common; k++) {
    const diff = sameMessage(ours.messages[k] as Seen, llhttp.messages[k] as Seen);
    if (diff !== null) return { kind: 'failure', reason: `message ${k} differs: ${diff}` };
  }
  const k = common;
  const context = (message: Seen | undefined, at = k): DivergenceContext => ({
    ours: ours.error,
    llhttp: llhttp.error,
    message,
    previous: ours.messages[at - 1],
    previousRaw: bytes.subarray(ours.starts[at - 1] ?? 0, ours.starts[at] ?? 0),
    raw: bytes.subarray(ours.starts[at] ?? 0),
    limits,
  });
  if (ours.tunnel !== null && llhttp.tunnel === null && k === ours.messages.length) {
    const id = classify('ours-upgrades', context(ours.messages[k - 1], k - 1));
    if (id !== null) return { kind: 'divergence', id, ours: ours.error, llhttp: llhttp.error };
    return { kind: 'failure', reason: `message ${k - 1}: ours reads an upgrade, llhttp does not` };
  }
  if (ours.messages.length === llhttp.messages.length) {
    if ((ours.error === null) === (llhttp.error === null)) {
      if ((ours.tunnel === null) !== (llhttp.tunnel === null)) {
        return {
          kind: 'failure',
          reason: `tunnel: ours ${ours.tunnel !== null}, llhttp ${llhttp.tunnel !== null}`,
        };
      }
      if (ours.tunnel !== null && !ours.tunnel.equals(llhttp.tunnel as Buffer)) {
        return { kind: 'failure', reason: 'the bytes after an upgrade differ' };
      }
      if (ours.error === null) return { kind: 'accepted', messages: k };
      return { kind: 'refused', ours: ours.error, llhttp: llhttp.error as string };
    }
    const id = classify(ours.error !== null ? 'ours-refuses' : 'ours-accepts', context(undefined));
    if (id !== null) return { kind: 'divergence', id, ours: ours.error, llhttp: llhttp.error };
    return {
      kind: 'failure',
      reason: `after ${k} messages: ours ${ours.error ?? 'accepts'}, llhttp ${llhttp.error ?? 'accepts'}`,
    };
  }
  if (llhttp.messages.length > ours.messages.length) {
    const message = llhttp.messages[k] as Seen;
    const id = ours.error === null ? null : classify('ours-refuses', context(message));
    if (id !== null) return { kind: 'divergence', id, ours: ours.error, llhttp: llhttp.error };
    return {
      kind: 'failure',
      reason: `message ${k} (${message.method} ${JSON.stringify(message.target)}): llhttp accepts, ours ${ours.error ?? 'stops'}`,
    };
  }
  const message = ours.messages[k] as Seen;
  const id = classify('ours-accepts', context(message));
  if (id !== null) return { kind: 'divergence', id, ours: ours.error, llhttp: llhttp.error };
  return {
    kind: 'failure',
    reason: `message ${k} (${message.method} ${JSON.stringify(message.target)}): ours accepts, llhttp ${llhttp.error ?? 'stops'}`,
  };
}

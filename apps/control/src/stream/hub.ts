/**
 * The control-plane end of the proxy stream (STREAM_PATH, protocol in packages/schema/src/stream.ts).
 *
 * A proxy connects, sends `hello` (join token + identity) within the hello timeout, and is registered as an
 * endpoint of its service. The join token decides which service it may be: a per-service token admits exactly
 * its service, and only the mesh-wide token (off unless configured) admits any. What it joined with is its
 * credential for the life of the connection: its certificate is signed for the token's service only, another
 * credential cannot replace it while it is connected, and its telemetry is taken only for edges of its own
 * service. Joins, leaves, refusals and certificates issued go to the security log. It is then sent its slice of the newest mesh (slice.ts) and, after every committed
 * change anywhere (LISTEN/NOTIFY, see notify.ts), what changed in that slice: nothing when the change lies
 * outside it, an `endpoints` delta when only endpoints changed since the revision it has, else the whole slice
 * again. It answers each message with ACK or NACK carrying the message's nonce; answers to anything but the
 * last message sent are stale and ignored. A proxy that refused a delta is sent its whole slice. What each proxy has acknowledged or refused is kept in memory for
 * GET /api/v1/proxies; liveness of its endpoint is kept in the database (registry.ts).
 *
 * Anything malformed closes that one connection with CLOSE_CODES.protocolError and a reason naming the problem:
 * a proxy that speaks the protocol wrongly must find out at once, not be half-served.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ProxyStatus, ProxySyncStatus } from '@trellis/schema';
import {
  CLOSE_CODES,
  describeFieldErrors,
  type EndpointLists,
  type FieldError,
  type MeshConfig,
  type ProxyIdentity,
  ProxyMessage,
  STREAM_MAX_MESSAGE_BYTES,
  STREAM_PATH,
  type TelemetryFrame,
  toFieldErrors,
} from '@trellis/schema';
import type { Logger } from 'pino';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import type { z } from 'zod';
import { CertificateRefused, type IssuedCertificate } from '../ca/authority.ts';
import { TrellisError } from '../errors.ts';
import { parseJsonText } from '../json.ts';
import type { ControlMetrics } from '../metrics.ts';
import type { StoreDeps } from '../store/change.ts';
import type { SecurityLog } from '../store/security-events.ts';
import { buildSnapshot } from '../store/snapshot.ts';
import { AdmissionQueue } from './admission.ts';
import { Batcher } from './batch.ts';
import { LatestOnly } from './coalesce.ts';
import type { MeshEventSink } from './events.ts';
import { ChangeLog, Mesh, type Step } from './mesh.ts';
import {
  leaveProxyEndpoint,
  proxyActor,
  type Registration,
  registerProxyEndpoint,
  registerProxyEndpoints,
  sweepProxyEndpoints,
  touchProxyEndpoints,
} from './registry.ts';
import { type Encoded, SliceCache } from './slice.ts';

/** True for a peer on this machine (127.0.0.0/8, ::1, and v4-mapped loopback). */
function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4 === '::1' || v4.startsWith('127.');
}

/** Standard WebSocket close code for "the server hit an unexpected condition" (RFC 6455 §7.4.1). */
export const CLOSE_INTERNAL_ERROR = 1011;

/** Close reasons travel in a control frame whose payload is at most 125 bytes, 2 of them the code. */
const MAX_REASON_BYTES = 123;

/** A close reason that fits a close frame: cut at a character boundary, marked with "…" when cut. */
export function closeReason(text: string): string {
  if (Buffer.byteLength(text) <= MAX_REASON_BYTES) return text;
  let out = '';
  let bytes = 0;
  const budget = MAX_REASON_BYTES - Buffer.byteLength('…');
  for (const ch of text) {
    const size = Buffer.byteLength(ch);
    if (bytes + size > budget) break;
    out += ch;
    bytes += size;
  }
  return `${out}…`;
}

export interface ProxyStreamOptions {
  store: StoreDeps;
  logger: Logger;
  /**
   * The mesh-wide join token (TRELLIS_JOIN_TOKEN), good for any service: for development only, and absent unless
   * configured.
   */
  joinToken?: string | undefined;
  /**
   * The per-service join token a secret belongs to (undefined: unknown, revoked or expired). A proxy joining with
   * one may register only as that service, so the CA only ever issues it that service's identity.
   */
  joinTokenLookup?: (token: string) => Promise<JoinCredential | undefined>;
  /** Writes joins, leaves, refusals and certificates issued to the security log. */
  security?: SecurityLog;
  /**
   * Take plaintext (ws://) streams from other hosts too. By default only loopback callers may join without TLS:
   * a join token and the certificates issued must not cross a network in clear.
   */
  plaintextFromNetwork?: boolean;
  helloTimeoutMs: number;
  /** A disconnected proxy's endpoint turns unhealthy after this long without a reconnect. */
  graceMs: number;
  /** ... and is removed after this long. */
  ttlMs: number;
  pingMs: number;
  /** How often connected proxies' endpoints are refreshed and stale ones swept; default graceMs / 4 in [20, 5000]. */
  livenessIntervalMs?: number;
  /** Safety net: re-read the newest revision this often even without a notification. Default 30 s. */
  resyncIntervalMs?: number;
  /**
   * Telemetry frames kept per proxy, for inspection; the aggregate view lives in the telemetry pipeline. Kept
   * small because it is per connected proxy. Default 3.
   */
  telemetryFramesKept?: number;
  /** New stream connections admitted per second; more wait in a queue. Default 200. */
  acceptPerSecond?: number;
  /**
   * For this long plus graceMs after this control plane starts, it does not sweep endpoints of proxies that have
   * not come back: while no control plane was up, no proxy could show it was alive, and proxies reconnect with a
   * backoff of up to 30 s. Default 30 s.
   */
  reconnectWindowMs?: number;
  /**
   * The ids of the other control-plane replicas alive now. When one goes away, its proxies lose the stream that
   * kept their endpoints fresh; they get the same grace plus reconnect window to come back (here or elsewhere)
   * before this replica sweeps them.
   */
  peers?: () => Promise<readonly string[]>;
  /** Receives every batch of telemetry frames a proxy sends (the telemetry pipeline). */
  telemetry?: { ingest(frames: TelemetryFrame[]): void };
  /** Hears of each revision loaded and of changes in proxies' sync states (the console's event feed). */
  events?: MeshEventSink;
  /** Signs proxies' certificate requests (their mTLS identity); without it, CSRs are answered with an error. */
  certificates?: CertificateIssuer;
  /** Counts pushes, ACKs, NACKs, convergence and revisions loaded (GET /metrics). */
  metrics?: ControlMetrics;
}

/** A per-service join token: its id names the credential in the security log. */
export interface JoinCredential {
  id: string;
  service: string;
}

/** The credential name of the mesh-wide join token. */
const MESH_TOKEN_CREDENTIAL = 'mesh-join-token';

/** Telemetry refusals logged per connection; a proxy that keeps sending foreign edges is not logged per frame. */
const TELEMETRY_REFUSALS_LOGGED = 1;

export interface CertificateIssuer {
  issue(csrPem: string, service: string): Promise<IssuedCertificate>;
}

interface Connection {
  ws: WebSocket;
  /** A CSR of this connection is being signed. */
  csrInFlight?: boolean;
  remote: string;
  /** Whether the stream came over TLS (the proxy-stream port, or an HTTPS API). */
  tls: boolean;
  /** What the hello was admitted with: `join-token:<id>` or MESH_TOKEN_CREDENTIAL; undefined before. */
  credential: string | undefined;
  /** The only service the credential admits; undefined for the mesh-wide token. */
  credentialService: string | undefined;
  telemetryRefusals: number;
  phase: 'hello' | 'registering' | 'ready' | 'closing' | 'closed';
  helloTimer: NodeJS.Timeout | undefined;
  outstandingPings: number;
  record: ProxyRecord | undefined;
  closed: Promise<void>;
}

interface ProxyRecord {
  key: string;
  node: ProxyIdentity;
  conn: Connection | undefined;
  endpointId: string | null;
  connectedAt: Date;
  disconnectedAt: Date | null;
  /** The revision the proxy has been brought up to (sent, or found to need nothing for); -1: none yet. */
  syncedTo: number;
  /** What the proxy holds, as far as known (null: unknown, e.g. after a refusal): the scope of its slice, ... */
  scopeKey: string | null;
  /** ... a digest of the slice's configuration, ... */
  configDigest: string | null;
  /** ... and of the whole slice (unknown after a delta). */
  sliceDigest: string | null;
  /** Messages sent and not yet answered, oldest first (the proxy answers in order). */
  unanswered: Map<string, { kind: Encoded['kind']; revision: number }>;
  lastSent: {
    kind: Encoded['kind'];
    revision: number;
    nonce: string;
    sentAt: Date;
    committedAt: Date | null;
  } | null;
  ackedRevision: number | null;
  lastAnswer: { type: 'ack' | 'nack'; revision: number } | null;
  lastNack: { revision: number; nonce: string; error: string; errors: FieldError[]; at: Date } | null;
  convergenceMs: number | null;
  telemetry: TelemetryFrame[];
  telemetryFrames: number;
  telemetryAt: Date | null;
}

/** Revisions read in one go when catching up; further behind than this, the mesh is rebuilt from the tables. */
const CATCH_UP_ROWS = 500;
/** Messages a proxy may leave unanswered before the oldest are forgotten (a proxy that stopped answering). */
const MAX_UNANSWERED = 64;

/**
 * Largest frame accepted before a valid hello. A hello is a few hundred bytes; without this, every
 * unauthenticated socket could make the server buffer a full-size frame.
 */
export const HELLO_MAX_BYTES = 64 * 1024;

/**
 * Sets the largest frame `ws` will accept from now on. `ws` takes the limit per server only, so this reaches
 * into its receiver; if a future `ws` moves that field, the server-wide limit still holds.
 */
function setFrameLimit(ws: WebSocket, bytes: number): void {
  const receiver = (ws as unknown as { _receiver?: { _maxPayload?: number } })._receiver;
  if (receiver && typeof receiver._maxPayload === 'number') receiver._maxPayload = bytes;
}

/** A proxy that lets this much pile up unsent is not reading; it is cut off and will resync on reconnect. */
const MAX_BUFFERED_BYTES = 4 * STREAM_MAX_MESSAGE_BYTES;
const SHUTDOWN_WAIT_MS = 2000;
const RETRY_LOAD_MS = 1000;

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

const MESSAGE_TYPES = new Set(['hello', 'ack', 'nack', 'telemetry', 'csr']);

/** Why a parsed JSON value is not a ProxyMessage, in a few words an operator can act on. */
function invalidMessage(value: unknown, error: z.ZodError): string {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return 'invalid message: must be a JSON object';
  }
  const type = (value as { type?: unknown }).type;
  if (type === undefined) return 'invalid message: no "type" (hello, ack, nack, telemetry or csr)';
  if (typeof type !== 'string' || !MESSAGE_TYPES.has(type)) {
    return `unknown message type ${JSON.stringify(type)}; expected hello, ack, nack, telemetry or csr`;
  }
  return `invalid ${type} message: ${describeFieldErrors(toFieldErrors(error))}`;
}

export class ProxyStream {
  /** Encoded snapshots; its counters show how often slices were serialised. */
  readonly slices = new SliceCache();
  private readonly wss: WebSocketServer;
  private readonly log: Logger;
  private readonly tokenDigest: Buffer | undefined;
  private readonly loader: LatestOnly;
  private readonly connections = new Set<Connection>();
  private readonly records = new Map<string, ProxyRecord>();
  private mesh: Mesh | undefined;
  private readonly changes = new ChangeLog();
  private closing = false;
  /** Sweeps wait until graceMs + reconnectWindowMs after this (the start, or the last failed liveness tick). */
  private startedAt = 0;
  private knownPeers: ReadonlySet<string> | undefined;
  private timers: NodeJS.Timeout[] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private tick: Promise<void> | undefined;
  /** Hellos being registered and disconnects being recorded: awaited on close, before the database goes. */
  private readonly pending = new Set<Promise<unknown>>();
  private readonly admission: AdmissionQueue;
  /** Hellos arriving together are registered together: one revision for a reconnect storm. */
  private readonly registrations: Batcher<ProxyIdentity, Registration>;

  constructor(private readonly options: ProxyStreamOptions) {
    this.log = options.logger.child({ component: 'proxy-stream' });
    this.admission = new AdmissionQueue(options.acceptPerSecond ?? 200);
    this.registrations = new Batcher<ProxyIdentity, Registration>((nodes) =>
      registerProxyEndpoints(options.store, nodes, { liveMs: options.graceMs }),
    );
    this.tokenDigest = options.joinToken ? digest(options.joinToken) : undefined;
    this.wss = new WebSocketServer({ noServer: true, maxPayload: STREAM_MAX_MESSAGE_BYTES });
    this.loader = new LatestOnly(
      (target) => this.load(target),
      (err) => {
        if (this.closing) return;
        this.log.warn({ err }, 'could not read the newest revision; will retry');
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.loader.retry(), RETRY_LOAD_MS);
        this.retryTimer.unref();
      },
    );
  }

  /** The newest revision this control plane has loaded (-1 before the first load). */
  get currentRevision(): number {
    return this.mesh?.revision ?? -1;
  }

  /** Starts heartbeats, liveness sweeps and the first load of the mesh. */
  start(): void {
    this.startedAt = this.options.store.clock().getTime();
    const { graceMs, pingMs } = this.options;
    const livenessMs =
      this.options.livenessIntervalMs ?? Math.max(20, Math.min(5000, Math.floor(graceMs / 4)));
    const every = (ms: number, fn: () => void) => {
      const timer = setInterval(fn, ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(pingMs, () => this.heartbeat());
    every(livenessMs, () => this.liveness());
    every(this.options.resyncIntervalMs ?? 30_000, () => this.resync());
    this.resync();
  }

  /** A revision was committed (by any process on the database). */
  revisionCommitted(revision: number): void {
    if (!this.closing) this.loader.offer(revision);
  }

  /** Re-reads the newest revision whatever this process believes, e.g. after notifications may have been lost. */
  resync(): void {
    if (this.closing) return;
    this.loader.refresh();
    // Proxies that refused their whole slice get it again: the refusal may have been passing.
    for (const record of this.records.values()) if (record.syncedTo < 0) this.sync(record);
  }

  /** For the HTTP server's `upgrade` event: takes STREAM_PATH, answers 404 for any other path. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', (err) => this.log.debug({ err }, 'socket error during upgrade'));
    const path = (req.url ?? '/').split('?')[0];
    if (path !== STREAM_PATH && path !== `${STREAM_PATH}/`) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    if (this.closing) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
    if (!encrypted && !this.options.plaintextFromNetwork && !isLoopbackAddress(req.socket.remoteAddress)) {
      const body =
        'join over wss:// (the proxy-stream TLS port): a join token must not cross a network in clear\n';
      socket.end(
        `HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      return;
    }
    const queued = this.admission.admit(() => {
      if (socket.destroyed || this.closing) {
        socket.destroy();
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req));
    });
    if (!queued)
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  }

  /** Stream connections waiting to be admitted (reconnect storms). */
  get admissionQueue(): number {
    return this.admission.queued;
  }

  /** Every proxy connected here, and those that left less than a TTL ago. */
  list(): Omit<ProxyStatus, 'replica'>[] {
    return [...this.records.values()]
      .sort(
        (a, b) =>
          a.node.service.localeCompare(b.node.service) ||
          a.node.instance.localeCompare(b.node.instance) ||
          a.connectedAt.getTime() - b.connectedAt.getTime(),
      )
      .map((r) => this.statusOf(r));
  }

  /** The telemetry frames last received from a proxy (newest last). */
  telemetryOf(service: string, instance: string): readonly TelemetryFrame[] {
    return this.records.get(`${service}/${instance}`)?.telemetry ?? [];
  }

  /** Closes every proxy stream with CLOSE_CODES.shuttingDown and stops all timers. Idempotent. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.admission.close();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    clearTimeout(this.retryTimer);
    const conns = [...this.connections];
    for (const conn of conns) this.closeConn(conn, CLOSE_CODES.shuttingDown, 'control plane shutting down');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(conns.map((c) => c.closed)),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, SHUTDOWN_WAIT_MS);
      }),
    ]);
    clearTimeout(timer);
    for (const conn of this.connections) conn.ws.terminate();
    await Promise.all([this.tick, this.loader.idle(), this.registrations.idle(), ...this.pending]);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  // ---- the mesh ------------------------------------------------------------------------------------------

  private async load(target: number): Promise<number> {
    const mesh = this.mesh;
    if (!mesh) {
      await this.rebuild();
      return this.currentRevision;
    }
    const rows = await this.options.store.db.revision.findMany({
      where: { revision: { gt: mesh.revision } },
      orderBy: { revision: 'asc' },
      take: CATCH_UP_ROWS,
    });
    if (rows.length === 0) return mesh.revision;
    const consecutive = rows.every((row, i) => row.revision === mesh.revision + 1 + i);
    if (rows.length === CATCH_UP_ROWS || !consecutive) {
      await this.rebuild();
      return this.currentRevision;
    }
    for (const row of rows) {
      if (row.kind === 'endpoints' && row.endpoints) {
        const lists = row.endpoints as EndpointLists;
        const diffs = mesh.applyEndpoints(row.revision, lists, row.createdAt);
        this.changes.add({ revision: row.revision, services: Object.keys(lists), diffs });
      } else {
        const dropped = mesh.applyConfig(row.snapshot as unknown as MeshConfig, row.createdAt);
        this.changes.add({ revision: row.revision, services: null, dropped });
      }
      this.options.events?.revisionLoaded(row.revision, row.kind === 'endpoints' ? 'endpoints' : 'config');
      this.options.metrics?.revisions.inc({ kind: row.kind === 'endpoints' ? 'endpoints' : 'config' });
    }
    this.log.debug({ revision: mesh.revision, wanted: target, read: rows.length }, 'pushing a new revision');
    for (const record of this.records.values()) this.sync(record);
    return mesh.revision;
  }

  /**
   * Reads the whole mesh from the tables (one consistent read) and the recent revisions' kinds, so proxies
   * that come back with a recent revision can still be sent deltas.
   */
  private async rebuild(): Promise<void> {
    const { snapshot, committedAt, steps, meshId } = await this.options.store.db.$transaction(
      async (tx) => {
        const state = await tx.meshState.findUnique({ where: { id: 1 } });
        const revision = state?.revision ?? 0;
        const snapshot = await buildSnapshot(tx, revision);
        const recent = await tx.$queryRaw<{ revision: number; kind: string; services: string[] | null }[]>`
          SELECT revision, kind,
                 CASE WHEN endpoints IS NULL THEN NULL
                      ELSE ARRAY(SELECT jsonb_object_keys(endpoints)) END AS services
          FROM "Revision" WHERE revision > ${revision - 256} AND revision <= ${revision}
          ORDER BY revision`;
        const committed = recent.length > 0 ? await tx.revision.findUnique({ where: { revision } }) : null;
        const steps: Step[] = recent.map((r) => ({
          revision: r.revision,
          services: r.kind === 'endpoints' ? (r.services ?? []) : null,
        }));
        return { snapshot, committedAt: committed?.createdAt ?? null, steps, meshId: state?.meshId ?? '' };
      },
      { isolationLevel: 'RepeatableRead' },
    );
    this.mesh = Mesh.of(snapshot, committedAt, meshId);
    this.changes.reset(steps);
    // Steps read back from the database do not say which endpoints a config change dropped: whoever is connected
    // gets its whole slice unless that is unchanged.
    for (const record of this.records.values()) record.configDigest = null;
    this.log.debug({ revision: snapshot.revision }, 'loaded the mesh');
    this.options.events?.revisionLoaded(snapshot.revision, 'config');
    for (const record of this.records.values()) this.sync(record);
  }

  /** Brings a ready proxy up to the newest revision: nothing, a delta, or its whole slice. */
  private sync(record: ProxyRecord): void {
    const conn = record.conn;
    const mesh = this.mesh;
    if (conn?.phase !== 'ready' || !mesh) return;
    if (record.syncedTo >= mesh.revision) return;
    if (conn.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.log.warn({ proxy: record.key }, 'proxy is not reading its stream; disconnecting it');
      conn.ws.terminate();
      return;
    }
    const service = record.node.service;
    const scope = this.slices.scopeOf(mesh, service);
    const changed = record.syncedTo >= 0 ? this.changes.since(record.syncedTo, mesh.revision) : null;
    const endpoints = changed ? [...changed.services].filter((s) => scope.services.has(s)).sort() : [];
    if (changed && !changed.config) {
      if (endpoints.length === 0) {
        this.advance(record, mesh.revision);
        return;
      }
      const diffs = this.changes.endpointDiffsSince(record.syncedTo, mesh.revision, endpoints);
      const message = diffs
        ? this.slices.endpointChanges(mesh, record.syncedTo, endpoints, diffs)
        : this.slices.endpoints(mesh, endpoints);
      this.send(record, message, mesh, scope.key);
      return;
    }
    if (changed && endpoints.length === 0 && record.scopeKey === scope.key && record.configDigest !== null) {
      const config = this.slices.config(mesh, service);
      if (config.configDigest === record.configDigest) this.advance(record, mesh.revision);
      else this.send(record, config, mesh, scope.key);
      return;
    }
    const snapshot = this.slices.snapshot(mesh, service);
    if (record.sliceDigest !== null && record.sliceDigest === snapshot.sliceDigest) {
      this.advance(record, mesh.revision);
      return;
    }
    this.send(record, snapshot, mesh, scope.key);
  }

  /** Nothing in the proxy's slice changed up to `revision`: it is as current as if it had been sent it. */
  private advance(record: ProxyRecord, revision: number): void {
    const settled = record.ackedRevision !== null && record.ackedRevision === record.syncedTo;
    record.syncedTo = revision;
    if (settled) record.ackedRevision = revision;
  }

  private send(record: ProxyRecord, encoded: Encoded, mesh: Mesh, scopeKey: string): void {
    record.conn?.ws.send(encoded.bytes, { binary: false });
    if (record.conn) this.options.metrics?.pushes.inc({ kind: encoded.kind });
    record.syncedTo = encoded.revision;
    record.scopeKey = scopeKey;
    record.sliceDigest = encoded.sliceDigest;
    if (encoded.configDigest !== null) record.configDigest = encoded.configDigest;
    record.unanswered.set(encoded.nonce, { kind: encoded.kind, revision: encoded.revision });
    if (record.unanswered.size > MAX_UNANSWERED) {
      const oldest = record.unanswered.keys().next().value;
      if (oldest !== undefined) record.unanswered.delete(oldest);
    }
    record.lastSent = {
      kind: encoded.kind,
      revision: encoded.revision,
      nonce: encoded.nonce,
      sentAt: this.options.store.clock(),
      committedAt: mesh.committedAt,
    };
  }

  // ---- connections ---------------------------------------------------------------------------------------

  private accept(ws: WebSocket, req: IncomingMessage): void {
    let closed!: () => void;
    const conn: Connection = {
      ws,
      remote: `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`,
      tls: (req.socket as { encrypted?: boolean }).encrypted === true,
      credential: undefined,
      credentialService: undefined,
      telemetryRefusals: 0,
      phase: 'hello',
      helloTimer: undefined,
      outstandingPings: 0,
      record: undefined,
      closed: new Promise<void>((resolve) => {
        closed = resolve;
      }),
    };
    this.connections.add(conn);
    setFrameLimit(ws, HELLO_MAX_BYTES);
    ws.on('message', (data) => this.onMessage(conn, data));
    ws.on('pong', () => {
      conn.outstandingPings = 0;
    });
    ws.on('error', (err) => this.log.debug({ err, remote: conn.remote }, 'proxy stream error'));
    ws.on('close', (code, reason) => {
      this.onClose(conn, code, reason.toString('utf8'));
      closed();
      if (conn.record) this.options.events?.proxiesChanged();
    });
    if (this.closing) {
      this.closeConn(conn, CLOSE_CODES.shuttingDown, 'control plane shutting down');
      return;
    }
    const ms = this.options.helloTimeoutMs;
    conn.helloTimer = setTimeout(() => {
      if (conn.phase === 'hello') this.closeConn(conn, CLOSE_CODES.protocolError, `no hello within ${ms} ms`);
    }, ms);
  }

  private closeConn(conn: Connection, code: number, reason: string): void {
    if (conn.phase === 'closing' || conn.phase === 'closed') return;
    clearTimeout(conn.helloTimer);
    conn.phase = 'closing';
    const level = code === CLOSE_CODES.shuttingDown || code === CLOSE_CODES.replaced ? 'debug' : 'warn';
    this.log[level]({ remote: conn.remote, proxy: conn.record?.key, code, reason }, 'closing proxy stream');
    conn.ws.close(code, closeReason(reason));
  }

  private onMessage(conn: Connection, data: RawData): void {
    if (conn.phase === 'closing' || conn.phase === 'closed') return;
    let value: unknown;
    try {
      value = parseJsonText(rawText(data));
    } catch (err) {
      this.closeConn(conn, CLOSE_CODES.protocolError, `malformed JSON: ${(err as Error).message}`);
      return;
    }
    const parsed = ProxyMessage.safeParse(value);
    if (!parsed.success) {
      this.closeConn(conn, CLOSE_CODES.protocolError, invalidMessage(value, parsed.error));
      return;
    }
    const message = parsed.data;
    if (conn.phase === 'hello') {
      if (message.type !== 'hello') {
        this.closeConn(conn, CLOSE_CODES.protocolError, `expected hello first, got ${message.type}`);
        return;
      }
      this.track(this.onHello(conn, message));
      return;
    }
    const record = conn.record;
    if (message.type === 'hello' || !record) {
      this.closeConn(conn, CLOSE_CODES.protocolError, 'hello sent twice');
      return;
    }
    if (message.type === 'telemetry') this.onTelemetry(conn, record, message.frames);
    else if (message.type === 'csr') this.onCsr(conn, record, message);
    else this.onAnswer(record, message);
  }

  /**
   * Signs the proxy's CSR for the service it registered as (the identity its join token admitted). One request at
   * a time per connection: signing costs CPU, and a proxy needs a certificate a day, not a stream of them.
   */
  private onCsr(
    conn: Connection,
    record: ProxyRecord,
    message: Extract<ProxyMessage, { type: 'csr' }>,
  ): void {
    const reply = (answer: object) => {
      if (conn.ws.readyState === conn.ws.OPEN) conn.ws.send(JSON.stringify(answer));
    };
    const refuse = (error: string) => reply({ type: 'certificate-error', id: message.id, error });
    const issuer = this.options.certificates;
    if (!issuer) {
      refuse('this control plane issues no certificates');
      return;
    }
    if (conn.csrInFlight) {
      refuse('a certificate request of this proxy is already being signed');
      return;
    }
    conn.csrInFlight = true;
    // The hello was checked against the credential, so these agree; the credential is what decides.
    const service = conn.credentialService ?? record.node.service;
    const audit = {
      actor: proxyActor(record.node),
      service,
      remote: conn.remote,
      detail: { instance: record.node.instance, credential: conn.credential },
    };
    this.track(
      issuer
        .issue(message.csr, service)
        .then(
          (issued) => {
            reply({
              type: 'certificate',
              id: message.id,
              chain: issued.chain,
              roots: issued.roots,
              expiresAt: issued.expiresAt.toISOString(),
            });
            this.options.security?.({
              ...audit,
              action: 'certificate.issued',
              outcome: 'allowed',
              subject: issued.identity,
              detail: { ...audit.detail, expiresAt: issued.expiresAt.toISOString() },
            });
          },
          (err: unknown) => {
            const reason =
              err instanceof CertificateRefused ? err.message : 'the certificate could not be signed';
            if (!(err instanceof CertificateRefused))
              this.log.error({ err, proxy: record.key }, 'signing a CSR failed');
            else this.log.warn({ proxy: record.key, reason }, 'refused a certificate request');
            refuse(reason);
            this.options.security?.({
              ...audit,
              action: 'certificate.refused',
              outcome: 'refused',
              subject: record.key,
              detail: { ...audit.detail, reason },
            });
          },
        )
        .finally(() => {
          conn.csrInFlight = false;
        }),
    );
  }

  /** Closes a connection whose hello was refused, and says so in the security log. */
  private refuseHello(
    conn: Connection,
    node: ProxyIdentity,
    code: number,
    reason: string,
    detail: Record<string, unknown> = {},
  ): void {
    this.closeConn(conn, code, reason);
    this.options.security?.({
      actor: conn.credential ?? 'anonymous',
      action: 'proxy.refused',
      outcome: 'refused',
      subject: `${node.service}/${node.instance}`,
      service: node.service,
      remote: conn.remote,
      detail: { reason, address: node.address, port: node.port, ...detail },
    });
  }

  /** Finds what a hello's token admits: sets the connection's credential, or refuses it. */
  private async admit(conn: Connection, hello: Extract<ProxyMessage, { type: 'hello' }>): Promise<boolean> {
    const node = hello.node;
    if (this.tokenDigest && timingSafeEqual(digest(hello.token), this.tokenDigest)) {
      conn.credential = MESH_TOKEN_CREDENTIAL;
      return true;
    }
    let found: JoinCredential | undefined;
    try {
      found = await this.options.joinTokenLookup?.(hello.token);
    } catch (err) {
      this.log.warn({ err }, 'could not check a join token');
      this.closeConn(conn, CLOSE_INTERNAL_ERROR, 'could not check the join token; retry later');
      return false;
    }
    if (conn.phase !== 'registering') return false;
    if (found === undefined) {
      this.refuseHello(conn, node, CLOSE_CODES.unauthorized, 'invalid join token');
      return false;
    }
    conn.credential = `join-token:${found.id}`;
    conn.credentialService = found.service;
    if (found.service !== node.service) {
      this.refuseHello(
        conn,
        node,
        CLOSE_CODES.unauthorized,
        `the join token is for service "${found.service}", not "${node.service}"`,
      );
      return false;
    }
    return true;
  }

  private async onHello(conn: Connection, hello: Extract<ProxyMessage, { type: 'hello' }>): Promise<void> {
    clearTimeout(conn.helloTimer);
    const node = hello.node;
    // Checked under "registering": a second hello meanwhile is refused as sent twice.
    conn.phase = 'registering';
    if (!(await this.admit(conn, hello))) return;
    setFrameLimit(conn.ws, STREAM_MAX_MESSAGE_BYTES);
    const key = `${node.service}/${node.instance}`;
    const previous = this.records.get(key);
    if (previous?.conn && previous.conn !== conn) {
      // A restarted proxy comes back with the credential it had; anyone else claiming a connected instance is
      // refused, not allowed to cut it off.
      if (previous.conn.credential !== conn.credential) {
        this.refuseHello(
          conn,
          node,
          CLOSE_CODES.unauthorized,
          `instance "${key}" is connected with another credential`,
        );
        return;
      }
      this.closeConn(
        previous.conn,
        CLOSE_CODES.replaced,
        'replaced by a newer connection of the same instance',
      );
    }
    const now = this.options.store.clock();
    const record: ProxyRecord = {
      key,
      node,
      conn,
      endpointId: null,
      connectedAt: now,
      disconnectedAt: null,
      syncedTo: -1,
      scopeKey: null,
      configDigest: null,
      sliceDigest: null,
      unanswered: new Map(),
      lastSent: null,
      ackedRevision: null,
      lastAnswer: null,
      lastNack: null,
      convergenceMs: null,
      telemetry: [],
      telemetryFrames: 0,
      telemetryAt: null,
    };
    this.records.set(key, record);
    conn.record = record;

    let revision: number;
    try {
      const registration = await this.registrations.submit(node);
      record.endpointId = registration.endpoint.id;
      revision = registration.revision;
    } catch (err) {
      if (this.records.get(key) === record) this.records.delete(key);
      if (err instanceof TrellisError && err.code === 'TRELLIS_ERR_NOT_FOUND') {
        this.closeConn(conn, CLOSE_CODES.protocolError, `unknown service "${node.service}"`);
      } else if (err instanceof TrellisError && err.code === 'TRELLIS_ERR_CONFLICT') {
        this.refuseHello(conn, node, CLOSE_CODES.conflict, err.message);
      } else {
        this.log.error({ err, proxy: key }, 'could not register a proxy endpoint');
        this.closeConn(conn, CLOSE_INTERNAL_ERROR, 'could not register the endpoint; retry later');
      }
      return;
    }
    await this.loader.reach(revision);
    if (conn.phase !== 'registering') return;
    conn.phase = 'ready';
    this.log.info(
      { proxy: key, remote: conn.remote, endpoint: `${node.address}:${node.port}` },
      'proxy joined',
    );
    this.options.security?.({
      actor: conn.credential ?? 'anonymous',
      action: 'proxy.join',
      outcome: 'allowed',
      subject: key,
      service: node.service,
      remote: conn.remote,
      detail: { address: node.address, port: node.port, transport: conn.tls ? 'wss' : 'ws' },
    });
    // A proxy that has a recent revision (from before a reconnect, or from disk) and whose slice saw only
    // endpoint changes since is brought up to date with a delta rather than its whole slice.
    const current = this.currentRevision;
    const since = hello.mesh !== undefined && hello.mesh === this.mesh?.id ? hello.revision : undefined;
    if (since !== undefined && since <= current && this.changes.endpointsChangedSince(since, current)) {
      record.syncedTo = since;
      record.ackedRevision = since;
    }
    this.sync(record);
    this.options.events?.proxiesChanged();
  }

  private onAnswer(
    record: ProxyRecord,
    answer: Extract<ProxyMessage, { type: 'ack' }> | Extract<ProxyMessage, { type: 'nack' }>,
  ): void {
    const sent = record.unanswered.get(answer.nonce);
    if (!sent || answer.revision !== sent.revision) {
      this.log.debug(
        { proxy: record.key, type: answer.type, revision: answer.revision },
        'ignored an answer to no message awaiting one',
      );
      return;
    }
    // Answers come in order: whatever was sent before this message has been answered already.
    for (const nonce of record.unanswered.keys()) {
      record.unanswered.delete(nonce);
      if (nonce === answer.nonce) break;
    }
    const last = record.lastSent;
    const isLast = last !== null && last.nonce === answer.nonce;
    const now = this.options.store.clock();
    const metrics = this.options.metrics;
    (answer.type === 'ack' ? metrics?.acks : metrics?.nacks)?.inc({ kind: sent.kind });
    if (answer.type === 'ack') {
      // An ACK of an earlier message says little: the later ones are still to be applied.
      if (!isLast || !last) return;
      record.lastAnswer = { type: 'ack', revision: answer.revision };
      record.ackedRevision = record.syncedTo;
      this.options.events?.proxiesChanged();
      record.convergenceMs = last.committedAt
        ? Math.max(0, now.getTime() - last.committedAt.getTime())
        : null;
      if (record.convergenceMs !== null) metrics?.convergence.observe(record.convergenceMs / 1000);
    } else {
      record.lastAnswer = { type: 'nack', revision: answer.revision };
      record.lastNack = {
        revision: answer.revision,
        nonce: answer.nonce,
        error: answer.error,
        errors: answer.errors,
        at: now,
      };
      this.log.warn(
        { proxy: record.key, revision: answer.revision, kind: sent.kind, error: answer.error },
        `proxy refused ${sent.kind === 'snapshot' ? 'a snapshot' : `a ${sent.kind} update`}`,
      );
      // What the proxy holds is no longer known (updates sent after the refused one were built on it): the next
      // message it gets is its whole slice, at once when it refused a partial update or more followed it, else
      // on the next revision or resync.
      this.options.events?.proxiesChanged();
      record.sliceDigest = null;
      record.configDigest = null;
      record.scopeKey = null;
      record.syncedTo = -1;
      if (sent.kind !== 'snapshot' || !isLast) this.sync(record);
    }
  }

  /**
   * Keeps a proxy's telemetry to what it can have seen: frames of its own instance, edges where its service is the
   * caller or the callee. Anything else is dropped (the rest of the frame is kept) and the first time logged.
   */
  private ownTelemetry(conn: Connection, record: ProxyRecord, frames: TelemetryFrame[]): TelemetryFrame[] {
    const { service, instance } = record.node;
    let refused: string | undefined;
    const kept: TelemetryFrame[] = [];
    for (const frame of frames) {
      if (frame.node.service !== service || frame.node.instance !== instance) {
        refused = `a frame of ${frame.node.service}/${frame.node.instance}`;
        continue;
      }
      const foreign = frame.edges.find((e) => e.source !== service && e.destination !== service);
      if (!foreign) {
        kept.push(frame);
        continue;
      }
      refused = `an edge ${foreign.source || '(outside)'} → ${foreign.destination}`;
      kept.push({
        ...frame,
        edges: frame.edges.filter((e) => e.source === service || e.destination === service),
      });
    }
    if (refused !== undefined) {
      conn.telemetryRefusals += 1;
      if (conn.telemetryRefusals <= TELEMETRY_REFUSALS_LOGGED) {
        this.log.warn({ proxy: record.key, refused }, 'dropped telemetry a proxy cannot have seen');
        this.options.security?.({
          actor: proxyActor(record.node),
          action: 'telemetry.refused',
          outcome: 'refused',
          subject: record.key,
          service,
          remote: conn.remote,
          detail: { reason: `reported ${refused}, which is not its own` },
        });
      }
    }
    return kept;
  }

  private onTelemetry(conn: Connection, record: ProxyRecord, reported: TelemetryFrame[]): void {
    const frames = this.ownTelemetry(conn, record, reported);
    if (frames.length === 0) return;
    const keep = this.options.telemetryFramesKept ?? 3;
    record.telemetry.push(...frames);
    if (record.telemetry.length > keep) record.telemetry.splice(0, record.telemetry.length - keep);
    record.telemetryFrames += frames.length;
    record.telemetryAt = this.options.store.clock();
    this.options.telemetry?.ingest(frames);
  }

  private onClose(conn: Connection, code: number, reason: string): void {
    clearTimeout(conn.helloTimer);
    // The proxy closed with "going away" itself (it is shutting down), rather than this side closing or the
    // connection breaking.
    const leaving = code === CLOSE_CODES.shuttingDown && conn.phase !== 'closing' && !this.closing;
    conn.phase = 'closed';
    this.connections.delete(conn);
    const record = conn.record;
    if (!record || record.conn !== conn) return;
    record.conn = undefined;
    record.disconnectedAt = this.options.store.clock();
    this.log.info({ proxy: record.key, code, reason }, 'proxy left');
    this.options.security?.({
      actor: conn.credential ?? 'anonymous',
      action: 'proxy.leave',
      outcome: 'allowed',
      subject: record.key,
      service: record.node.service,
      remote: conn.remote,
      detail: { code, reason, leaving },
    });
    if (leaving && record.endpointId) {
      const endpointId = record.endpointId;
      this.track(
        leaveProxyEndpoint(this.options.store, endpointId, record.node).catch((err) =>
          this.log.warn({ err, proxy: record.key }, 'could not mark a departing proxy unhealthy'),
        ),
      );
      return;
    }
    // The grace period counts from now: mark the endpoint as seen at the moment of the disconnect.
    if (!this.closing && record.endpointId) {
      this.track(
        touchProxyEndpoints(this.options.store, [record.endpointId]).catch((err) =>
          this.log.warn({ err, proxy: record.key }, 'could not record a proxy disconnect'),
        ),
      );
    }
  }

  private track(work: Promise<unknown>): void {
    this.pending.add(work);
    work.finally(() => this.pending.delete(work)).catch(() => undefined);
  }

  // ---- timers --------------------------------------------------------------------------------------------

  /** Pings every stream; one that left two pings unanswered is cut off. */
  private heartbeat(): void {
    for (const conn of this.connections) {
      if (conn.phase === 'closed') continue;
      if (conn.outstandingPings >= 2) {
        this.log.warn(
          { remote: conn.remote, proxy: conn.record?.key },
          'proxy missed two pongs; terminating',
        );
        conn.ws.terminate();
        continue;
      }
      conn.outstandingPings += 1;
      conn.ws.ping();
    }
  }

  /** Refreshes connected proxies' endpoints, re-registers those gone or unhealthy, sweeps the stale. */
  private liveness(): void {
    if (this.tick || this.closing) return;
    this.tick = this.livenessOnce()
      .catch((err) => {
        if (this.closing) return;
        this.log.warn({ err }, 'proxy liveness sweep failed; will retry');
        // Proxies' liveness could not be recorded meanwhile (the database is likely away): give them the same
        // time to show it again as after a start, rather than sweep them the moment the database is back.
        this.startedAt = this.options.store.clock().getTime();
      })
      .finally(() => {
        this.tick = undefined;
      });
  }

  private async livenessOnce(): Promise<void> {
    const { store, graceMs, ttlMs } = this.options;
    const live = [...this.records.values()].filter((r) => r.conn?.phase === 'ready' && r.endpointId);
    const ids = [...new Set(live.map((r) => r.endpointId as string))];
    const broken = new Set(await touchProxyEndpoints(store, ids));
    for (const record of live) {
      if (!broken.has(record.endpointId as string) || this.closing) continue;
      try {
        const registration = await registerProxyEndpoint(store, record.node, { liveMs: graceMs });
        record.endpointId = registration.endpoint.id;
        this.log.info(
          { proxy: record.key },
          're-registered a connected proxy whose endpoint was gone or unhealthy',
        );
      } catch (err) {
        if (err instanceof TrellisError && err.code === 'TRELLIS_ERR_NOT_FOUND' && record.conn) {
          this.closeConn(record.conn, CLOSE_CODES.protocolError, `unknown service "${record.node.service}"`);
        } else if (err instanceof TrellisError && err.code === 'TRELLIS_ERR_CONFLICT' && record.conn) {
          this.closeConn(record.conn, CLOSE_CODES.conflict, err.message);
        } else throw err;
      }
    }
    if (this.closing) return;
    await this.noticeDepartedPeers();
    const settling = this.startedAt + graceMs + (this.options.reconnectWindowMs ?? 30_000);
    if (store.clock().getTime() < settling) return;
    const keep = new Set(live.map((r) => r.endpointId as string));
    const swept = await sweepProxyEndpoints(store, { graceMs, ttlMs, keep });
    if (swept.unhealthy > 0 || swept.removed > 0) this.log.info(swept, 'swept endpoints of departed proxies');
    const now = store.clock().getTime();
    for (const [key, record] of this.records) {
      if (record.disconnectedAt && now - record.disconnectedAt.getTime() >= ttlMs) this.records.delete(key);
    }
  }

  private async noticeDepartedPeers(): Promise<void> {
    if (!this.options.peers) return;
    const now = new Set(await this.options.peers());
    const before = this.knownPeers;
    this.knownPeers = now;
    if (before && [...before].some((id) => !now.has(id))) {
      this.log.info('a control-plane replica went away; its proxies get time to reconnect before any sweep');
      this.startedAt = this.options.store.clock().getTime();
    }
  }

  // ---- status --------------------------------------------------------------------------------------------

  private statusOf(r: ProxyRecord): Omit<ProxyStatus, 'replica'> {
    const current = this.currentRevision;
    let status: ProxySyncStatus;
    if (!r.conn) status = 'DISCONNECTED';
    else if (r.lastAnswer?.type === 'nack' && r.lastNack?.nonce === r.lastSent?.nonce) status = 'NACKED';
    else if (r.ackedRevision === current) status = 'SYNCED';
    else status = 'STALE';
    return {
      node: r.node,
      status,
      endpointId: r.endpointId,
      connectedAt: r.connectedAt.toISOString(),
      disconnectedAt: r.disconnectedAt?.toISOString() ?? null,
      currentRevision: current,
      lastSent: r.lastSent
        ? {
            kind: r.lastSent.kind,
            revision: r.lastSent.revision,
            nonce: r.lastSent.nonce,
            sentAt: r.lastSent.sentAt.toISOString(),
          }
        : null,
      ackedRevision: r.ackedRevision,
      lastNack: r.lastNack ? { ...r.lastNack, at: r.lastNack.at.toISOString() } : null,
      convergenceMs: r.convergenceMs,
      telemetry: { frames: r.telemetryFrames, lastAt: r.telemetryAt?.toISOString() ?? null },
    };
  }
}

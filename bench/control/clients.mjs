// Simulated proxies for the control-plane benchmark: one process holds many lightweight WebSocket clients that
// speak the proxy stream protocol (packages/schema/src/stream.ts) and nothing else. Not proxies: no listeners, no
// config applied. Each client
//   - connects from its own loopback address (its advertised 127.x.y.z), says hello with the join token and its
//     identity (service, unique instance, address, port, labels),
//   - answers every `snapshot` and `endpoints` message at once with an ack carrying its revision and nonce,
//     recording when it arrived and how big it was,
//   - on command, sends telemetry frames at a fixed rate,
//   - reconnects with exponential backoff and jitter when its connection is lost (like the real proxy), except
//     when told to drop.
// Driven by bench/control/run.mjs over the IPC channel: {id, cmd, args} in, {id, ok, result | error} out.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import WebSocket from 'ws';

const STREAM_PROTOCOL_VERSION = 2;
const STREAM_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
const RING = 16; // receipts remembered per client
// The control plane serialises `{"type":…,"revision":…,"nonce":…,…}` in this order; the head is read without
// parsing the (large) rest. Anything else falls back to JSON.parse.
const HEAD = /^\{"type":"(snapshot|config|endpoints)","revision":(\d+),"nonce":"([^"]{1,64})"/;

/**
 * @typedef {object} Client
 * @property {number} i
 * @property {object} node
 * @property {WebSocket|undefined} ws
 * @property {'idle'|'connecting'|'open'|'closed'} state
 * @property {number} attempt
 * @property {NodeJS.Timeout|undefined} timer
 * @property {number} lastRevision  revision of the last message acked (-1: none)
 * @property {number} openAt  when the current connection opened (epoch ms)
 * @property {Int32Array} ringRev
 * @property {Float64Array} ringAt
 * @property {number} ringPos
 * @property {string} telemetryHead
 * @property {string} telemetryTail
 */

/** @type {Client[]} */
let clients = [];
let url = '';
let token = '';
let stopping = false; // no automatic reconnects
let helloWithRevision = false;
let concurrency = Infinity;
let inFlight = 0;
const waitingToConnect = [];

const counters = {
  bytesIn: 0,
  messagesIn: 0,
  snapshots: 0,
  configs: 0,
  endpoints: 0,
  snapshotBytes: 0,
  configBytes: 0,
  endpointsBytes: 0,
  parseFallbacks: 0,
  unknownMessages: 0,
  acksSent: 0,
  hellosSent: 0,
  telemetryMessages: 0,
  telemetryFrames: 0,
  telemetryBytes: 0,
  opens: 0,
  reconnects: 0,
  connectErrors: 0,
  closes: {},
  errors: {},
};
/** One fully parsed message per revision and kind (newest 64), to check that what arrives makes sense. */
const samples = new Map();

const eld = monitorEventLoopDelay({ resolution: 10 });
eld.enable();

const now = () => Date.now();

function tally(map, key) {
  map[key] = (map[key] ?? 0) + 1;
}

function sample(kind, revision, data) {
  const key = `${kind}:${revision}`;
  if (samples.has(key)) return;
  try {
    const m = JSON.parse(data.toString('utf8'));
    const info =
      kind === 'snapshot' || kind === 'config'
        ? {
            services: (m.slice ?? m.config)?.services?.length ?? null,
            endpoints: m.slice?.endpoints?.length ?? null,
            routes: (m.slice ?? m.config)?.routes?.length ?? null,
            policies: (m.slice ?? m.config)?.policies?.length ?? null,
          }
        : {
            services: Object.keys(m.services ?? {}).length,
            endpoints: Object.values(m.services ?? {}).reduce((s, l) => s + (l?.length ?? 0), 0),
          };
    samples.set(key, { kind, revision, bytes: data.length, ...info });
  } catch (error) {
    samples.set(key, { kind, revision, bytes: data.length, error: String(error?.message ?? error) });
  }
  if (samples.size > 64) samples.delete(samples.keys().next().value);
}

function onMessage(c, ws, data) {
  const at = now();
  const bytes = data.length;
  counters.bytesIn += bytes;
  counters.messagesIn += 1;
  let kind;
  let revision;
  let nonce;
  const m = HEAD.exec(data.toString('latin1', 0, Math.min(bytes, 200)));
  if (m) {
    kind = m[1];
    revision = Number(m[2]);
    nonce = m[3];
  } else {
    counters.parseFallbacks += 1;
    try {
      const v = JSON.parse(data.toString('utf8'));
      kind = v?.type;
      revision = v?.revision;
      nonce = v?.nonce;
    } catch {}
    if (!['snapshot', 'config', 'endpoints'].includes(kind) || !Number.isInteger(revision) || !nonce) {
      counters.unknownMessages += 1;
      return;
    }
  }
  if (kind === 'snapshot') {
    counters.snapshots += 1;
    counters.snapshotBytes += bytes;
  } else if (kind === 'config') {
    counters.configs += 1;
    counters.configBytes += bytes;
  } else {
    counters.endpoints += 1;
    counters.endpointsBytes += bytes;
  }
  if (ws.readyState === WebSocket.OPEN) {
    ws.send(`{"type":"ack","revision":${revision},"nonce":"${nonce}"}`);
    counters.acksSent += 1;
  }
  c.lastRevision = revision;
  c.ringRev[c.ringPos] = revision;
  c.ringAt[c.ringPos] = at;
  c.ringPos = (c.ringPos + 1) % RING;
  sample(kind, revision, data);
}

function backoff(attempt) {
  const cap = Math.min(5000, 250 * 2 ** Math.min(attempt, 5));
  return Math.random() * cap;
}

function pump() {
  while (inFlight < concurrency && waitingToConnect.length > 0) open(waitingToConnect.shift());
}

function connect(c) {
  if (inFlight >= concurrency) waitingToConnect.push(c);
  else open(c);
}

function open(c) {
  c.state = 'connecting';
  inFlight += 1;
  let counted = true;
  const release = () => {
    if (!counted) return;
    counted = false;
    inFlight -= 1;
    pump();
  };
  const ws = new WebSocket(url, {
    localAddress: c.node.address,
    maxPayload: STREAM_MAX_MESSAGE_BYTES,
    handshakeTimeout: 120_000,
    perMessageDeflate: false,
    skipUTF8Validation: true,
  });
  c.ws = ws;
  ws.on('open', () => {
    release();
    c.state = 'open';
    c.attempt = 0;
    c.openAt = now();
    counters.opens += 1;
    const hello = {
      type: 'hello',
      protocol: STREAM_PROTOCOL_VERSION,
      token,
      node: c.node,
      ...(helloWithRevision && c.lastRevision >= 0 ? { revision: c.lastRevision } : {}),
    };
    ws.send(JSON.stringify(hello));
    counters.hellosSent += 1;
  });
  ws.on('message', (data) => onMessage(c, ws, data));
  ws.on('error', (err) => {
    tally(counters.errors, err.code ?? err.message?.slice(0, 60) ?? 'error');
  });
  ws.on('close', (code, reason) => {
    release();
    if (c.ws !== ws) return;
    const wasOpen = c.state === 'open';
    c.state = 'closed';
    c.ws = undefined;
    if (wasOpen)
      tally(counters.closes, `${code}${reason?.length ? ` ${reason.toString().slice(0, 80)}` : ''}`);
    else counters.connectErrors += 1;
    if (stopping) return;
    const delay = backoff(c.attempt);
    c.attempt += 1;
    counters.reconnects += 1;
    c.timer = setTimeout(() => {
      c.timer = undefined;
      if (!stopping && c.state === 'closed') connect(c);
    }, delay);
  });
}

// ---- telemetry ----------------------------------------------------------------------------------------------

/** A telemetry frame of about the size a sidecar with `edges` busy edges reports each second. */
function telemetryTemplate(c, edges) {
  const node = c.node;
  const targets = [...(c.deps.length ? c.deps : [node.service])];
  const list = [];
  for (let e = 0; e < edges; e++) {
    const inbound = e === 0;
    const destination = inbound ? node.service : targets[(e - 1) % targets.length];
    const requests = 100 + ((c.i * 7 + e * 13) % 50);
    const buckets = [];
    let left = requests;
    for (let b = 0; b < 12 && left > 0; b++) {
      const n = b === 11 ? left : Math.max(1, Math.floor(left / 3));
      buckets.push([300 + b * 3, n]);
      left -= n;
    }
    if (left > 0) buckets[buckets.length - 1][1] += left;
    const errors = requests % 3;
    list.push({
      source: inbound ? (targets[0] ?? '') : node.service,
      destination,
      endpoint: inbound ? `${node.address}:${node.port}` : `127.1.0.${1 + ((c.i + e) % 250)}:15006`,
      requests,
      byClass: { '1xx': 0, '2xx': requests - errors, '3xx': 0, '4xx': errors, '5xx': 0, error: 0 },
      bytesIn: requests * 310,
      bytesOut: requests * 1840,
      retries: errors,
      overflows: 0,
      latency: { p50: 1.85, p90: 4.2, p95: 6.1, p99: 12.7, max: 31.4, buckets },
    });
  }
  const frame = JSON.stringify({
    node: { service: node.service, instance: node.instance },
    windowStart: 1234567890123,
    windowMs: 1000,
    edges: list,
    ejections: 0,
    ejected: [],
    activeRequests: 3,
  });
  const [head, tail] = frame.split('1234567890123');
  c.telemetryHead = `{"type":"telemetry","frames":[${head}`;
  c.telemetryTail = `${tail}]}`;
}

let telemetry;

function telemetryStart({ rate, edges }) {
  for (const c of clients) telemetryTemplate(c, edges);
  const started = now();
  telemetry = { rate, started, sent: 0, cursor: 0, timer: undefined, skippedClosed: 0 };
  const tick = () => {
    const due = Math.floor(((now() - started) / 1000) * rate * clients.length);
    let budget = due - telemetry.sent;
    while (budget > 0) {
      const c = clients[telemetry.cursor];
      telemetry.cursor = (telemetry.cursor + 1) % clients.length;
      budget -= 1;
      telemetry.sent += 1;
      if (c.state !== 'open' || c.ws?.readyState !== WebSocket.OPEN) {
        telemetry.skippedClosed += 1;
        continue;
      }
      const msg = `${c.telemetryHead}${Math.floor(now() / 1000) * 1000}${c.telemetryTail}`;
      c.ws.send(msg);
      counters.telemetryMessages += 1;
      counters.telemetryFrames += 1;
      counters.telemetryBytes += msg.length;
    }
  };
  telemetry.timer = setInterval(tick, 10);
  return {
    started,
    sampleFrameBytes: clients[0] ? clients[0].telemetryHead.length + 13 + clients[0].telemetryTail.length : 0,
  };
}

function telemetryStop() {
  if (!telemetry) return { sent: 0 };
  clearInterval(telemetry.timer);
  const out = {
    stopped: now(),
    scheduled: telemetry.sent,
    skippedClosed: telemetry.skippedClosed,
    framesSent: counters.telemetryFrames,
  };
  telemetry = undefined;
  return out;
}

// ---- commands ---------------------------------------------------------------------------------------------------

function firstAtOrAbove(c, revision, since) {
  let best = Infinity;
  for (let k = 0; k < RING; k++) {
    const at = c.ringAt[k];
    if (at > 0 && at >= since && c.ringRev[k] >= revision && at < best) best = at;
  }
  return best === Infinity ? null : best;
}

const commands = {
  init(args) {
    url = args.url;
    token = args.token;
    clients = args.proxies.map((p) => ({
      i: p.i,
      node: p.node,
      deps: p.deps ?? [],
      ws: undefined,
      state: 'idle',
      attempt: 0,
      timer: undefined,
      lastRevision: -1,
      openAt: 0,
      ringRev: new Int32Array(RING).fill(-1),
      ringAt: new Float64Array(RING),
      ringPos: 0,
      telemetryHead: '',
      telemetryTail: '',
    }));
    return { clients: clients.length };
  },

  /** Starts connecting every client (at most `concurrency` handshakes at a time); returns at once. */
  connect(args) {
    stopping = false;
    helloWithRevision = Boolean(args.helloWithRevision);
    concurrency = args.concurrency ?? Infinity;
    const started = now();
    for (const c of clients) if (c.state === 'idle' || c.state === 'closed') connect(c);
    return { started };
  },

  /** Every client drops its connection at once (terminate: no close handshake) and reconnects at once. */
  drop(args) {
    stopping = true;
    helloWithRevision = Boolean(args.helloWithRevision);
    concurrency = Infinity;
    waitingToConnect.length = 0;
    const dropped = now();
    for (const c of clients) {
      clearTimeout(c.timer);
      c.timer = undefined;
      const ws = c.ws;
      c.ws = undefined;
      c.state = 'closed';
      ws?.terminate();
    }
    stopping = false;
    const reconnecting = now();
    for (const c of clients) open(c);
    return { dropped, reconnecting, issued: now() };
  },

  status(args = {}) {
    const revision = args.revision ?? Infinity;
    const since = args.since ?? 0;
    let open = 0;
    let connecting = 0;
    let atOrAbove = 0;
    let minRevision = Infinity;
    let lastOpenAt = 0;
    let openSince = 0;
    for (const c of clients) {
      if (c.state === 'open') {
        open += 1;
        if (c.openAt >= since) openSince += 1;
        if (c.openAt > lastOpenAt) lastOpenAt = c.openAt;
      } else if (c.state === 'connecting') connecting += 1;
      if (c.lastRevision < minRevision) minRevision = c.lastRevision;
      if (revision !== Infinity && firstAtOrAbove(c, revision, since) !== null) atOrAbove += 1;
    }
    return {
      total: clients.length,
      open,
      openSince,
      connecting,
      atOrAbove,
      minRevision: minRevision === Infinity ? -1 : minRevision,
      lastOpenAt,
      lastMessageAt: Math.max(0, ...clients.map((c) => Math.max(...c.ringAt))),
    };
  },

  /**
   * Resolves when every client has received a message of `revision` or newer since `since` (epoch ms), or after
   * `timeoutMs`. Returns each client's first such receipt time (null: none).
   */
  async waitRevision({ revision, since, timeoutMs, openOnly }) {
    const deadline = now() + timeoutMs;
    for (;;) {
      let missing = 0;
      for (const c of clients) {
        if (openOnly && c.state !== 'open') continue;
        if (firstAtOrAbove(c, revision, since) === null) missing += 1;
      }
      if (missing === 0 || now() >= deadline) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const times = clients.map((c) => firstAtOrAbove(c, revision, since));
    return { times, open: clients.filter((c) => c.state === 'open').length, timedOut: now() >= deadline };
  },

  /** Times each client's current connection opened, for reconnect storms. */
  openTimes() {
    return clients.map((c) => (c.state === 'open' ? c.openAt : null));
  },

  counters() {
    return {
      ...counters,
      closes: { ...counters.closes },
      errors: { ...counters.errors },
      samples: [...samples.values()],
      cpu: process.cpuUsage(),
      eventLoopDelayMs: {
        p50: eld.percentile(50) / 1e6,
        p99: eld.percentile(99) / 1e6,
        max: eld.max / 1e6,
      },
      rssBytes: process.memoryUsage.rss(),
    };
  },

  resetEventLoopDelay() {
    eld.reset();
    return {};
  },

  telemetryStart,
  telemetryStop,

  /** Sends one telemetry frame from the first open client (a protocol check before the telemetry phase). */
  telemetryOnce({ edges }) {
    const index = clients.findIndex((c) => c.ws?.readyState === WebSocket.OPEN);
    const c = clients[index];
    if (!c) return { sent: false, index };
    telemetryTemplate(c, edges);
    const msg = `${c.telemetryHead}${Math.floor(now() / 1000) * 1000}${c.telemetryTail}`;
    c.ws.send(msg);
    return { sent: true, index, bytes: msg.length, node: c.node };
  },

  clientState({ index }) {
    const c = clients[index];
    return c ? { state: c.state, lastRevision: c.lastRevision } : null;
  },

  async close() {
    stopping = true;
    waitingToConnect.length = 0;
    const closing = [];
    for (const c of clients) {
      clearTimeout(c.timer);
      const ws = c.ws;
      if (ws && ws.readyState !== WebSocket.CLOSED) {
        closing.push(
          new Promise((resolve) => {
            ws.once('close', resolve);
            ws.close(1001, 'benchmark done');
            setTimeout(() => {
              ws.terminate();
              resolve();
            }, 2000).unref();
          }),
        );
      }
    }
    await Promise.all(closing);
    return { closed: closing.length };
  },
};

process.on('message', async (msg) => {
  const { id, cmd, args } = msg ?? {};
  const fn = commands[cmd];
  try {
    if (!fn) throw new Error(`unknown command ${cmd}`);
    const result = await fn(args);
    process.send({ id, ok: true, result });
  } catch (error) {
    process.send({ id, ok: false, error: String(error?.stack ?? error) });
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ ready: true, pid: process.pid });

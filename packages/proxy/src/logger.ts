/**
 * The logger the built proxy runs with: scripts/build.mjs bundles this file wherever the source imports `pino`.
 * It writes the lines pino writes, byte for byte but the time (`test/logger.test.ts` holds them side by side):
 * `{"level":30,"time":…,<bindings>,<the object's fields>,"msg":"…"}`, an `err` field in pino's error shape (type,
 * message and stack with their causes, the error's own fields), an Error logged alone as `err` with its message,
 * and the levels, `child` and `isLevelEnabled` the proxy uses. Each line is written to stdout at once, as pino's
 * synchronous destination does.
 *
 * Why not pino itself: it costs a sidecar 3 MiB of resident memory (its modules, thread-stream and sonic-boom, and
 * the node modules they load: worker_threads, stream), for the dozen lines a sidecar logs (docs/proxy-memory.md).
 */
import { writeSync } from 'node:fs';
import { hostname } from 'node:os';

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
export type Level = keyof typeof LEVELS;
type LogFn = (objOrMsg?: unknown, msg?: unknown, ...args: unknown[]) => void;

export interface LoggerOptions {
  /** A level name, or "silent"; default "info". */
  level?: string;
  /** Fields on every line; default pid and hostname, as pino's (null for none). */
  base?: Record<string, unknown> | null;
}

/** Where lines go: stdout unless given (tests). */
export interface Destination {
  write(line: string): void;
}

export interface Logger extends Record<Level, LogFn> {
  readonly level: string;
  isLevelEnabled(level: string): boolean;
  child(bindings: Record<string, unknown>): Logger;
}

function levelValue(level: string): number {
  if (level === 'silent') return Number.POSITIVE_INFINITY;
  const value = (LEVELS as Record<string, number>)[level];
  if (value === undefined) throw new Error(`unknown level ${level}`);
  return value;
}

interface ErrorLike {
  message: string;
  stack?: string;
  cause?: unknown;
  errors?: unknown;
  [key: string]: unknown;
}

const isErrorLike = (value: unknown): value is ErrorLike =>
  typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string';

function causeOf(err: ErrorLike): ErrorLike | undefined {
  const cause = typeof err.cause === 'function' ? (err.cause as () => unknown)() : err.cause;
  return isErrorLike(cause) ? cause : undefined;
}

function stackWithCauses(err: ErrorLike, seen = new Set<ErrorLike>()): string {
  const stack = err.stack || '';
  if (seen.has(err)) return `${stack}\ncauses have become circular...`;
  const cause = causeOf(err);
  if (!cause) return stack;
  seen.add(err);
  return `${stack}\ncaused by: ${stackWithCauses(cause, seen)}`;
}

function messageWithCauses(err: ErrorLike, seen = new Set<ErrorLike>(), skip = false): string {
  const message = skip ? '' : err.message || '';
  if (seen.has(err)) return `${message}: ...`;
  const cause = causeOf(err);
  if (!cause) return message;
  seen.add(err);
  // A VError-style cause (a function) has its message in the error's own already.
  const functionCause = typeof err.cause === 'function';
  return message + (functionCause ? '' : ': ') + messageWithCauses(cause, seen, functionCause);
}

/** pino's `err` serializer (pino-std-serializers): what an Error becomes in a line. */
function serializeError(err: unknown, seen = new Set<object>()): unknown {
  if (!isErrorLike(err)) return err;
  seen.add(err);
  const out: Record<string, unknown> = {
    type:
      Object.prototype.toString.call(err.constructor) === '[object Function]'
        ? err.constructor.name
        : err.name,
    message: messageWithCauses(err),
    stack: stackWithCauses(err),
  };
  if (Array.isArray(err.errors)) out.aggregateErrors = err.errors.map((e) => serializeError(e, seen));
  for (const key in err) {
    // pino's serialized error also holds the raw error (not enumerable): its key is never copied.
    if (out[key] !== undefined || key === 'raw') continue;
    const value = err[key];
    if (isErrorLike(value)) {
      if (key !== 'cause' && !seen.has(value)) out[key] = serializeError(value, seen);
    } else {
      out[key] = value;
    }
  }
  seen.delete(err);
  return out;
}

/** JSON, with "[Circular]" for a value that contains itself (as pino's safe-stable-stringify writes it). */
function stringify(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    const ancestors: object[] = [];
    return JSON.stringify(value, function (this: unknown, _key, v: unknown) {
      if (typeof v === 'bigint') return Number(v);
      if (typeof v !== 'object' || v === null) return v;
      while (ancestors.length > 0 && ancestors[ancestors.length - 1] !== this) ancestors.pop();
      if (ancestors.includes(v)) return '[Circular]';
      ancestors.push(v);
      return v;
    });
  }
}

function field(key: string, value: unknown): string {
  switch (typeof value) {
    case 'undefined':
    case 'function':
    case 'symbol':
      return '';
    case 'number':
      return `,${JSON.stringify(key)}:${Number.isFinite(value) ? value : null}`;
    case 'boolean':
      return `,${JSON.stringify(key)}:${value}`;
    default: {
      const json = stringify(value);
      return json === undefined ? '' : `,${JSON.stringify(key)}:${json}`;
    }
  }
}

/** printf-style arguments after the message (%s %d %i %f %j %o %O %%), as pino's quick-format-unescaped. */
function format(msg: unknown, args: unknown[]): unknown {
  if (args.length === 0 || typeof msg !== 'string') return msg;
  let i = 0;
  const out = msg.replace(/%[sdifjoO%]/g, (spec) => {
    if (spec === '%%') return '%';
    if (i >= args.length) return spec;
    const arg = args[i++];
    if (spec === '%d' || spec === '%f') return String(Number(arg));
    if (spec === '%i') return String(Math.floor(Number(arg)));
    if (spec === '%s') return String(arg);
    return stringify(arg) ?? String(arg);
  });
  return out;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Writes a line to stdout now, waiting out a full pipe (EAGAIN) rather than dropping it. */
function writeStdout(line: string): void {
  let buffer = Buffer.from(line);
  let waits = 0;
  while (buffer.length > 0) {
    try {
      const written = writeSync(1, buffer);
      buffer = buffer.subarray(written);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN' || ++waits > 1000) return;
      Atomics.wait(sleeper, 0, 0, 1);
    }
  }
}

const stdout: Destination = { write: writeStdout };

function make(threshold: number, level: string, bindings: string, destination: Destination): Logger {
  const logger = {
    level,
    isLevelEnabled: (name: string) =>
      ((LEVELS as Record<string, number | undefined>)[name] ?? 0) >= threshold,
    child: (more: Record<string, unknown>) => {
      let added = '';
      for (const key of Object.keys(more)) added += field(key, more[key]);
      return make(threshold, level, bindings + added, destination);
    },
  } as Logger & Record<string, unknown>;
  for (const name of Object.keys(LEVELS) as Level[]) {
    const value = LEVELS[name];
    logger[name] =
      value < threshold
        ? () => {}
        : (first?: unknown, ...rest: unknown[]) => {
            let obj: Record<string, unknown> | undefined;
            let msg: unknown;
            if (typeof first === 'object' && first !== null) {
              msg = rest.shift();
              if (first instanceof Error) {
                obj = { err: first };
                if (msg === undefined) msg = first.message;
              } else {
                obj = first as Record<string, unknown>;
                const err = obj.err;
                if (msg === undefined && obj.msg === undefined && isErrorLike(err)) msg = err.message;
              }
            } else {
              msg = first === undefined ? rest.shift() : first;
            }
            msg = format(msg, rest);
            let line = `{"level":${value},"time":${Date.now()}${bindings}`;
            if (obj) {
              for (const key in obj) {
                if (!Object.hasOwn(obj, key) || obj[key] === undefined) continue;
                line += field(key, key === 'err' ? serializeError(obj[key]) : obj[key]);
              }
            }
            if (msg !== undefined && typeof msg !== 'function') line += field('msg', msg);
            destination.write(`${line}}\n`);
          };
  }
  return logger;
}

/** A logger writing pino's lines (see the top of this file); `destination` for tests. */
export function pino(options: LoggerOptions = {}, destination: Destination = stdout): Logger {
  const level = options.level ?? 'info';
  const base = options.base === undefined ? { pid: process.pid, hostname: hostname() } : (options.base ?? {});
  let bindings = '';
  for (const key of Object.keys(base)) bindings += field(key, (base as Record<string, unknown>)[key]);
  return make(levelValue(level), level, bindings, destination);
}

export default pino;

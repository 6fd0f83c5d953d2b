/** Structured JSON logs (pino); secrets never go into log fields: credentials in headers are redacted. */
import { type DestinationStream, type Logger, pino } from 'pino';

const SECRET_HEADERS = ['authorization', 'cookie', 'set-cookie', 'x-trellis-csrf'];

/** Headers that carry credentials, wherever a log line holds headers (a request, a response, an upgrade). */
export const REDACTED_PATHS = ['req.headers', 'res.headers', 'headers'].flatMap((at) =>
  SECRET_HEADERS.map((name) => `${at}["${name}"]`),
);

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, base: { service: 'trellis-control' }, redact: REDACTED_PATHS };
  return destination ? pino(options, destination) : pino(options);
}

/** Structured JSON logs (pino); secrets never go into log fields. */
import { type Logger, pino } from 'pino';

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'trellis-control' },
    redact: ['req.headers.authorization', 'req.headers.cookie'],
  });
}

/** The control plane's logs never carry credentials: bearer tokens, session cookies and CSRF tokens are redacted. */
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.ts';

describe('logger', () => {
  it('redacts authorization, cookie, set-cookie and CSRF headers', () => {
    const lines: string[] = [];
    const logger = createLogger('info', { write: (line: string) => lines.push(line) });
    const secrets = {
      authorization: 'Bearer trellis_secret-token',
      cookie: 'trellis_session=secret-session',
      'set-cookie': 'trellis_session=secret-session; HttpOnly',
      'x-trellis-csrf': 'secret-csrf',
    };
    logger.info({ req: { method: 'GET', url: '/api/v1/services', headers: secrets } }, 'request');
    logger.info({ res: { statusCode: 200, headers: secrets } }, 'response');
    logger.info({ headers: secrets }, 'upgrade');
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      expect(line).not.toMatch(/secret/);
      expect(line).toContain('[Redacted]');
    }
    expect(JSON.parse(lines[0] as string).req.url).toBe('/api/v1/services');
  });
});

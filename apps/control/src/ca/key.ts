/**
 * The key that encrypts the CA's private keys at rest: TRELLIS_CA_KEY when set, else one made on first start and
 * kept beside the embedded database (`<data dir>/ca.key`, mode 0600), so that `npm start` needs no setup. Losing
 * that file means the stored root can no longer be used; replicas must share one key, so they set TRELLIS_CA_KEY.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';

export async function resolveCaKey(
  configured: Buffer | undefined,
  dataDir: string,
  logger: Logger,
): Promise<Buffer> {
  if (configured) return configured;
  const file = path.join(dataDir, 'ca.key');
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  try {
    await fs.writeFile(file, randomBytes(32).toString('base64'), { flag: 'wx', mode: 0o600 });
    logger.warn(
      { file },
      'made a CA key for this data directory; set TRELLIS_CA_KEY for replicas and production',
    );
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const key = Buffer.from((await fs.readFile(file, 'utf8')).trim(), 'base64');
  if (key.length !== 32) throw new Error(`${file}: must hold 32 bytes in base64`);
  return key;
}

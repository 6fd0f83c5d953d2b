/**
 * The settings `trellis login` stores: the server URL and, optionally, a token. The file holds a credential, so
 * it is written readable by its owner only (0600, in a 0700 folder) and replaced atomically.
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { CliError, EXIT } from './errors.ts';

export const StoredConfig = z.object({
  server: z.string(),
  token: z.string().optional(),
});
export type StoredConfig = z.infer<typeof StoredConfig>;

export async function readConfig(file: string): Promise<StoredConfig | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CliError(`${file} is not valid JSON; run \`trellis login --server URL\` again`, EXIT.usage);
  }
  const parsed = StoredConfig.safeParse(json);
  if (!parsed.success) {
    throw new CliError(
      `${file} does not hold a server URL; run \`trellis login --server URL\` again`,
      EXIT.usage,
    );
  }
  return parsed.data;
}

export async function writeConfig(file: string, config: StoredConfig): Promise<void> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  await chmod(temp, 0o600);
  await rename(temp, file);
}

/**
 * The config file behind `trellis-proxy --config`: JSON or YAML (by extension; otherwise JSON is tried, then
 * YAML), re-read when it changes. The folder is watched rather than the file so that editors and tools that
 * replace the file by renaming a new one over it are seen too; identical contents are not re-applied. The YAML
 * parser is loaded only for a file that needs it: most proxies are given JSON, and each would hold it in memory.
 */
import { createHash } from 'node:crypto';
import { watch } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

async function parseYaml(text: string): Promise<unknown> {
  return (await import('yaml')).parse(text, { maxAliasCount: 100 });
}

export class ConfigFileError extends Error {
  override name = 'ConfigFileError';
}

export async function parseConfigText(text: string, file: string): Promise<unknown> {
  const ext = path.extname(file).toLowerCase();
  try {
    if (ext === '.json') return JSON.parse(text);
    if (ext === '.yaml' || ext === '.yml') return await parseYaml(text);
    try {
      return JSON.parse(text);
    } catch {
      return await parseYaml(text);
    }
  } catch (error) {
    throw new ConfigFileError(
      `${file}: not valid ${ext === '.json' ? 'JSON' : 'JSON or YAML'}: ${(error as Error).message}`,
    );
  }
}

export async function readConfigFile(file: string): Promise<{ value: unknown; hash: string }> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigFileError(`${file}: cannot be read: ${(error as Error).message}`);
  }
  return { value: await parseConfigText(text, file), hash: createHash('sha256').update(text).digest('hex') };
}

/** Calls `onChange` with each new content of the file (debounced); returns a function that stops watching. */
export function watchConfigFile(
  file: string,
  initialHash: string,
  onChange: (value: unknown) => void,
  onError: (error: Error) => void,
  debounceMs = 50,
): () => void {
  const dir = path.dirname(path.resolve(file));
  const base = path.basename(file);
  let last = initialHash;
  let timer: NodeJS.Timeout | undefined;
  const check = () => {
    readConfigFile(file).then(
      ({ value, hash }) => {
        if (hash === last) return;
        last = hash;
        onChange(value);
      },
      (error: Error) => {
        if (!(error instanceof ConfigFileError && /ENOENT/.test(error.message))) onError(error);
      },
    );
  };
  const watcher = watch(dir, (_event, name) => {
    if (name !== null && name !== base) return;
    clearTimeout(timer);
    timer = setTimeout(check, debounceMs);
  });
  return () => {
    clearTimeout(timer);
    watcher.close();
  };
}

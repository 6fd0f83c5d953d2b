/**
 * The console's settings, read once from the environment of the running server (`next start`), not at build time:
 * the same build serves any control plane. A bad value fails with the name of the variable, as the control plane's
 * own config does.
 */
export interface ConsoleConfig {
  /** Where the control plane's REST API is; `/api/v1/*` is rewritten there. No trailing slash. */
  controlUrl: string;
}

export const DEFAULT_CONTROL_URL = 'http://127.0.0.1:7070';

export class ConsoleConfigError extends Error {
  override name = 'ConsoleConfigError';
}

export function loadConsoleConfig(env: Record<string, string | undefined> = process.env): ConsoleConfig {
  const raw = env.TRELLIS_CONSOLE_CONTROL_URL?.trim() || DEFAULT_CONTROL_URL;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConsoleConfigError(`TRELLIS_CONSOLE_CONTROL_URL: not a URL: ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConsoleConfigError(
      `TRELLIS_CONSOLE_CONTROL_URL: must be an http:// or https:// URL, got ${raw}`,
    );
  }
  if (url.search || url.hash) {
    throw new ConsoleConfigError(
      `TRELLIS_CONSOLE_CONTROL_URL: must not have a query or fragment, got ${raw}`,
    );
  }
  return { controlUrl: `${url.origin}${url.pathname.replace(/\/+$/, '')}` };
}

let loaded: ConsoleConfig | undefined;

/** The server's settings, parsed on first use and kept. */
export function consoleConfig(): ConsoleConfig {
  loaded ??= loadConsoleConfig();
  return loaded;
}

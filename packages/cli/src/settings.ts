/**
 * Everything the command line and the environment say, read once: the command and its arguments, the flags,
 * the server to talk to and the token to send. Precedence for the server: --server, then TRELLIS_SERVER, then
 * the file `trellis login` wrote, then the local default; a stored token is only sent to the server it was
 * stored for, so pointing --server elsewhere never leaks it.
 */
import os from 'node:os';
import path from 'node:path';
import { usageError } from './errors.ts';

export const DEFAULT_SERVER = 'http://127.0.0.1:7070';

export const OUTPUTS = ['table', 'yaml', 'json'] as const;
export type Output = (typeof OUTPUTS)[number];

export interface Flags {
  server?: string;
  token?: string;
  output?: Output;
  files: string[];
  dryRun: boolean;
  help: boolean;
}

export interface Invocation {
  command: string | undefined;
  args: string[];
  flags: Flags;
}

export interface Environment {
  /** TRELLIS_SERVER */
  server?: string;
  /** TRELLIS_TOKEN */
  token?: string;
  configPath: string;
  color: boolean;
}

interface FlagSpec {
  key: 'server' | 'token' | 'output' | 'files' | 'dryRun' | 'help';
  takesValue: boolean;
}

const FLAGS: Record<string, FlagSpec> = {
  '--server': { key: 'server', takesValue: true },
  '-s': { key: 'server', takesValue: true },
  '--token': { key: 'token', takesValue: true },
  '--output': { key: 'output', takesValue: true },
  '-o': { key: 'output', takesValue: true },
  '--filename': { key: 'files', takesValue: true },
  '-f': { key: 'files', takesValue: true },
  '--dry-run': { key: 'dryRun', takesValue: false },
  '--help': { key: 'help', takesValue: false },
  '-h': { key: 'help', takesValue: false },
};

/** Parses argv (without node and the script): flags may come anywhere, `--flag value` or `--flag=value`. */
export function parseArgs(argv: readonly string[]): Invocation {
  const flags: Flags = { files: [], dryRun: false, help: false };
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const spec = FLAGS[name];
    if (!spec) throw usageError(`unknown flag ${name}`);
    let value: string | undefined;
    if (spec.takesValue) {
      if (eq !== -1) value = arg.slice(eq + 1);
      else {
        value = argv[i + 1];
        i += 1;
      }
      if (value === undefined || value === '') throw usageError(`${name} needs a value`);
    } else if (eq !== -1) throw usageError(`${name} takes no value`);

    switch (spec.key) {
      case 'files':
        flags.files.push(value as string);
        break;
      case 'output':
        if (!(OUTPUTS as readonly string[]).includes(value as string)) {
          throw usageError(`${name} must be one of ${OUTPUTS.join(', ')}, got ${JSON.stringify(value)}`);
        }
        flags.output = value as Output;
        break;
      case 'server':
        flags.server = value as string;
        break;
      case 'token':
        flags.token = value as string;
        break;
      case 'dryRun':
        flags.dryRun = true;
        break;
      case 'help':
        flags.help = true;
        break;
    }
  }
  const [command, ...args] = positional;
  if (flags.dryRun && command !== 'apply') throw usageError('--dry-run goes with apply only');
  if (flags.files.length && command !== 'apply' && command !== 'diff') {
    throw usageError('-f goes with apply and diff only');
  }
  if (flags.output && !['get', 'proxy-status', 'rollback'].includes(command ?? '')) {
    throw usageError('-o goes with get, proxy-status and rollback only');
  }
  return { command, args, flags };
}

/** Where `trellis login` keeps its settings: $XDG_CONFIG_HOME/trellis/config.json, else ~/.config/trellis/. */
export function configPath(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CONFIG_HOME ? env.XDG_CONFIG_HOME : path.join(env.HOME ?? os.homedir(), '.config');
  return path.join(base, 'trellis', 'config.json');
}

export function readEnvironment(env: NodeJS.ProcessEnv, stdoutIsTty: boolean): Environment {
  const out: Environment = {
    configPath: configPath(env),
    color: stdoutIsTty && env.NO_COLOR === undefined && env.TERM !== 'dumb',
  };
  if (env.TRELLIS_SERVER) out.server = env.TRELLIS_SERVER;
  if (env.TRELLIS_TOKEN) out.token = env.TRELLIS_TOKEN;
  return out;
}

/** The control plane to talk to and the token to send it; see the module comment for the precedence. */
export function target(
  flags: Flags,
  env: Environment,
  stored: { server: string; token?: string | undefined } | undefined,
): { server: string; token: string | undefined } {
  const server = normaliseServer(flags.server ?? env.server ?? stored?.server ?? DEFAULT_SERVER);
  const storedToken = stored?.token && normaliseServer(stored.server) === server ? stored.token : undefined;
  return { server, token: flags.token ?? env.token ?? storedToken };
}

/** A server URL as typed (`localhost:7070`, `http://host:7070/`) in the one form the CLI uses: no trailing slash. */
export function normaliseServer(raw: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw usageError(`${JSON.stringify(raw)} is not a server URL (for example http://127.0.0.1:7070)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw usageError(`the server URL must start with http:// or https://, got ${JSON.stringify(raw)}`);
  }
  if (url.search || url.hash) throw usageError('the server URL must not carry a query or fragment');
  return url.toString().replace(/\/+$/, '');
}

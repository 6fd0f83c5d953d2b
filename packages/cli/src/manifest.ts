/**
 * Reading manifests: files, folders (their *.yaml, *.yml and *.json files, sorted by name, not recursive) and
 * stdin (`-`, named `<stdin>` in messages), each holding one or more YAML documents or JSON (an object or an array of objects). Every document
 * is checked with the same zod schemas the control plane uses; every problem is reported at once, with the file,
 * the document's 1-based index and the field path, so that nothing is applied from a set with a mistake in it.
 *
 * The manifest format, kubectl-like:
 *
 *   apiVersion: trellis.dev/v1
 *   kind: RouteRule            # Service | RouteRule | TrafficPolicy
 *   metadata:
 *     name: service-b-canary
 *     version: 3               # optional: apply then refuses (exit 5) if the resource changed since version 3
 *   spec: { ... }              # the API's spec without its name
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { DnsLabel, ResourceVersion, toFieldErrors } from '@trellis/schema';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { CliError, EXIT } from './errors.ts';
import { API_VERSION, KINDS, type Kind, kindNamed, type Spec } from './kinds.ts';

export interface Source {
  /** The path as given on the command line (or "-" for stdin). */
  file: string;
  /** 1-based. */
  document: number;
}

export interface Manifest {
  kind: Kind;
  name: string;
  /** The spec after the schema (defaults applied), with its name: what the API takes. */
  spec: Spec;
  /** metadata.version, when given. */
  version: number | undefined;
  source: Source;
}

export class ManifestError extends CliError {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'), EXIT.invalidManifest);
  }
}

const EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

const Envelope = z.strictObject({
  apiVersion: z.literal(API_VERSION, { error: `must be "${API_VERSION}"` }),
  kind: z.enum(
    KINDS.map((k) => k.kind),
    { error: `must be one of ${KINDS.map((k) => k.kind).join(', ')}` },
  ),
  metadata: z.strictObject(
    { name: DnsLabel, version: ResourceVersion.optional() },
    { error: 'must be an object with a name' },
  ),
  spec: z.record(z.string(), z.unknown(), { error: 'must be an object' }),
});

/** The files a -f argument names: the file itself, or a folder's manifests sorted by name. */
async function expand(arg: string): Promise<string[]> {
  if (arg === '-') return ['-'];
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(arg);
  } catch (error) {
    throw new CliError(
      `cannot read ${arg}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      EXIT.usage,
    );
  }
  if (!info.isDirectory()) return [arg];
  const entries = await readdir(arg, { withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && EXTENSIONS.has(path.extname(e.name).toLowerCase()))
    .map((e) => e.name)
    .sort()
    .map((name) => path.join(arg, name));
}

async function readStdin(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function where(source: Source, raw: unknown): string {
  const r = raw && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  const meta = r.metadata && typeof r.metadata === 'object' ? (r.metadata as Record<string, unknown>) : {};
  const what = [r.kind, meta.name].filter((v) => typeof v === 'string' && v !== '').join(' ');
  return `${source.file}: document ${source.document}${what ? ` (${what})` : ''}`;
}

/** Checks one document; returns the manifest or the problems found, each as `path: message`. */
export function checkDocument(raw: unknown): { manifest?: Omit<Manifest, 'source'>; problems: string[] } {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    return { problems: ['must be an object with apiVersion, kind, metadata and spec'] };
  }
  const envelope = Envelope.safeParse(raw);
  if (!envelope.success) {
    return { problems: toFieldErrors(envelope.error).map((e) => `${e.path}: ${e.message}`) };
  }
  const { kind: kindName, metadata, spec } = envelope.data;
  const kind = kindNamed(kindName) as Kind;
  if ('name' in spec) {
    return { problems: ['spec.name: is not a known field; the name goes in metadata.name'] };
  }
  const parsed = kind.spec.safeParse({ ...spec, name: metadata.name });
  if (!parsed.success) {
    const problems = parsed.error.issues.length
      ? toFieldErrors(parsed.error, ['spec']).map((e) => `${e.path}: ${e.message}`)
      : [];
    return { problems };
  }
  return {
    manifest: { kind, name: metadata.name, spec: parsed.data, version: metadata.version },
    problems: [],
  };
}

type Document = { source: Source } & ({ raw: unknown } | { problem: string });

/** The documents of one file's text, in order; a YAML syntax error stands in for its document. */
function documentsOf(file: string, text: string): Document[] {
  const out: Document[] = [];
  let index = 0;
  for (const doc of parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true })) {
    index += 1;
    const source = { file, document: index };
    if (doc.errors.length > 0) {
      const first = doc.errors[0] as Error & { linePos?: { line: number; col: number }[] };
      const at = first.linePos?.[0]
        ? ` at line ${first.linePos[0].line}, column ${first.linePos[0].col}`
        : '';
      const message = (first.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
      out.push({ source, problem: `${file}: document ${index}: not valid YAML or JSON${at}: ${message}` });
      continue;
    }
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) continue;
    if (Array.isArray(value)) {
      // A JSON (or YAML) list of manifests: each item counts as one document.
      value.forEach((item, i) => {
        out.push({ raw: item, source: { file, document: index + i } });
      });
      index += Math.max(0, value.length - 1);
    } else out.push({ raw: value, source });
  }
  return out;
}

/** Reads and checks every manifest the -f arguments name; throws a ManifestError listing every problem. */
export async function loadManifests(
  args: readonly string[],
  stdin: NodeJS.ReadableStream,
): Promise<Manifest[]> {
  const problems: string[] = [];
  const manifests: Manifest[] = [];
  const files: string[] = [];
  for (const arg of args) files.push(...(await expand(arg)));
  if (files.length === 0)
    throw new CliError(`no manifests (*.yaml, *.yml, *.json) in ${args.join(', ')}`, EXIT.usage);

  for (const file of files) {
    let text: string;
    try {
      text = file === '-' ? await readStdin(stdin) : await readFile(file, 'utf8');
    } catch (error) {
      throw new CliError(
        `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        EXIT.usage,
      );
    }
    for (const doc of documentsOf(file === '-' ? '<stdin>' : file, text)) {
      if ('problem' in doc) {
        problems.push(doc.problem);
        continue;
      }
      const checked = checkDocument(doc.raw);
      for (const p of checked.problems) problems.push(`${where(doc.source, doc.raw)}: ${p}`);
      if (checked.manifest) manifests.push({ ...checked.manifest, source: doc.source });
    }
  }

  const seen = new Map<string, Source>();
  for (const m of manifests) {
    const key = `${m.kind.label}/${m.name}`;
    const first = seen.get(key);
    if (first) {
      problems.push(
        `${m.source.file}: document ${m.source.document} (${m.kind.kind} ${m.name}): metadata.name: ${key} is already defined in ${first.file}, document ${first.document}`,
      );
    } else seen.set(key, m.source);
  }
  if (problems.length > 0) throw new ManifestError(problems);
  if (manifests.length === 0) throw new CliError(`no resources found in ${args.join(', ')}`, EXIT.usage);
  return manifests;
}

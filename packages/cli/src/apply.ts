/**
 * `apply` and `diff`: bring the mesh to what the manifests say. Each resource is read first; absent, it is
 * created; present with the same spec (both sides normalised by the shared schema, so defaults and field order do
 * not count, nor id, version or timestamps), it is left alone; otherwise it is replaced with the version just read
 * (or the manifest's metadata.version), so a change made by someone else in between is refused, not overwritten.
 * Services go first, since routes and policies refer to them. Running it twice changes nothing the second time.
 */
import {
  authorizationReceivers,
  type ProxyStatus,
  ProxyStatusList,
  servicesReceiving,
} from '@trellis/schema';
import { z } from 'zod';
import { ApiError, type Client } from './client.ts';
import { unifiedDiff } from './diff.ts';
import { CliError, EXIT, type ExitCode } from './errors.ts';
import { canonical, type Spec, type Stored, specOf, toManifest } from './kinds.ts';
import type { Manifest } from './manifest.ts';
import { toYaml } from './output.ts';

export type Action = 'created' | 'configured' | 'unchanged';

export interface Step {
  manifest: Manifest;
  action: Action;
  current: Stored | undefined;
  /** The live spec, normalised; undefined when the resource does not exist yet. */
  live: Spec | undefined;
}

function ref(m: Manifest): string {
  return `${m.kind.label}/${m.name}`;
}

function byKind(manifests: readonly Manifest[]): Manifest[] {
  return [...manifests].sort((a, b) => a.kind.order - b.kind.order);
}

/** Reads the live state of every resource and decides what apply would do to it. */
export async function plan(client: Client, manifests: readonly Manifest[]): Promise<Step[]> {
  const steps: Step[] = [];
  for (const manifest of byKind(manifests)) {
    const current = await client.find(manifest.kind.stored, `${manifest.kind.path}/${manifest.name}`);
    const live = current ? specOf(manifest.kind, current) : undefined;
    const action: Action = !live
      ? 'created'
      : canonical(live) === canonical(manifest.spec)
        ? 'unchanged'
        : 'configured';
    steps.push({ manifest, action, current, live });
  }
  return steps;
}

export interface Io {
  out(text: string): void;
  err(text: string): void;
  color: boolean;
}

/** Applies the plan, one resource at a time; a failure is reported and the rest still goes through. */
export async function apply(client: Client, manifests: readonly Manifest[], io: Io): Promise<ExitCode> {
  let exit: ExitCode = EXIT.ok;
  for (const manifest of byKind(manifests)) {
    const { kind, name, spec } = manifest;
    try {
      const current = await client.find(kind.stored, `${kind.path}/${name}`);
      if (!current) {
        if (manifest.version !== undefined) {
          throw new CliError(
            `${ref(manifest)}: metadata.version is ${manifest.version} but the resource no longer exists; remove metadata.version to create it`,
            EXIT.conflict,
          );
        }
        const res = await client.send(kind.stored, 'POST', kind.path, spec);
        io.out(`${ref(manifest)} created${revisionNote(res.revision)}\n`);
        continue;
      }
      if (canonical(specOf(kind, current)) === canonical(spec)) {
        io.out(`${ref(manifest)} unchanged\n`);
        continue;
      }
      const version = manifest.version ?? current.version;
      const res = await client.send(kind.stored, 'PUT', `${kind.path}/${name}`, { ...spec, version });
      io.out(`${ref(manifest)} configured${revisionNote(res.revision)}\n`);
    } catch (error) {
      if (!(error instanceof CliError) || error.exitCode === EXIT.unreachable) throw error;
      io.err(
        `error: ${error.message.startsWith(ref(manifest)) ? '' : `${ref(manifest)}: `}${conflictNote(error)}\n`,
      );
      // A conflict outranks other failures: a script retrying on 5 should re-read and re-apply.
      if (exit !== EXIT.conflict) exit = error.exitCode === EXIT.conflict ? EXIT.conflict : EXIT.failed;
    }
  }
  return exit;
}

function revisionNote(revision: number | undefined): string {
  return revision === undefined ? '' : ` (revision ${revision})`;
}

/** On a version conflict, the version the resource is at now, when the server's message does not say it. */
function conflictNote(error: CliError): string {
  if (!(error instanceof ApiError) || error.code !== 'TRELLIS_ERR_VERSION_CONFLICT') return error.message;
  const now = z.object({ version: z.number() }).safeParse(error.problem?.current);
  if (!now.success || error.message.includes(`version ${now.data.version}`)) return error.message;
  return `${error.message} (it is now at version ${now.data.version})`;
}

const ServiceScope = z.object({ name: z.string(), dependencies: z.array(z.string()).optional() });

/**
 * The proxies a change reaches: those of every service whose scope holds the changed resource's service (a
 * service with `dependencies` sees those and itself, one without sees the whole mesh), before or after the
 * planned service changes.
 */
async function reach(client: Client, steps: readonly Step[]) {
  const before = await client.list(ServiceScope, '/services');
  const after = new Map(before.map((s) => [s.name, s]));
  for (const step of steps) {
    if (step.manifest.kind.kind === 'Service' && step.action !== 'unchanged') {
      after.set(step.manifest.name, ServiceScope.parse(step.manifest.spec));
    }
  }
  const proxies = (await client.get(ProxyStatusList, '/proxies')).items;
  return (manifest: Manifest): { services: string[]; proxies: ProxyStatus[] } => {
    // An authorization policy goes to the proxies of its destination (all, for "*"), which enforce it.
    const receiving =
      manifest.kind.kind === 'AuthorizationPolicy'
        ? (all: readonly z.infer<typeof ServiceScope>[]) =>
            authorizationReceivers(all, String(manifest.spec.destination))
        : (all: readonly z.infer<typeof ServiceScope>[]) =>
            servicesReceiving(
              all,
              manifest.kind.kind === 'Service' ? manifest.name : String(manifest.spec.service),
            );
    const services = [...new Set([...receiving(before), ...receiving([...after.values()])])].sort();
    return {
      services,
      proxies: proxies.filter((p) => services.includes(p.node.service)),
    };
  };
}

function diffOf(step: Step, color: boolean): string {
  const { kind } = step.manifest;
  const before = step.live ? toYaml(toManifest(kind, step.live)) : '';
  const after = toYaml(toManifest(kind, step.manifest.spec));
  const label = ref(step.manifest);
  return unifiedDiff(
    before,
    after,
    {
      before: step.current ? `${label} (live, version ${step.current.version})` : `${label} (absent)`,
      after: `${label} (manifest)`,
    },
    { color },
  );
}

/**
 * `apply --dry-run` (status lines, diffs and the proxies affected) and `diff` (diffs only). Returns whether
 * anything would change.
 */
export async function preview(
  client: Client,
  manifests: readonly Manifest[],
  io: Io,
  mode: 'dry-run' | 'diff',
): Promise<boolean> {
  const steps = await plan(client, manifests);
  const changes = steps.filter((s) => s.action !== 'unchanged');
  const reaching = mode === 'dry-run' && changes.length > 0 ? await reach(client, steps) : undefined;
  for (const step of steps) {
    if (mode === 'dry-run') io.out(`${ref(step.manifest)} ${step.action} (dry run)\n`);
    if (step.action === 'unchanged') continue;
    io.out(diffOf(step, io.color));
    if (reaching) {
      const { services, proxies } = reaching(step.manifest);
      io.out(`  services in scope: ${services.length ? services.join(', ') : '<none>'}\n`);
      io.out(
        `  proxies affected: ${
          proxies.length
            ? proxies.map((p) => `${p.node.service}/${p.node.instance} (${p.status})`).join(', ')
            : '<none connected>'
        }\n`,
      );
    }
  }
  return changes.length > 0;
}

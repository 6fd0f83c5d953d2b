/**
 * What a proxy is sent: the slice of the mesh its service needs, stripped of control-plane metadata (ids,
 * versions, timestamps), which proxies have no use for and which would make otherwise identical slices differ.
 *
 * Scoping lives in one place, `serviceScope` in @trellis/schema (shared with the console, which shows whose proxies a
 * change reaches): a service that declares its `dependencies` gets those services and itself; one that declares none
 * gets the whole mesh.
 *
 * Serialising for every proxy on every change would cost O(proxies × slice) CPU per revision, so `SliceCache`
 * serialises each distinct message once per revision and hands the same Buffer to every proxy that gets it: one
 * per distinct scope for snapshots and config messages, one per distinct set of services for endpoint deltas.
 * The nonce is part of those bytes, so it is generated once per message rather than per send. Messages carry
 * digests of the slice and of its configuration, so a proxy whose slice a change did not touch need not be sent
 * anything, and one whose endpoints a configuration change did not touch is sent the configuration alone.
 *
 * The mesh settings (mTLS mode, path settings) are the same in every slice, and part of its configuration digest.
 *
 * Authorization policies are enforced by the destination's own inbound proxies, so a proxy of S gets those for S
 * and for "*", whatever its scope: a scope's key then also names S when S has policies of its own (services
 * without any share the mesh-wide ones, and their messages).
 */
import { createHash, randomBytes } from 'node:crypto';
import { appliesTo, MESH_WIDE, type MeshSlice, type ProxyEndpoint, serviceScope } from '@trellis/schema';
import { canonicalJson, type EndpointDiff, type Mesh, proxyEndpoint } from './mesh.ts';

/** The names of the services a proxy of `service` needs, by the mesh's one scoping rule. */
export function sliceScope(mesh: Pick<Mesh, 'services'>, service: string): ReadonlySet<string> {
  return serviceScope(mesh.services, service);
}

type Meta = { id: string; version: number; createdAt: string; updatedAt: string };

function stripMeta<T extends Meta>(resource: T): Omit<T, keyof Meta> {
  const { id: _i, version: _v, createdAt: _c, updatedAt: _u, ...spec } = resource;
  return spec;
}

/** The slice of `mesh` whose resources belong to the services in `scope`. Unhealthy endpoints stay in: the
 * proxy's balancer skips them, and knowing them lets it tell "no healthy upstream" from "no such service". */
export function sliceOfScope(mesh: Mesh, scope: ReadonlySet<string>, service = MESH_WIDE): MeshSlice {
  const services = mesh.services.filter((s) => scope.has(s.name));
  return {
    services: services.map(stripMeta),
    endpoints: services.flatMap((s) => mesh.endpointsOf(s.name).map(proxyEndpoint)),
    routes: mesh.routes.filter((r) => scope.has(r.service)).map(stripMeta),
    policies: mesh.policies.filter((p) => scope.has(p.service)).map(stripMeta),
    authorizationPolicies: authorizationFor(mesh, service),
    mtls: mesh.settings.mtls,
    http: mesh.settings.http,
  };
}

/** The authorization policies a proxy of `service` enforces: its service's and the mesh-wide ones. */
export function authorizationFor(mesh: Pick<Mesh, 'authorizationPolicies'>, service: string) {
  return mesh.authorizationPolicies.filter((p) => appliesTo(p, service)).map(stripMeta);
}

/** The mesh slice for a proxy of `service`. */
export function sliceFor(mesh: Mesh, service: string): MeshSlice {
  return sliceOfScope(mesh, sliceScope(mesh, service), service);
}

/** A serialised message, shared by every proxy that gets it. */
export interface Encoded {
  kind: 'snapshot' | 'config' | 'endpoints';
  revision: number;
  nonce: string;
  bytes: Buffer;
  /** Snapshots: a digest of the whole slice. */
  sliceDigest: string | null;
  /** Snapshots and config messages: a digest of the slice's configuration (all but endpoints). */
  configDigest: string | null;
}

export interface Scope {
  key: string;
  services: ReadonlySet<string>;
  /** Whose own authorization policies the slice holds besides the mesh-wide ones ("*": none of its own). */
  authorization: string;
}

/** The JSON of a scope's configuration, made once per configuration revision. */
interface ConfigParts {
  services: string;
  routes: string;
  policies: string;
  authorizationPolicies: string;
  mtls: string;
  http: string;
  digest: string;
}

const STATS_REVISIONS = 64;

function nonce(): string {
  return randomBytes(16).toString('hex');
}

/**
 * A digest of values' content, whatever the order of their keys: resources read back from jsonb columns come with
 * their keys reordered, and must not look changed for that.
 */
function digest(...values: unknown[]): string {
  const hash = createHash('sha256');
  for (const value of values) hash.update(canonicalJson(value)).update('\n');
  return hash.digest('base64');
}

/**
 * Encoded messages of the current revision. Entries of older revisions are dropped as soon as a newer revision
 * is asked for; scopes and the JSON of their configuration are kept until the configuration changes (endpoint
 * changes cannot change either).
 */
export class SliceCache {
  private revision = -1;
  private configRevision = -1;
  private snapshots = new Map<string, Encoded>();
  private configs = new Map<string, Encoded>();
  private deltas = new Map<string, Encoded>();
  private scopes = new Map<string, Scope>();
  private parts = new Map<string, ConfigParts>();
  private perRevision = new Map<number, number>();
  /** How many messages have been serialised in total. */
  serialisations = 0;

  /** How many messages were serialised for `revision` (kept for the last 64 revisions). */
  serialisationsFor(revision: number): number {
    return this.perRevision.get(revision) ?? 0;
  }

  scopeOf(mesh: Mesh, service: string): Scope {
    this.roll(mesh);
    let scope = this.scopes.get(service);
    if (!scope) {
      const services = sliceScope(mesh, service);
      const own = mesh.authorizationPolicies.some((p) => p.destination === service);
      const authorization = own ? service : MESH_WIDE;
      const key = [...services].sort().join(',') + (own ? `#${service}` : '');
      scope = { key, services, authorization };
      this.scopes.set(service, scope);
    }
    return scope;
  }

  /** The snapshot message (the whole slice) for proxies of `service`. */
  snapshot(mesh: Mesh, service: string): Encoded {
    const scope = this.scopeOf(mesh, service);
    return this.once(this.snapshots, scope.key, mesh, (n) => {
      const parts = this.partsOf(mesh, scope);
      const inScope = mesh.services.filter((s) => scope.services.has(s.name));
      const list = inScope.flatMap((s) => mesh.endpointsOf(s.name).map(proxyEndpoint));
      const meshId = mesh.id ? `"mesh":"${mesh.id}",` : '';
      return {
        kind: 'snapshot',
        text: `{"type":"snapshot","revision":${mesh.revision},"nonce":"${n}",${meshId}"slice":{"services":${parts.services},"endpoints":${JSON.stringify(list)},"routes":${parts.routes},"policies":${parts.policies},"authorizationPolicies":${parts.authorizationPolicies},"mtls":${parts.mtls},"http":${parts.http}}}`,
        sliceDigest: digest(parts.digest, list),
        configDigest: parts.digest,
      };
    });
  }

  /** The config message (the slice without endpoints) for proxies of `service`. */
  config(mesh: Mesh, service: string): Encoded {
    const scope = this.scopeOf(mesh, service);
    return this.once(this.configs, scope.key, mesh, (n) => {
      const parts = this.partsOf(mesh, scope);
      return {
        kind: 'config',
        text: `{"type":"config","revision":${mesh.revision},"nonce":"${n}","config":{"services":${parts.services},"routes":${parts.routes},"policies":${parts.policies},"authorizationPolicies":${parts.authorizationPolicies},"mtls":${parts.mtls},"http":${parts.http}}}`,
        sliceDigest: null,
        configDigest: parts.digest,
      };
    });
  }

  /**
   * The endpoints message bringing proxies at revision `from` up to date for `services` (sorted), given what
   * changed in them since: endpoint by endpoint, or whole lists for services where that would be no smaller
   * (or whose changes are not known).
   */
  endpointChanges(
    mesh: Mesh,
    from: number,
    services: readonly string[],
    diffs: Readonly<Record<string, EndpointDiff>>,
  ): Encoded {
    this.roll(mesh);
    return this.once(this.deltas, `${from}|${services.join(',')}`, mesh, (n) => {
      const lists: Record<string, ProxyEndpoint[]> = {};
      const changes: Record<string, { set: ProxyEndpoint[]; remove: EndpointDiff['remove'] }> = {};
      for (const service of services) {
        const d = diffs[service];
        const list = mesh.endpointsOf(service);
        if (!d || d.set.length + d.remove.length >= list.length) lists[service] = list.map(proxyEndpoint);
        else changes[service] = { set: d.set.map(proxyEndpoint), remove: d.remove };
      }
      return {
        kind: 'endpoints',
        text: JSON.stringify({
          type: 'endpoints',
          revision: mesh.revision,
          nonce: n,
          services: lists,
          changes,
        }),
        sliceDigest: null,
        configDigest: null,
      };
    });
  }

  /** The endpoints message replacing the whole endpoint lists of `services` (sorted). */
  endpoints(mesh: Mesh, services: readonly string[]): Encoded {
    return this.endpointChanges(mesh, -1, services, {});
  }

  /** The message `key` of this revision from `map`, made (with a fresh nonce) and counted the first time. */
  private once(
    map: Map<string, Encoded>,
    key: string,
    mesh: Mesh,
    make: (nonce: string) => Omit<Encoded, 'revision' | 'nonce' | 'bytes'> & { text: string },
  ): Encoded {
    const cached = map.get(key);
    if (cached) return cached;
    const n = nonce();
    const { text, ...rest } = make(n);
    const entry: Encoded = { ...rest, revision: mesh.revision, nonce: n, bytes: Buffer.from(text) };
    map.set(key, entry);
    this.count(mesh.revision);
    return entry;
  }

  private partsOf(mesh: Mesh, scope: Scope): ConfigParts {
    let parts = this.parts.get(scope.key);
    if (!parts) {
      const services = mesh.services.filter((s) => scope.services.has(s.name)).map(stripMeta);
      const routes = mesh.routes.filter((r) => scope.services.has(r.service)).map(stripMeta);
      const policies = mesh.policies.filter((p) => scope.services.has(p.service)).map(stripMeta);
      const authorization = authorizationFor(mesh, scope.authorization);
      parts = {
        services: JSON.stringify(services),
        routes: JSON.stringify(routes),
        policies: JSON.stringify(policies),
        authorizationPolicies: JSON.stringify(authorization),
        mtls: JSON.stringify(mesh.settings.mtls),
        http: JSON.stringify(mesh.settings.http),
        // Every part a proxy is sent, settings included: a change to any of them must reach the proxies.
        digest: digest(services, routes, policies, authorization, mesh.settings.mtls, mesh.settings.http),
      };
      this.parts.set(scope.key, parts);
    }
    return parts;
  }

  private roll(mesh: Mesh): void {
    if (mesh.revision !== this.revision) {
      this.revision = mesh.revision;
      this.snapshots = new Map();
      this.configs = new Map();
      this.deltas = new Map();
    }
    if (mesh.configRevision !== this.configRevision) {
      this.configRevision = mesh.configRevision;
      this.scopes = new Map();
      this.parts = new Map();
    }
  }

  private count(revision: number): void {
    this.serialisations += 1;
    this.perRevision.set(revision, this.serialisationsFor(revision) + 1);
    if (this.perRevision.size > STATS_REVISIONS) {
      const oldest = this.perRevision.keys().next().value;
      if (oldest !== undefined) this.perRevision.delete(oldest);
    }
  }
}

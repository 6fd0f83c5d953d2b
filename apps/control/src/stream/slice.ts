/**
 * What a proxy is sent: the slice of the mesh its service needs, stripped of control-plane metadata (ids,
 * versions, timestamps), which proxies have no use for and which would make otherwise identical slices differ.
 *
 * Scoping lives in one place, `sliceScope`. There is no declared dependency graph in the model yet, so today every
 * proxy sees every service (TODO: scope by declared dependencies once the model has them).
 *
 * Serialising a large mesh for every proxy on every change would cost O(proxies × mesh) CPU per revision, so
 * `SliceCache` serialises each distinct slice once per revision and hands the same Buffer to every proxy that gets
 * it. The nonce is part of those bytes, so it is generated once per (revision, slice) rather than per send.
 */
import { randomBytes } from 'node:crypto';
import type { MeshSlice, MeshSnapshot, ProxyEndpoint } from '@trellis/schema';

/** The names of the services a proxy of `service` needs. */
export function sliceScope(snapshot: MeshSnapshot, _service: string): ReadonlySet<string> {
  // TODO(dependencies): S itself plus the services S declares it calls; until then, the whole mesh.
  return new Set(snapshot.services.map((s) => s.name));
}

type Meta = { id: string; version: number; createdAt: string; updatedAt: string };

function stripMeta<T extends Meta>(resource: T): Omit<T, keyof Meta> {
  const { id: _i, version: _v, createdAt: _c, updatedAt: _u, ...spec } = resource;
  return spec;
}

/** The slice of `snapshot` whose resources belong to the services in `scope`. Unhealthy endpoints stay in:
 * the proxy's balancer skips them, and knowing them lets it tell "no healthy upstream" from "no such service". */
export function sliceOfScope(snapshot: MeshSnapshot, scope: ReadonlySet<string>): MeshSlice {
  return {
    services: snapshot.services.filter((s) => scope.has(s.name)).map(stripMeta),
    endpoints: snapshot.endpoints
      .filter((e) => scope.has(e.service))
      .map((e): ProxyEndpoint => {
        const { lastSeen: _l, expiresAt: _e, ...rest } = stripMeta(e);
        return rest;
      }),
    routes: snapshot.routes.filter((r) => scope.has(r.service)).map(stripMeta),
    policies: snapshot.policies.filter((p) => scope.has(p.service)).map(stripMeta),
  };
}

/** The mesh slice for a proxy of `service`. */
export function sliceFor(snapshot: MeshSnapshot, service: string): MeshSlice {
  return sliceOfScope(snapshot, sliceScope(snapshot, service));
}

/** A serialised `snapshot` message, shared by every proxy whose slice it is. */
export interface EncodedSnapshot {
  revision: number;
  nonce: string;
  bytes: Buffer;
}

const STATS_REVISIONS = 64;

/**
 * Encoded snapshot messages of the current revision, keyed by scope: proxies whose scopes are equal share one
 * entry, whatever their service. Entries of older revisions are dropped as soon as a newer revision is asked for.
 */
export class SliceCache {
  private revision = -1;
  private byScope = new Map<string, EncodedSnapshot>();
  private scopeOfService = new Map<string, string>();
  private perRevision = new Map<number, number>();
  /** How many snapshot messages have been serialised in total. */
  serialisations = 0;

  /** How many snapshot messages were serialised for `revision` (kept for the last 64 revisions). */
  serialisationsFor(revision: number): number {
    return this.perRevision.get(revision) ?? 0;
  }

  get(snapshot: MeshSnapshot, service: string): EncodedSnapshot {
    if (snapshot.revision !== this.revision) {
      this.revision = snapshot.revision;
      this.byScope = new Map();
      this.scopeOfService = new Map();
    }
    let key = this.scopeOfService.get(service);
    let scope: ReadonlySet<string> | undefined;
    if (key === undefined) {
      scope = sliceScope(snapshot, service);
      key = [...scope].sort().join(',');
      this.scopeOfService.set(service, key);
    }
    const cached = this.byScope.get(key);
    if (cached) return cached;
    const slice = sliceOfScope(snapshot, scope ?? sliceScope(snapshot, service));
    const nonce = randomBytes(16).toString('hex');
    const bytes = Buffer.from(
      JSON.stringify({ type: 'snapshot', revision: snapshot.revision, nonce, slice }),
    );
    const entry: EncodedSnapshot = { revision: snapshot.revision, nonce, bytes };
    this.byScope.set(key, entry);
    this.serialisations += 1;
    this.perRevision.set(snapshot.revision, this.serialisationsFor(snapshot.revision) + 1);
    if (this.perRevision.size > STATS_REVISIONS) {
      const oldest = this.perRevision.keys().next().value;
      if (oldest !== undefined) this.perRevision.delete(oldest);
    }
    return entry;
  }
}

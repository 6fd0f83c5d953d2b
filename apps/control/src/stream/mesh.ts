/**
 * The control plane's in-memory copy of the newest mesh, kept current by applying revisions in order: a config
 * revision replaces it whole, an endpoints revision replaces the endpoint lists of the services it touched.
 * Endpoints are held per service so that applying a registration costs the size of one service, not of the
 * mesh, and so that slices pick their endpoints without scanning every endpoint.
 *
 * `ChangeLog` remembers, for recent revisions, which services' endpoints each one changed (or that it changed
 * configuration). From it the hub tells whether a proxy at revision r can be brought up to date with an
 * endpoints delta, and which services that delta must carry.
 */
import type {
  AuthorizationPolicy,
  Endpoint,
  EndpointKey,
  EndpointLists,
  MeshConfig,
  MeshSettingsSpec,
  MeshSnapshot,
  ProxyEndpoint,
  RouteRule,
  Service,
  TrafficPolicy,
} from '@trellis/schema';
import { DEFAULT_MESH_SETTINGS } from '@trellis/schema';

/** What changed in one service's endpoint list: endpoints added or changed, and those removed. */
export interface EndpointDiff {
  set: Endpoint[];
  remove: EndpointKey[];
}

const keyOf = (e: EndpointKey) => `${e.address} ${e.port}`;

/** An endpoint as proxies see it: without control-plane metadata (ids, versions, timestamps). */
export function proxyEndpoint(endpoint: Endpoint): ProxyEndpoint {
  const {
    id: _i,
    version: _v,
    createdAt: _c,
    updatedAt: _u,
    lastSeen: _l,
    expiresAt: _e,
    ...rest
  } = endpoint;
  return rest;
}

/** JSON with every object's keys sorted: equal for equal content, whatever order the keys came in (jsonb). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v === null || typeof v !== 'object' || Array.isArray(v)
      ? v
      : Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
  );
}

function diff(before: readonly Endpoint[], after: readonly Endpoint[]): EndpointDiff {
  const old = new Map(before.map((e) => [keyOf(e), canonicalJson(proxyEndpoint(e))]));
  const set = after.filter((e) => old.get(keyOf(e)) !== canonicalJson(proxyEndpoint(e)));
  const kept = new Set(after.map(keyOf));
  const remove = before.filter((e) => !kept.has(keyOf(e))).map((e) => ({ address: e.address, port: e.port }));
  return { set, remove };
}

export class Mesh {
  private endpoints = new Map<string, Endpoint[]>();
  services: Service[] = [];
  routes: RouteRule[] = [];
  policies: TrafficPolicy[] = [];
  authorizationPolicies: AuthorizationPolicy[] = [];
  settings: MeshSettingsSpec = DEFAULT_MESH_SETTINGS;
  /** The revision whose configuration (everything but endpoints) this mesh holds. */
  configRevision = 0;

  constructor(
    public revision: number,
    /** When `revision` was committed (null when unknown, e.g. revision 0). */
    public committedAt: Date | null,
    /** Which mesh this is (MeshState.meshId): revision numbers mean something only within one. */
    readonly id = '',
  ) {}

  static of(snapshot: MeshSnapshot, committedAt: Date | null, id = ''): Mesh {
    const mesh = new Mesh(snapshot.revision, committedAt, id);
    mesh.applyConfig(snapshot, committedAt);
    return mesh;
  }

  /**
   * A new configuration. With endpoints (a whole snapshot) they replace all held; without (a config revision),
   * the endpoints held are kept for the services that still exist: a deleted service's go with it.
   */
  applyConfig(snapshot: MeshConfig & { endpoints?: Endpoint[] }, committedAt: Date | null): string[] {
    this.revision = snapshot.revision;
    this.configRevision = snapshot.revision;
    this.committedAt = committedAt;
    this.services = snapshot.services;
    this.routes = snapshot.routes;
    this.policies = snapshot.policies;
    // Revisions stored before authorization policies existed have none.
    this.authorizationPolicies = snapshot.authorizationPolicies ?? [];
    // Revisions stored before mesh settings (or their `http` part) existed leave them out: the database then held
    // the defaults, as the migrations that added them do.
    this.settings = {
      mtls: snapshot.settings?.mtls ?? DEFAULT_MESH_SETTINGS.mtls,
      http: snapshot.settings?.http ?? DEFAULT_MESH_SETTINGS.http,
    };
    if (snapshot.endpoints) {
      this.endpoints = new Map();
      for (const e of snapshot.endpoints) {
        const list = this.endpoints.get(e.service);
        if (list) list.push(e);
        else this.endpoints.set(e.service, [e]);
      }
      return [];
    }
    const names = new Set(snapshot.services.map((s) => s.name));
    const dropped: string[] = [];
    for (const service of this.endpoints.keys()) {
      if (!names.has(service)) {
        this.endpoints.delete(service);
        dropped.push(service);
      }
    }
    return dropped;
  }

  /** Replaces the endpoint lists of some services; returns what changed in each, as a proxy sees endpoints. */
  applyEndpoints(
    revision: number,
    lists: EndpointLists,
    committedAt: Date | null,
  ): Record<string, EndpointDiff> {
    this.revision = revision;
    this.committedAt = committedAt;
    const diffs: Record<string, EndpointDiff> = {};
    for (const [service, list] of Object.entries(lists)) {
      diffs[service] = diff(this.endpoints.get(service) ?? [], list);
      if (list.length === 0) this.endpoints.delete(service);
      else this.endpoints.set(service, list);
    }
    return diffs;
  }

  endpointsOf(service: string): readonly Endpoint[] {
    return this.endpoints.get(service) ?? [];
  }

  get endpointCount(): number {
    let n = 0;
    for (const list of this.endpoints.values()) n += list.length;
    return n;
  }
}

/** What one revision changed: the services whose endpoints it replaced, or null for a config change. */
export interface Step {
  revision: number;
  services: readonly string[] | null;
  /** How each of those services' endpoints changed (unknown for steps read back from the database). */
  diffs?: Readonly<Record<string, EndpointDiff>>;
  /** For a config change: the services whose endpoints went with them (deleted services). */
  dropped?: readonly string[];
}

/** The last `capacity` steps, in revision order without gaps. */
export class ChangeLog {
  private steps: Step[] = [];

  constructor(private readonly capacity = 1024) {}

  /** Forgets everything (after the mesh was rebuilt from the tables with a gap in between). */
  reset(steps: Step[] = []): void {
    this.steps = steps.slice(-this.capacity);
  }

  add(step: Step): void {
    const last = this.steps.at(-1);
    if (last && step.revision !== last.revision + 1) this.steps = [];
    this.steps.push(step);
    if (this.steps.length > this.capacity) this.steps.splice(0, this.steps.length - this.capacity);
  }

  /**
   * What changed after `revision` up to `to`: whether any configuration did, and the services whose endpoints
   * did. Null when the log does not reach back that far (or not yet up to `to`).
   */
  since(revision: number, to: number): { config: boolean; services: Set<string> } | null {
    const changed = { config: false, services: new Set<string>() };
    if (revision >= to) return changed;
    const first = this.steps[0];
    if (!first || revision + 1 < first.revision) return null;
    for (let i = Math.max(0, revision + 1 - first.revision); i < this.steps.length; i++) {
      const step = this.steps[i] as Step;
      if (step.revision > to) break;
      if (step.services === null) {
        changed.config = true;
        for (const s of step.dropped ?? []) changed.services.add(s);
      } else for (const s of step.services) changed.services.add(s);
    }
    const last = this.steps.at(-1);
    if (!last || last.revision < to) return null;
    return changed;
  }

  /**
   * The endpoint changes of `services` after `revision` up to `to`, composed into one diff per service; null
   * when some step in between is not known endpoint by endpoint (or the log does not reach back).
   */
  endpointDiffsSince(
    revision: number,
    to: number,
    services: readonly string[],
  ): Record<string, EndpointDiff> | null {
    const first = this.steps[0];
    if (!first || revision + 1 < first.revision) return null;
    const wanted = new Set(services);
    const state = new Map<string, Map<string, { at: EndpointKey; now: Endpoint | null }>>();
    for (let i = Math.max(0, revision + 1 - first.revision); i < this.steps.length; i++) {
      const step = this.steps[i] as Step;
      if (step.revision > to) break;
      if (step.services === null && step.dropped?.some((s) => wanted.has(s))) return null;
      for (const service of step.services ?? []) {
        if (!wanted.has(service)) continue;
        const d = step.diffs?.[service];
        if (!d) return null;
        let byKey = state.get(service);
        if (!byKey) {
          byKey = new Map();
          state.set(service, byKey);
        }
        for (const k of d.remove) byKey.set(keyOf(k), { at: k, now: null });
        for (const e of d.set) byKey.set(keyOf(e), { at: e, now: e });
      }
    }
    const out: Record<string, EndpointDiff> = {};
    for (const service of services) {
      const set: Endpoint[] = [];
      const remove: EndpointKey[] = [];
      for (const { at, now } of state.get(service)?.values() ?? []) {
        if (now) set.push(now);
        else remove.push({ address: at.address, port: at.port });
      }
      out[service] = { set, remove };
    }
    return out;
  }

  /** The services whose endpoints changed after `revision` up to `to`, when nothing else changed; else null. */
  endpointsChangedSince(revision: number, to: number): Set<string> | null {
    const changed = this.since(revision, to);
    return changed && !changed.config ? changed.services : null;
  }
}

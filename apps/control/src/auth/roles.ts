/**
 * The role each API route needs, declared in one table so that it can be reviewed at a glance. A route may
 * instead declare it where it is registered (`config: { role: 'editor' }`). A route with neither is refused to
 * everyone (default deny), and a test fails on it.
 *
 * viewer: reads and the console's WebSocket feeds. editor: changes to the mesh (services, endpoints, routes,
 * policies, authorization policies, rollback). admin: the mesh-wide settings, users, tokens, join tokens and the
 * rest of the control plane's own administration. A rollback makes many changes at once, so it also needs the role
 * of each change it makes (CHANGE_ROLES): an editor may not undo an admin's decision by rolling back past it.
 */
import { API_PREFIX, type ConfigResourceKind, type Role } from '@trellis/schema';

/** `public`: no credentials needed. */
export type RouteAccess = Role | 'public';

const P = API_PREFIX;

const TABLE: Record<string, RouteAccess> = {
  'GET /healthz': 'public',
  'GET /readyz': 'public',
  [`POST ${P}/auth/login`]: 'public',
  [`POST ${P}/auth/logout`]: 'viewer',
  [`GET ${P}/auth/me`]: 'viewer',
  [`POST ${P}/auth/password`]: 'viewer',

  [`GET ${P}/services`]: 'viewer',
  [`POST ${P}/services`]: 'editor',
  [`GET ${P}/services/:name`]: 'viewer',
  [`PUT ${P}/services/:name`]: 'editor',
  [`DELETE ${P}/services/:name`]: 'editor',
  [`GET ${P}/services/:name/endpoints`]: 'viewer',
  [`POST ${P}/services/:name/endpoints`]: 'editor',
  [`GET ${P}/services/:name/endpoints/:id`]: 'viewer',
  [`PUT ${P}/services/:name/endpoints/:id`]: 'editor',
  [`DELETE ${P}/services/:name/endpoints/:id`]: 'editor',
  [`POST ${P}/services/:name/endpoints/:id/heartbeat`]: 'editor',
  [`GET ${P}/routes`]: 'viewer',
  [`POST ${P}/routes`]: 'editor',
  [`GET ${P}/routes/:name`]: 'viewer',
  [`PUT ${P}/routes/:name`]: 'editor',
  [`DELETE ${P}/routes/:name`]: 'editor',
  [`GET ${P}/policies`]: 'viewer',
  [`POST ${P}/policies`]: 'editor',
  [`GET ${P}/policies/:name`]: 'viewer',
  [`PUT ${P}/policies/:name`]: 'editor',
  [`DELETE ${P}/policies/:name`]: 'editor',
  [`GET ${P}/authorization-policies`]: 'viewer',
  [`POST ${P}/authorization-policies`]: 'editor',
  [`GET ${P}/authorization-policies/:name`]: 'viewer',
  [`PUT ${P}/authorization-policies/:name`]: 'editor',
  [`DELETE ${P}/authorization-policies/:name`]: 'editor',

  [`GET ${P}/revisions`]: 'viewer',
  [`GET ${P}/revisions/:revision`]: 'viewer',
  [`POST ${P}/revisions/:revision/rollback`]: 'editor',
  [`GET ${P}/audit`]: 'viewer',
  [`GET ${P}/security-events`]: 'admin',
  [`GET ${P}/proxies`]: 'viewer',
  [`GET ${P}/topology`]: 'viewer',
  [`GET ${P}/metrics`]: 'viewer',

  [`GET ${P}/users`]: 'admin',
  [`POST ${P}/users`]: 'admin',
  [`PUT ${P}/users/:username`]: 'admin',
  [`DELETE ${P}/users/:username`]: 'admin',
  [`GET ${P}/tokens`]: 'admin',
  [`POST ${P}/tokens`]: 'admin',
  [`DELETE ${P}/tokens/:id`]: 'admin',
  [`GET ${P}/join-tokens`]: 'admin',
  [`POST ${P}/join-tokens`]: 'admin',
  [`DELETE ${P}/join-tokens/:id`]: 'admin',
};

/** The role a change of each kind of mesh configuration needs: what that kind's own write routes declare. */
export const CHANGE_ROLES: Readonly<Record<ConfigResourceKind, Role>> = {
  service: 'editor',
  route: 'editor',
  policy: 'editor',
  'authorization-policy': 'editor',
  // Mesh-wide settings change how every sidecar talks (mutual TLS) and reads paths (merging slashes): an admin's
  // decision, not an editor's, whether made by a PUT or by a rollback that restores them.
  'mesh-settings': 'admin',
};

const ACCESS = new Set<string>(['public', 'viewer', 'editor', 'admin']);

/**
 * The access a route needs: its own `config.role`, else the table's entry (HEAD as GET; a trailing slash
 * ignored), else undefined (denied).
 */
export function routeAccess(method: string, url: string, config: unknown): RouteAccess | undefined {
  const own = (config as { role?: unknown } | undefined)?.role;
  if (typeof own === 'string' && ACCESS.has(own)) return own as RouteAccess;
  const m = method === 'HEAD' ? 'GET' : method;
  const path = url.length > 1 ? url.replace(/\/+$/, '') : url;
  return TABLE[`${m} ${path}`];
}

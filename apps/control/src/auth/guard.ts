/**
 * Who is calling, and may they: every request to the API (and every upgrade to the console's WebSocket feeds) is
 * authenticated here before any route runs, from an `Authorization: Bearer` token (an API token, or the static
 * TRELLIS_ADMIN_TOKEN) or the `trellis_session` cookie of a console login, and checked against the role its route
 * declares (roles.ts). A route that declares none is refused to everyone. Cookie-authenticated writes must also
 * carry the session's CSRF token in `x-trellis-csrf`; bearer requests need none, since a browser never adds
 * a bearer token by itself. For the same reason a cookie-authenticated WebSocket upgrade must come from a page of the
 * console (origin.ts).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { CSRF_HEADER, type Role, roleAtLeast, SESSION_COOKIE } from '@trellis/schema';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { TrellisError } from '../errors.ts';
import { pageMayUseSession } from './origin.ts';
import { type RouteAccess, routeAccess } from './roles.ts';
import { sameSecret, secretHash } from './secrets.ts';
import { ADMIN_TOKEN_ACTOR, type AuthStoreDeps, findApiToken, findSession, tokenRole } from './store.ts';

/** The name the static TRELLIS_ADMIN_TOKEN goes by in the audit log (`token:TRELLIS_ADMIN_TOKEN`). */
export const ADMIN_TOKEN_NAME = ADMIN_TOKEN_ACTOR.slice('token:'.length);

export interface Principal {
  kind: 'session' | 'token';
  role: Role;
  /** The signed-in user (sessions). */
  username: string | null;
  userId: string | null;
  /** The API token's name (tokens). */
  tokenName: string | null;
  /** The API token's id (null for sessions and the static admin token). */
  tokenId: string | null;
  /** The session's CSRF token and the hash of its id (sessions). */
  csrfToken: string | null;
  sessionHash: string | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export interface AuthDeps extends AuthStoreDeps {
  /** The static admin bearer token (TRELLIS_ADMIN_TOKEN), if any. */
  adminToken?: string | undefined;
}

/** The audit actor of a principal: `user:<name>` or `token:<name>`. */
export function actorName(principal: Principal | null): string {
  if (!principal) return 'anonymous';
  return principal.kind === 'session' ? `user:${principal.username}` : `token:${principal.tokenName}`;
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!out.has(name)) out.set(name, part.slice(eq + 1).trim());
  }
  return out;
}

function unauthenticated(detail: string): TrellisError {
  return new TrellisError('TRELLIS_ERR_UNAUTHENTICATED', detail);
}

/**
 * The principal behind a request's headers; undefined when it carries no credentials. Throws
 * TRELLIS_ERR_UNAUTHENTICATED when it carries ones that are not (or no longer) valid.
 */
export async function authenticate(
  deps: AuthDeps,
  headers: IncomingHttpHeaders,
): Promise<Principal | undefined> {
  const authorization = headers.authorization;
  if (authorization !== undefined) {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    if (!match) throw unauthenticated('the Authorization header must be "Bearer <token>"');
    const token = match[1] as string;
    if (deps.adminToken !== undefined && sameSecret(token, deps.adminToken)) {
      return {
        kind: 'token',
        role: 'admin',
        username: null,
        userId: null,
        tokenName: ADMIN_TOKEN_NAME,
        tokenId: null,
        csrfToken: null,
        sessionHash: null,
      };
    }
    const row = await findApiToken(deps, token);
    if (!row) throw unauthenticated('the bearer token is unknown, expired or revoked');
    const role = await tokenRole(deps, row);
    if (!role) throw unauthenticated('the bearer token was made by a user or token that no longer exists');
    return {
      kind: 'token',
      role,
      username: null,
      userId: null,
      tokenName: row.name,
      tokenId: row.id,
      csrfToken: null,
      sessionHash: null,
    };
  }
  const sessionId = parseCookies(headers.cookie).get(SESSION_COOKIE);
  if (sessionId) {
    const session = await findSession(deps, sessionId);
    if (!session) throw unauthenticated('the session has expired or was ended; sign in again');
    return {
      kind: 'session',
      role: session.user.role as Role,
      username: session.user.username,
      userId: session.user.id,
      tokenName: null,
      tokenId: null,
      csrfToken: session.csrfToken,
      sessionHash: secretHash(sessionId),
    };
  }
  return undefined;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Refuses a cookie-authenticated write without the session's CSRF token. */
export function checkCsrf(principal: Principal, method: string, headers: IncomingHttpHeaders): void {
  if (principal.kind !== 'session' || SAFE_METHODS.has(method)) return;
  const offered = headers[CSRF_HEADER];
  if (typeof offered !== 'string' || !sameSecret(offered, principal.csrfToken ?? '')) {
    throw new TrellisError(
      'TRELLIS_ERR_CSRF',
      `a write signed in with a session cookie must carry the ${CSRF_HEADER} header (the csrfToken from login or GET /api/v1/auth/me)`,
    );
  }
}

/** Refuses a principal below `needed`; `what` says what needs it (default: the request). */
export function checkRole(principal: Principal, needed: Role, what = 'this'): void {
  if (!roleAtLeast(principal.role, needed)) {
    throw new TrellisError(
      'TRELLIS_ERR_FORBIDDEN',
      `${what} needs the ${needed} role (or higher); ${principal.kind === 'session' ? `user "${principal.username}"` : `token "${principal.tokenName}"`} has ${principal.role}`,
    );
  }
}

/**
 * For the WebSocket feeds: the principal of an upgrade request, or why it is refused. A session's upgrade must come
 * from a page of the console: its Origin the host it addressed, or one of `consoleOrigins`.
 */
export async function authenticateUpgrade(
  deps: AuthDeps,
  headers: IncomingHttpHeaders,
  needed: Role,
  consoleOrigins: readonly string[] = [],
): Promise<{ ok: true; principal: Principal } | { ok: false; error: TrellisError }> {
  try {
    const principal = await authenticate(deps, headers);
    if (!principal) return { ok: false, error: unauthenticated('credentials are required') };
    if (principal.kind === 'session' && !pageMayUseSession(headers, consoleOrigins)) {
      const origin = headers.origin === undefined ? 'no Origin' : `Origin ${headers.origin}`;
      const error = new TrellisError(
        'TRELLIS_ERR_BAD_ORIGIN',
        `a WebSocket signed in with the session cookie must come from a page of the console; this one has ${origin}`,
      );
      return { ok: false, error };
    }
    checkRole(principal, needed);
    return { ok: true, principal };
  } catch (error) {
    if (error instanceof TrellisError) return { ok: false, error };
    const unavailable = 'could not check the credentials; retry shortly';
    return { ok: false, error: new TrellisError('TRELLIS_ERR_DATABASE_UNAVAILABLE', unavailable) };
  }
}

/** A route as registered, with the access it needs (undefined: none declared, so denied). */
export interface RegisteredRoute {
  method: string;
  url: string;
  access: RouteAccess | undefined;
}

/**
 * Installs the checks on `app`: must run before any route is registered. Returns the list of routes as they are
 * registered, with their access, for the test that every route declares one.
 */
const REGISTERED = new WeakMap<FastifyInstance, RegisteredRoute[]>();

/** The routes registered on an app built with installGuard, with the access each needs. */
export function registeredRoutes(app: FastifyInstance): readonly RegisteredRoute[] {
  return REGISTERED.get(app) ?? [];
}

export function installGuard(app: FastifyInstance, deps: AuthDeps): RegisteredRoute[] {
  const routes: RegisteredRoute[] = [];
  REGISTERED.set(app, routes);
  const access = new Map<string, RouteAccess | undefined>();
  app.decorateRequest('principal', null);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      const needed = routeAccess(method, route.url, route.config);
      routes.push({ method, url: route.url, access: needed });
      access.set(`${method} ${route.url}`, needed);
    }
  });
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const { url } = request.routeOptions;
    // No route matched: the 404 handler answers, but only to a caller who may read the API.
    const needed = url === undefined ? 'viewer' : access.get(`${request.method} ${url}`);
    if (needed === 'public') return;
    const principal = await authenticate(deps, request.headers);
    if (!principal) throw unauthenticated('this needs credentials: a bearer token or a console session');
    request.principal = principal;
    checkCsrf(principal, request.method, request.headers);
    if (needed === undefined) {
      throw new TrellisError(
        'TRELLIS_ERR_FORBIDDEN',
        `the route ${request.method} ${url} declares no role, so it is refused to everyone`,
      );
    }
    checkRole(principal, needed);
  });
  return routes;
}

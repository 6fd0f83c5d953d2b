/**
 * Login, logout, the caller's identity and changing one's own password. A login answers with a session cookie
 * (httpOnly, SameSite=Strict, Secure over TLS) and the session's CSRF token; wrong credentials get one answer
 * whether or not the user exists, after the same work, and repeated failures for one username or one address are
 * refused for a while (see auth/rate-limit.ts). Every login, refused or not, every logout and every password change
 * goes to the security log, with the address it came from.
 */
import { rm } from 'node:fs/promises';
import {
  API_PREFIX,
  LoginRequest,
  type LoginResponse,
  type Me,
  PasswordChange,
  type Role,
  SESSION_COOKIE,
} from '@trellis/schema';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type AuthDeps, actorName, type Principal } from '../../auth/guard.ts';
import type { LoginLimiter } from '../../auth/rate-limit.ts';
import { dummyPasswordHash, verifyPassword } from '../../auth/secrets.ts';
import {
  createSession,
  deleteSession,
  findUser,
  SESSION_TTL_MS,
  setOwnPassword,
  userActor,
} from '../../auth/store.ts';
import { parseWith, TrellisError } from '../../errors.ts';
import type { SecurityEventInput, SecurityLog } from '../../store/security-events.ts';

export interface AuthRouteDeps extends AuthDeps {
  limiter: LoginLimiter;
  /** Where the generated first-run password of `admin` was written; removed once admin sets a new one. */
  initialPasswordFile?: string | undefined;
  security: SecurityLog;
}

/**
 * Writes a security event about what `request` did: by its caller, from its address, done unless told otherwise.
 * Awaited by the routes, so that the event is in the log before the answer is sent; it never fails the request.
 */
export function audit(
  deps: AuthRouteDeps,
  request: FastifyRequest,
  event: Omit<SecurityEventInput, 'actor' | 'remote' | 'outcome'> & Partial<SecurityEventInput>,
): Promise<void> {
  return deps.security({
    actor: actorName(request.principal),
    remote: request.ip,
    outcome: 'allowed',
    ...event,
  });
}

/** A rate-limited answer: 429 with Retry-After. */
export class RateLimitedError extends TrellisError {
  constructor(readonly retryAfterSeconds: number) {
    super('TRELLIS_ERR_RATE_LIMITED', `too many failed logins; retry in ${retryAfterSeconds} s`);
  }
}

function secure(request: FastifyRequest): boolean {
  const forwarded = request.headers['x-forwarded-proto'];
  const proto = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim().toLowerCase();
  return proto === 'https' || request.protocol === 'https';
}

function sessionCookie(request: FastifyRequest, value: string, maxAgeSeconds: number): string {
  return [
    `${SESSION_COOKIE}=${value}`,
    'HttpOnly',
    'SameSite=Strict',
    'Path=/',
    `Max-Age=${maxAgeSeconds}`,
    ...(secure(request) ? ['Secure'] : []),
  ].join('; ');
}

export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new TrellisError('TRELLIS_ERR_UNAUTHENTICATED', 'this needs credentials');
  return request.principal;
}

/** Removes the first-run password file once user `admin` has a password of their own. */
export async function forgetInitialPassword(deps: AuthRouteDeps, username: string): Promise<void> {
  if (username === 'admin' && deps.initialPasswordFile) await rm(deps.initialPasswordFile, { force: true });
}

export function registerAuthRoutes(app: FastifyInstance, deps: AuthRouteDeps) {
  const P = `${API_PREFIX}/auth`;

  app.post(`${P}/login`, async (request, reply: FastifyReply): Promise<LoginResponse> => {
    const { username, password } = parseWith(LoginRequest, request.body ?? {});
    const keys = [`user:${username.toLowerCase()}`, `ip:${request.ip}`];
    // The attempt is counted from here, before the hash below gives way to other logins.
    const attempt = deps.limiter.begin(keys);
    const refused = (reason: string) =>
      audit(deps, request, {
        action: 'login.failure',
        subject: username,
        outcome: 'refused',
        detail: { reason },
      });
    if ('retryAfterSeconds' in attempt) {
      await refused('rate limited');
      reply.header('retry-after', String(attempt.retryAfterSeconds));
      throw new RateLimitedError(attempt.retryAfterSeconds);
    }
    let user: Awaited<ReturnType<typeof findUser>>;
    try {
      user = await findUser(deps, username);
      const ok = await verifyPassword(password, user?.passwordHash ?? (await dummyPasswordHash()));
      if (!user || !ok) {
        attempt.failed();
        await refused('wrong username or password');
        throw new TrellisError('TRELLIS_ERR_UNAUTHENTICATED', 'wrong username or password');
      }
      attempt.succeeded();
    } finally {
      attempt.release();
    }
    const session = await createSession(deps, user.id);
    await audit(deps, request, {
      actor: userActor(user.username),
      action: 'login.success',
      subject: user.username,
    });
    reply.header('set-cookie', sessionCookie(request, session.id, Math.floor(SESSION_TTL_MS / 1000)));
    reply.header('cache-control', 'no-store');
    return {
      user: { username: user.username, role: user.role as Role },
      csrfToken: session.csrfToken,
      expiresAt: session.expiresAt.toISOString(),
    };
  });

  app.post(`${P}/logout`, async (request, reply) => {
    const principal = principalOf(request);
    if (principal.sessionHash && principal.username) {
      await deleteSession(deps, principal.sessionHash);
      await audit(deps, request, { action: 'logout', subject: principal.username });
    }
    reply.header('set-cookie', sessionCookie(request, '', 0));
    reply.code(204);
  });

  app.get(`${P}/me`, async (request, reply): Promise<Me> => {
    const p = principalOf(request);
    reply.header('cache-control', 'no-store');
    return {
      kind: p.kind,
      username: p.username,
      role: p.role,
      csrfToken: p.csrfToken,
      tokenName: p.tokenName,
    };
  });

  app.post(`${P}/password`, async (request, reply) => {
    const principal = principalOf(request);
    const change = parseWith(PasswordChange, request.body ?? {});
    if (principal.kind !== 'session' || !principal.userId || !principal.sessionHash || !principal.username) {
      throw new TrellisError(
        'TRELLIS_ERR_FORBIDDEN',
        'only a signed-in user changes their own password; an admin sets others with PUT /api/v1/users/:username',
      );
    }
    const user = await findUser(deps, principal.username);
    if (!user || !(await verifyPassword(change.currentPassword, user.passwordHash))) {
      throw new TrellisError('TRELLIS_ERR_VALIDATION', 'currentPassword: is not the current password', {
        errors: [{ path: 'currentPassword', message: 'is not the current password' }],
      });
    }
    await setOwnPassword(deps, principal.userId, change.newPassword, principal.sessionHash);
    await audit(deps, request, { action: 'password.change', subject: principal.username });
    await forgetInitialPassword(deps, principal.username);
    reply.code(204);
  });
}

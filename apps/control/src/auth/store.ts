/**
 * Users, sessions, API tokens and join tokens in Postgres. Every secret is stored as its SHA-256 only (see
 * secrets.ts); what a caller is allowed is read from the rows on every request, so a demotion, a revocation or a
 * deletion takes effect at once. That holds for API tokens too: a token may do no more than whoever made it may
 * do now (see tokenRole), and deleting a user revokes the tokens the user made.
 */
import {
  API_TOKEN_PREFIX,
  type ApiToken,
  type ApiTokenCreate,
  type ApiTokenCreated,
  type JoinToken,
  type JoinTokenCreate,
  type JoinTokenCreated,
  type Page,
  type PageQuery,
  type Role,
  roleAtLeast,
  type User,
  type UserCreate,
  type UserUpdate,
} from '@trellis/schema';
import type { Db } from '../db/client.ts';
import { TrellisError } from '../errors.ts';
import { decodeCursor, paginate } from '../store/paging.ts';
import { hashPassword, newSecret, secretHash } from './secrets.ts';

/** Sessions last this long from login (a fixed expiry: activity does not extend it). */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
export const JOIN_TOKEN_PREFIX = 'trellis_join_';
const DAY_MS = 86_400_000;
/** lastUsedAt is written at most this often per token, not on every request. */
const LAST_USED_GRANULARITY_MS = 60_000;

export interface AuthStoreDeps {
  db: Db;
  clock: () => Date;
  newId: () => string;
}

type UserRow = { username: string; role: string; createdAt: Date };

function userOf(row: UserRow): User {
  return { username: row.username, role: row.role as Role, createdAt: row.createdAt.toISOString() };
}

function userNotFound(username: string): TrellisError {
  return new TrellisError('TRELLIS_ERR_NOT_FOUND', `user ${JSON.stringify(username)} does not exist`);
}

const iso = (d: Date | null) => (d === null ? null : d.toISOString());

// --- users ---

export async function listUsers(deps: AuthStoreDeps, query: PageQuery): Promise<Page<User>> {
  const after = decodeCursor(query.cursor, 'string');
  const rows = await deps.db.user.findMany({
    where: after === undefined ? {} : { username: { gt: after } },
    orderBy: { username: 'asc' },
    take: query.limit + 1,
  });
  return paginate(rows.map(userOf), query.limit, (u) => u.username);
}

export async function findUser(deps: AuthStoreDeps, username: string) {
  return deps.db.user.findUnique({ where: { username } });
}

export async function createUser(deps: AuthStoreDeps, spec: UserCreate): Promise<User> {
  const passwordHash = await hashPassword(spec.password);
  const now = deps.clock();
  const created = await deps.db.user.createManyAndReturn({
    data: [
      {
        id: deps.newId(),
        username: spec.username,
        role: spec.role,
        passwordHash,
        createdAt: now,
        updatedAt: now,
      },
    ],
    skipDuplicates: true,
  });
  const row = created[0];
  if (!row) {
    throw new TrellisError('TRELLIS_ERR_ALREADY_EXISTS', `user "${spec.username}" already exists`, {
      errors: [{ path: 'username', message: 'is already taken' }],
    });
  }
  return userOf(row);
}

/**
 * Runs `work` with every admin row locked, after checking that the change leaves at least one admin: two
 * concurrent demotions of the last two admins cannot both pass.
 */
async function keepingAnAdmin<T>(
  deps: AuthStoreDeps,
  username: string,
  staysAdmin: boolean,
  work: (tx: Parameters<Parameters<Db['$transaction']>[0]>[0], before: { role: string }) => Promise<T>,
): Promise<T> {
  return deps.db.$transaction(async (tx) => {
    const admins = await tx.$queryRaw<{ username: string }[]>`
      SELECT "username" FROM "User" WHERE "role" = 'admin' FOR UPDATE`;
    const row = await tx.user.findUnique({ where: { username } });
    if (!row) throw userNotFound(username);
    if (row.role === 'admin' && !staysAdmin && admins.every((a) => a.username === username)) {
      throw new TrellisError(
        'TRELLIS_ERR_CONFLICT',
        `user "${username}" is the last admin; make another user admin first`,
      );
    }
    return work(tx, row);
  });
}

export async function updateUser(
  deps: AuthStoreDeps,
  username: string,
  update: UserUpdate,
): Promise<{ user: User; passwordChanged: boolean; previousRole: Role }> {
  const passwordHash = update.password === undefined ? undefined : await hashPassword(update.password);
  const staysAdmin = update.role === undefined || update.role === 'admin';
  return keepingAnAdmin(deps, username, staysAdmin, async (tx, before) => {
    const row = await tx.user.update({
      where: { username },
      data: {
        ...(update.role === undefined ? {} : { role: update.role }),
        ...(passwordHash === undefined ? {} : { passwordHash }),
        updatedAt: deps.clock(),
      },
    });
    // A new password set by an admin signs the user out everywhere.
    if (passwordHash !== undefined) await tx.session.deleteMany({ where: { userId: row.id } });
    return {
      user: userOf(row),
      passwordChanged: passwordHash !== undefined,
      previousRole: before.role as Role,
    };
  });
}

/**
 * Deletes a user (their sessions go with the row) and revokes the API tokens they made; answers the role they had
 * and how many tokens were revoked.
 */
export async function deleteUser(
  deps: AuthStoreDeps,
  username: string,
): Promise<{ role: Role; tokensRevoked: number }> {
  return keepingAnAdmin(deps, username, false, async (tx, before) => {
    await tx.user.delete({ where: { username } });
    const revoked = await tx.apiToken.updateMany({
      where: { createdBy: userActor(username), revokedAt: null },
      data: { revokedAt: deps.clock() },
    });
    return { role: before.role as Role, tokensRevoked: revoked.count };
  });
}

/** Sets a user's own new password and ends their other sessions. */
export async function setOwnPassword(
  deps: AuthStoreDeps,
  userId: string,
  password: string,
  keepSessionHash: string,
): Promise<void> {
  const passwordHash = await hashPassword(password);
  await deps.db.$transaction([
    deps.db.user.update({ where: { id: userId }, data: { passwordHash, updatedAt: deps.clock() } }),
    deps.db.session.deleteMany({ where: { userId, idHash: { not: keepSessionHash } } }),
  ]);
}

/**
 * Creates the user `admin` when there is no user at all (the first start). Returns whether it did: with several
 * replicas starting together only one creates it.
 */
export async function ensureFirstAdmin(deps: AuthStoreDeps, password: string): Promise<boolean> {
  if ((await deps.db.user.count()) > 0) return false;
  const passwordHash = await hashPassword(password);
  const now = deps.clock();
  const inserted = await deps.db.$executeRaw`
    INSERT INTO "User" ("id", "username", "role", "passwordHash", "createdAt", "updatedAt")
    SELECT ${deps.newId()}::uuid, 'admin', 'admin', ${passwordHash}, ${now}, ${now}
    WHERE NOT EXISTS (SELECT 1 FROM "User")
    ON CONFLICT ("username") DO NOTHING`;
  return inserted > 0;
}

// --- sessions ---

export async function createSession(deps: AuthStoreDeps, userId: string) {
  const id = newSecret();
  const csrfToken = newSecret();
  const now = deps.clock();
  const expiresAt = new Date(now.getTime() + SESSION_TTL_MS);
  await deps.db.session.deleteMany({ where: { expiresAt: { lte: now } } });
  await deps.db.session.create({
    data: { idHash: secretHash(id), userId, csrfToken, createdAt: now, expiresAt },
  });
  return { id, csrfToken, expiresAt };
}

export async function findSession(deps: AuthStoreDeps, id: string) {
  const session = await deps.db.session.findUnique({
    where: { idHash: secretHash(id) },
    include: { user: true },
  });
  if (!session || session.expiresAt <= deps.clock()) return undefined;
  return session;
}

export async function deleteSession(deps: AuthStoreDeps, idHash: string): Promise<void> {
  await deps.db.session.deleteMany({ where: { idHash } });
}

// --- API tokens ---

type ApiTokenRow = {
  id: string;
  name: string;
  role: string;
  createdBy: string;
  creatorTokenId: string | null;
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
};

function apiTokenOf(row: ApiTokenRow): ApiToken {
  return {
    id: row.id,
    name: row.name,
    role: row.role as Role,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    expiresAt: iso(row.expiresAt),
    lastUsedAt: iso(row.lastUsedAt),
    revokedAt: iso(row.revokedAt),
  };
}

export async function listApiTokens(deps: AuthStoreDeps): Promise<{ items: ApiToken[] }> {
  const rows = await deps.db.apiToken.findMany({ orderBy: [{ createdAt: 'desc' }, { id: 'asc' }] });
  return { items: rows.map(apiTokenOf) };
}

/** Creates a token; `creatorTokenId` is the id of the API token making it, if one is. */
export async function createApiToken(
  deps: AuthStoreDeps,
  actor: string,
  spec: ApiTokenCreate,
  creatorTokenId: string | null = null,
): Promise<ApiTokenCreated> {
  const token = newSecret(API_TOKEN_PREFIX);
  const now = deps.clock();
  const row = await deps.db.apiToken.create({
    data: {
      id: deps.newId(),
      name: spec.name,
      role: spec.role,
      tokenHash: secretHash(token),
      createdBy: actor,
      creatorTokenId,
      createdAt: now,
      expiresAt:
        spec.expiresInDays === undefined ? null : new Date(now.getTime() + spec.expiresInDays * DAY_MS),
    },
  });
  return { ...apiTokenOf(row), token };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Revokes a token (again is no error); answers its name and whether this revoked it. */
export async function revokeApiToken(
  deps: AuthStoreDeps,
  id: string,
): Promise<{ name: string; revoked: boolean }> {
  const row = UUID.test(id) ? await deps.db.apiToken.findUnique({ where: { id } }) : null;
  if (!row) throw new TrellisError('TRELLIS_ERR_NOT_FOUND', `token ${JSON.stringify(id)} does not exist`);
  const done = await deps.db.apiToken.updateMany({
    where: { id, revokedAt: null },
    data: { revokedAt: deps.clock() },
  });
  return { name: row.name, revoked: done.count > 0 };
}

const live = (row: ApiTokenRow, now: Date) =>
  row.revokedAt === null && (row.expiresAt === null || row.expiresAt > now);

/** The live token with this secret (not revoked, not expired), or undefined. Records its use. */
export async function findApiToken(deps: AuthStoreDeps, token: string) {
  const row = await deps.db.apiToken.findUnique({ where: { tokenHash: secretHash(token) } });
  const now = deps.clock();
  if (!row || !live(row, now)) return undefined;
  if (row.lastUsedAt === null || now.getTime() - row.lastUsedAt.getTime() >= LAST_USED_GRANULARITY_MS) {
    await deps.db.apiToken.update({ where: { id: row.id }, data: { lastUsedAt: now } });
  }
  return row;
}

/** The audit actor of a user, as API tokens record their maker. */
export const userActor = (username: string) => `user:${username}`;
/** The audit actor of the static admin token (TRELLIS_ADMIN_TOKEN). */
export const ADMIN_TOKEN_ACTOR = 'token:TRELLIS_ADMIN_TOKEN';
/** Longer chains of tokens made by tokens are refused rather than followed. */
const MAX_TOKEN_CHAIN = 16;

const lower = (a: Role, b: Role): Role => (roleAtLeast(a, b) ? b : a);

/**
 * What a live token may do now: the lower of its own role and its maker's current one. Its maker is the user who
 * made it, the API token that made it (whose own maker bounds it in turn, so revoking that token ends it too), or
 * the static admin token, which is admin. Undefined when the maker is gone or cannot be told: the token is dead.
 */
export async function tokenRole(deps: AuthStoreDeps, token: ApiTokenRow): Promise<Role | undefined> {
  const now = deps.clock();
  let role = token.role as Role;
  let made = token;
  for (let hop = 0; hop < MAX_TOKEN_CHAIN; hop++) {
    if (made.creatorTokenId !== null) {
      const maker = await deps.db.apiToken.findUnique({ where: { id: made.creatorTokenId } });
      if (!maker || !live(maker, now)) return undefined;
      role = lower(role, maker.role as Role);
      made = maker;
      continue;
    }
    if (made.createdBy === ADMIN_TOKEN_ACTOR) return role;
    if (!made.createdBy.startsWith('user:')) return undefined;
    const user = await deps.db.user.findUnique({ where: { username: made.createdBy.slice('user:'.length) } });
    return user ? lower(role, user.role as Role) : undefined;
  }
  return undefined;
}

// --- join tokens ---

type JoinTokenRow = {
  id: string;
  service: string;
  createdBy: string;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
};

function joinTokenOf(row: JoinTokenRow): JoinToken {
  return {
    id: row.id,
    service: row.service,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    expiresAt: iso(row.expiresAt),
    revokedAt: iso(row.revokedAt),
  };
}

export async function listJoinTokens(deps: AuthStoreDeps): Promise<{ items: JoinToken[] }> {
  const rows = await deps.db.joinToken.findMany({ orderBy: [{ createdAt: 'desc' }, { id: 'asc' }] });
  return { items: rows.map(joinTokenOf) };
}

export async function createJoinToken(
  deps: AuthStoreDeps,
  actor: string,
  spec: JoinTokenCreate,
): Promise<JoinTokenCreated> {
  if (!(await deps.db.service.findUnique({ where: { name: spec.service } }))) {
    throw new TrellisError('TRELLIS_ERR_UNKNOWN_REFERENCE', `service: "${spec.service}" does not exist`, {
      errors: [{ path: 'service', message: `service "${spec.service}" does not exist` }],
    });
  }
  const token = newSecret(JOIN_TOKEN_PREFIX);
  const now = deps.clock();
  const row = await deps.db.joinToken.create({
    data: {
      id: deps.newId(),
      service: spec.service,
      tokenHash: secretHash(token),
      createdBy: actor,
      createdAt: now,
      expiresAt:
        spec.expiresInDays === undefined ? null : new Date(now.getTime() + spec.expiresInDays * DAY_MS),
    },
  });
  return { ...joinTokenOf(row), token };
}

/** Revokes a join token (again is no error); answers its service and whether this revoked it. */
export async function revokeJoinToken(
  deps: AuthStoreDeps,
  id: string,
): Promise<{ service: string; revoked: boolean }> {
  const row = UUID.test(id) ? await deps.db.joinToken.findUnique({ where: { id } }) : null;
  if (!row)
    throw new TrellisError('TRELLIS_ERR_NOT_FOUND', `join token ${JSON.stringify(id)} does not exist`);
  const done = await deps.db.joinToken.updateMany({
    where: { id, revokedAt: null },
    data: { revokedAt: deps.clock() },
  });
  return { service: row.service, revoked: done.count > 0 };
}

/** A live join token (not revoked, not expired): its id and the one service it admits; else undefined. */
export async function findJoinToken(
  deps: AuthStoreDeps,
  token: string,
): Promise<{ id: string; service: string } | undefined> {
  if (!token.startsWith(JOIN_TOKEN_PREFIX)) return undefined;
  const row = await deps.db.joinToken.findUnique({ where: { tokenHash: secretHash(token) } });
  if (!row || row.revokedAt !== null || (row.expiresAt !== null && row.expiresAt <= deps.clock())) {
    return undefined;
  }
  return { id: row.id, service: row.service };
}

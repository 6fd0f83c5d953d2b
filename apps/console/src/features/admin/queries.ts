/**
 * The admin's reads and changes: users (`/api/v1/users`), API tokens (`/api/v1/tokens`) and proxy join tokens
 * (`/api/v1/join-tokens`). A created token's secret is in the create's answer only; it is never cached.
 */
import { useQuery, useQueryClient } from '@tanstack/react-query';
import {
  ApiToken,
  type ApiTokenCreate,
  ApiTokenCreated,
  JoinToken,
  type JoinTokenCreate,
  JoinTokenCreated,
  User,
  type UserCreate,
  type UserUpdate,
} from '@trellis/schema';
import { z } from 'zod';
import { getAllPages, send } from '../../lib/api';

export const adminKeys = {
  all: ['admin'] as const,
  users: () => [...adminKeys.all, 'users'] as const,
  tokens: () => [...adminKeys.all, 'tokens'] as const,
  joinTokens: () => [...adminKeys.all, 'join-tokens'] as const,
};

const enc = encodeURIComponent;

export function useUsers() {
  return useQuery({
    queryKey: adminKeys.users(),
    queryFn: ({ signal }) => getAllPages('/api/v1/users', User, signal),
  });
}

export function useTokens() {
  return useQuery({
    queryKey: adminKeys.tokens(),
    queryFn: ({ signal }) => getAllPages('/api/v1/tokens', ApiToken, signal),
  });
}

export function useJoinTokens() {
  return useQuery({
    queryKey: adminKeys.joinTokens(),
    queryFn: ({ signal }) => getAllPages('/api/v1/join-tokens', JoinToken, signal),
  });
}

/** Each change re-reads its list afterwards. */
export function useAdminChanges() {
  const client = useQueryClient();
  const after = async <T>(key: readonly string[], change: Promise<{ value: T }>) => {
    const { value } = await change;
    await client.invalidateQueries({ queryKey: key });
    return value;
  };
  return {
    createUser: (body: UserCreate) => after(adminKeys.users(), send('POST', '/api/v1/users', body, User)),
    updateUser: (username: string, body: UserUpdate) =>
      after(adminKeys.users(), send('PUT', `/api/v1/users/${enc(username)}`, body, User)),
    deleteUser: (username: string) =>
      after(adminKeys.users(), send('DELETE', `/api/v1/users/${enc(username)}`, undefined, z.unknown())),
    createToken: (body: ApiTokenCreate) =>
      after(adminKeys.tokens(), send('POST', '/api/v1/tokens', body, ApiTokenCreated)),
    revokeToken: (id: string) =>
      after(adminKeys.tokens(), send('DELETE', `/api/v1/tokens/${enc(id)}`, undefined, z.unknown())),
    createJoinToken: (body: JoinTokenCreate) =>
      after(adminKeys.joinTokens(), send('POST', '/api/v1/join-tokens', body, JoinTokenCreated)),
    revokeJoinToken: (id: string) =>
      after(adminKeys.joinTokens(), send('DELETE', `/api/v1/join-tokens/${enc(id)}`, undefined, z.unknown())),
  };
}

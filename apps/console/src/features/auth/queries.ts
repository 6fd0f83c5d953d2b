/**
 * The session: who is signed in (`GET /api/v1/auth/me`, whose CSRF token the API client keeps for the changes), the
 * login, the logout and the password change. The login and the logout start the cache afresh: nothing read under
 * one identity is shown to the next.
 */
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { type LoginRequest, LoginResponse, Me, type PasswordChange } from '@trellis/schema';
import { z } from 'zod';
import { getJson, send, setCsrfToken } from '../../lib/api';

export const authKeys = {
  all: ['auth'] as const,
  me: () => [...authKeys.all, 'me'] as const,
};

/** The signed-in caller; disabled on the login page, where there is none yet. */
export function useMe(enabled: boolean) {
  return useQuery({
    queryKey: authKeys.me(),
    queryFn: async ({ signal }) => {
      const me = await getJson('/api/v1/auth/me', Me, signal);
      setCsrfToken(me.csrfToken);
      return me;
    },
    enabled,
    staleTime: 60_000,
    // Unreadable (the control plane down at load): asked again until it answers, so the page comes to life.
    refetchInterval: (query) => (query.state.status === 'error' ? 5000 : false),
    retry: (count, error) => {
      const status = (error as { status?: number }).status;
      return status !== 401 && status !== 403 && count < 2;
    },
  });
}

/** The identity a login's answer describes, as `GET /auth/me` would. */
export function meOf(login: LoginResponse): Me {
  return {
    kind: 'session',
    username: login.user.username,
    role: login.user.role,
    csrfToken: login.csrfToken,
    tokenName: null,
  };
}

export async function login(body: LoginRequest, fetchImpl: typeof fetch = fetch): Promise<Me> {
  const { value } = await send('POST', '/api/v1/auth/login', body, LoginResponse, fetchImpl);
  setCsrfToken(value.csrfToken);
  return meOf(value);
}

export async function logout(fetchImpl: typeof fetch = fetch): Promise<void> {
  try {
    await send('POST', '/api/v1/auth/logout', undefined, z.unknown(), fetchImpl);
  } finally {
    setCsrfToken(undefined);
  }
}

export async function changePassword(body: PasswordChange, fetchImpl: typeof fetch = fetch): Promise<void> {
  await send('POST', '/api/v1/auth/password', body, z.unknown(), fetchImpl);
}

/** After a login: the cache of the previous identity dropped, the new one's `me` in place. */
export function useSessionStart() {
  const client = useQueryClient();
  return (me: Me) => {
    client.clear();
    client.setQueryData(authKeys.me(), me);
  };
}

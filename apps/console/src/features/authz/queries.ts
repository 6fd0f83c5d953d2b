/**
 * Reads and changes of authorization policies (`/api/v1/authorization-policies`): the list, one policy as stored
 * (held while its form is open, as rules are), and create, replace and delete with the version read.
 */
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { AuthorizationPolicy, type AuthorizationPolicySpec } from '@trellis/schema';
import { z } from 'zod';
import { getAllPages, getJson, sendJson } from '../../lib/api';
import { HOLD_WHILE_EDITING } from '../../lib/events';
import { proxiesKeys } from '../proxies/queries';
import { topologyKeys } from '../topology/queries';

export const authzKeys = {
  all: ['authorization-policies'] as const,
  list: () => [...authzKeys.all, 'list'] as const,
  detail: (name: string) => [...authzKeys.all, 'detail', name] as const,
};

const PATH = '/api/v1/authorization-policies';
const enc = encodeURIComponent;

export function useAuthorizationPolicies() {
  return useQuery({
    queryKey: authzKeys.list(),
    queryFn: ({ signal }) => getAllPages(PATH, AuthorizationPolicy, signal),
  });
}

export function useAuthorizationPolicy(name: string) {
  return useQuery({
    queryKey: authzKeys.detail(name),
    queryFn: ({ signal }) => getJson(`${PATH}/${enc(name)}`, AuthorizationPolicy, signal),
    retry: (count, error) => (error as { status?: number }).status !== 404 && count < 1,
    staleTime: Number.POSITIVE_INFINITY,
    gcTime: 0,
    refetchOnWindowFocus: false,
    meta: HOLD_WHILE_EDITING,
  });
}

export function useAuthorizationChanges() {
  const client = useQueryClient();
  const settle = () =>
    Promise.all([
      client.invalidateQueries({ queryKey: authzKeys.list() }),
      client.invalidateQueries({ queryKey: proxiesKeys.all }),
      client.invalidateQueries({ queryKey: topologyKeys.live() }),
    ]);
  const stored = async (change: Promise<{ value: AuthorizationPolicy; revision: number }>) => {
    const result = await change;
    client.setQueryData(authzKeys.detail(result.value.name), result.value);
    await settle();
    return result;
  };
  return {
    create: (body: AuthorizationPolicySpec) => stored(sendJson('POST', PATH, body, AuthorizationPolicy)),
    replace: (body: AuthorizationPolicySpec & { version: number }) =>
      stored(sendJson('PUT', `${PATH}/${enc(body.name)}`, body, AuthorizationPolicy)),
    remove: async (policy: AuthorizationPolicy) => {
      const { revision } = await sendJson(
        'DELETE',
        `${PATH}/${enc(policy.name)}?version=${policy.version}`,
        undefined,
        z.undefined(),
      );
      await settle();
      return { revision };
    },
  };
}

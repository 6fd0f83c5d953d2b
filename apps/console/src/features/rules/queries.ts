/**
 * The changes a rule form sends (create, replace, delete of `/api/v1/routes` or `/api/v1/policies`) and what they
 * invalidate afterwards: the rule's own key, its service's lists, the proxies (about to ACK the new revision) and
 * the live topology. Each feature passes its own query keys.
 */
import { type QueryKey, useQueryClient } from '@tanstack/react-query';
import { z } from 'zod';
import { sendJson } from '../../lib/api';
import { proxiesKeys } from '../proxies/queries';
import { servicesKeys } from '../services/queries';
import { topologyKeys } from '../topology/queries';

const enc = encodeURIComponent;

/** The stored rule: a replace must carry the version it was read at. */
interface Stored {
  name: string;
  service: string;
  version: number;
}

export function useRuleChanges<S extends z.ZodType<Stored>>(
  collection: 'routes' | 'policies',
  schema: S,
  detailKey: (name: string) => QueryKey,
) {
  const client = useQueryClient();
  const settle = async (service: string) => {
    await Promise.all([
      client.invalidateQueries({ queryKey: servicesKeys.detail(service) }),
      client.invalidateQueries({ queryKey: proxiesKeys.all }),
      client.invalidateQueries({ queryKey: topologyKeys.live() }),
    ]);
  };
  const stored = async (change: Promise<{ value: z.infer<S>; revision: number }>) => {
    const result = await change;
    client.setQueryData(detailKey(result.value.name), result.value);
    await settle(result.value.service);
    return result;
  };
  return {
    create: (body: { name: string }) => stored(sendJson('POST', `/api/v1/${collection}`, body, schema)),
    replace: (body: { name: string }) =>
      stored(sendJson('PUT', `/api/v1/${collection}/${enc(body.name)}`, body, schema)),
    /**
     * DELETE with the version the form loaded, so a rule changed meanwhile is not deleted unseen. The rule's own
     * key is left as it is: the page shows it deleted, and a refetch would only get a 404.
     */
    remove: async (rule: Stored) => {
      const { revision } = await sendJson(
        'DELETE',
        `/api/v1/${collection}/${enc(rule.name)}?version=${rule.version}`,
        undefined,
        z.undefined(),
      );
      await settle(rule.service);
      return { revision };
    },
  };
}

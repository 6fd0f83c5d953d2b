/**
 * The mesh settings (`/api/v1/mesh/settings`): read by every role, replaced by an admin with the version read. A
 * change is a config revision, so the event feed refreshes this query like every other config read.
 */
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { MeshSettings, type MeshSettingsReplace } from '@trellis/schema';
import { getJson, putJson } from '../../lib/api';
import { proxiesKeys } from '../proxies/queries';
import { topologyKeys } from '../topology/queries';

const PATH = '/api/v1/mesh/settings';

export const settingsKeys = {
  all: ['settings'] as const,
  mesh: () => [...settingsKeys.all, 'mesh'] as const,
};

export function useMeshSettings() {
  return useQuery({
    queryKey: settingsKeys.mesh(),
    queryFn: ({ signal }) => getJson(PATH, MeshSettings, signal),
  });
}

/** Replaces the settings; the stored ones go to the cache, and the proxies and live topology are read again. */
export function useMeshSettingsChange() {
  const client = useQueryClient();
  return async (body: MeshSettingsReplace) => {
    const result = await putJson(PATH, body, MeshSettings);
    client.setQueryData(settingsKeys.mesh(), result.value);
    await Promise.all([
      client.invalidateQueries({ queryKey: proxiesKeys.all }),
      client.invalidateQueries({ queryKey: topologyKeys.live() }),
    ]);
    return result;
  };
}

/**
 * Reads and the one write of the history page: the revision list (newest first, a page at a time), one revision
 * with its configuration, the configuration in force now (the latest config revision) with the mesh's newest
 * revision, and the rollback.
 */
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { pageOf, Revision, RevisionSummary, RollbackResult } from '@trellis/schema';
import { getJson, send } from '../../lib/api';

export const historyKeys = {
  all: ['history'] as const,
  revisions: (includeEndpoints: boolean) =>
    [...historyKeys.all, 'revisions', includeEndpoints ? 'all' : 'config'] as const,
  revision: (revision: number) => [...historyKeys.all, 'revision', revision] as const,
  current: () => [...historyKeys.all, 'current'] as const,
};

export const PAGE_SIZE = 25;
const RevisionPage = pageOf(RevisionSummary);

/** The revision list, newest first; more pages on demand. Re-read every 5 s so new revisions appear on top. */
export function useRevisions(includeEndpoints: boolean) {
  return useInfiniteQuery({
    queryKey: historyKeys.revisions(includeEndpoints),
    queryFn: ({ pageParam, signal }) => {
      const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (!includeEndpoints) query.set('kind', 'config');
      if (pageParam) query.set('cursor', pageParam);
      return getJson(`/api/v1/revisions?${query}`, RevisionPage, signal);
    },
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.nextCursor,
    refetchInterval: 5000,
  });
}

/** One revision with its configuration (or its endpoint lists); a revision never changes once written. */
export function useRevision(revision: number | undefined) {
  return useQuery({
    queryKey: historyKeys.revision(revision ?? 0),
    queryFn: ({ signal }) => getJson(`/api/v1/revisions/${revision}`, Revision, signal),
    enabled: revision !== undefined,
    staleTime: Number.POSITIVE_INFINITY,
    retry: (count, error) => (error as { status?: number }).status !== 404 && count < 1,
  });
}

export interface CurrentState {
  /** The mesh's newest revision, of either kind: what a rollback expects the mesh to still be at. */
  head: number;
  /** The latest config revision: the configuration in force now (null before the first change). */
  config: Revision | null;
}

/** The configuration in force now, re-read every 5 s. */
export function useCurrent() {
  const client = useQueryClient();
  return useQuery({
    queryKey: historyKeys.current(),
    queryFn: async ({ signal }): Promise<CurrentState> => {
      const [head, latestConfig] = await Promise.all([
        getJson('/api/v1/revisions?limit=1', RevisionPage, signal),
        getJson('/api/v1/revisions?kind=config&limit=1', RevisionPage, signal),
      ]);
      const configRevision = latestConfig.items[0]?.revision;
      const config =
        configRevision === undefined
          ? null
          : await client.fetchQuery({
              queryKey: historyKeys.revision(configRevision),
              queryFn: ({ signal: s }) => getJson(`/api/v1/revisions/${configRevision}`, Revision, s),
              staleTime: Number.POSITIVE_INFINITY,
            });
      return { head: head.items[0]?.revision ?? 0, config };
    },
    refetchInterval: 5000,
  });
}

/**
 * POST /api/v1/revisions/:revision/rollback. A 4xx/5xx throws an ApiError with the problem+json body (a 409
 * TRELLIS_ERR_REVISION_CONFLICT when the mesh moved past `expectedRevision`).
 */
export async function postRollback(
  revision: number,
  expectedRevision: number | undefined,
  fetchImpl: typeof fetch = fetch,
): Promise<RollbackResult> {
  const { value } = await send(
    'POST',
    `/api/v1/revisions/${revision}/rollback`,
    expectedRevision === undefined ? {} : { expectedRevision },
    RollbackResult,
    fetchImpl,
  );
  return value;
}

/** The rollback; on success everything the console holds about the mesh is read again. */
export function useRollback() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ revision, expectedRevision }: { revision: number; expectedRevision?: number }) =>
      postRollback(revision, expectedRevision),
    onSettled: () => client.invalidateQueries(),
  });
}

'use client';

/**
 * The history page: every change to the mesh, newest first (configuration changes by default, endpoint changes on
 * request), and for the one selected, how its configuration differs from the one in force now, resource by
 * resource and line by line, with a rollback to it behind a confirm step and a live count of the proxies that
 * have the rollback.
 */
import type { RevisionSummary } from '@trellis/schema';
import { useId, useState } from 'react';
import { ErrorBanner } from '../../lib/ErrorBanner';
import { num, TableHead } from '../../lib/TableHead';
import { relativeTime } from './diff';
import { useRevisions } from './queries';
import { RevisionPanel } from './RevisionPanel';

export function HistoryView() {
  const [includeEndpoints, setIncludeEndpoints] = useState(false);
  const [selected, setSelected] = useState<number>();
  const revisions = useRevisions(includeEndpoints);
  const toggleId = useId();

  const seen = new Set<number>();
  const items: RevisionSummary[] = [];
  for (const page of revisions.data?.pages ?? []) {
    for (const item of page.items) {
      if (seen.has(item.revision)) continue;
      seen.add(item.revision);
      items.push(item);
    }
  }
  items.sort((a, b) => b.revision - a.revision);
  const now = Date.now();

  return (
    <section className="page page-wide" aria-labelledby="history-title">
      <header className="page-header">
        <h1 id="history-title">History</h1>
        <p className="muted">
          Every change to the mesh, newest first. Select one to compare its configuration with the current
          one, and roll back to it.
        </p>
      </header>
      <div className="history-toolbar">
        <input
          id={toggleId}
          type="checkbox"
          checked={includeEndpoints}
          onChange={(e) => setIncludeEndpoints(e.target.checked)}
        />
        <label htmlFor={toggleId}>
          Include endpoint revisions (instances joining, leaving, changing health)
        </label>
      </div>
      {revisions.error ? <ErrorBanner error={revisions.error} /> : null}
      {revisions.isPending ? <p className="empty">Loading revisions…</p> : null}
      {revisions.data && items.length === 0 ? (
        <p className="empty">No revisions yet: the mesh has never been changed.</p>
      ) : null}
      {items.length > 0 ? (
        <div className="history-list">
          <table className="table" aria-labelledby="history-title" data-testid="revision-list">
            <TableHead columns={[num('Revision'), 'Kind', 'Who', 'What', 'When']} />
            <tbody>
              {items.map((r) => (
                <tr
                  key={r.revision}
                  data-testid={`revision-row-${r.revision}`}
                  aria-current={selected === r.revision ? 'true' : undefined}
                  className={selected === r.revision ? 'history-selected' : undefined}
                >
                  <td className="num">
                    <button
                      type="button"
                      className="button history-pick"
                      aria-label={`Show revision ${r.revision}`}
                      aria-pressed={selected === r.revision}
                      onClick={() => setSelected(r.revision)}
                    >
                      {r.revision}
                    </button>
                  </td>
                  <td>
                    <span className={`badge history-kind-${r.kind}`}>{r.kind}</span>
                  </td>
                  <td className="small">{r.actor}</td>
                  <td>{r.summary}</td>
                  <td className="small">
                    <time dateTime={r.createdAt} title={r.createdAt}>
                      {new Date(r.createdAt).toLocaleString()}
                    </time>{' '}
                    <span className="muted">({relativeTime(r.createdAt, now)})</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {revisions.hasNextPage ? (
        <div className="actions">
          <button
            type="button"
            className="button"
            onClick={() => revisions.fetchNextPage()}
            disabled={revisions.isFetchingNextPage}
          >
            {revisions.isFetchingNextPage ? 'Loading…' : 'Load more'}
          </button>
        </div>
      ) : null}
      {selected === undefined ? (
        items.length > 0 ? (
          <p className="empty">
            Select a revision to see how its configuration differs from the current one.
          </p>
        ) : null
      ) : (
        <RevisionPanel key={selected} revision={selected} />
      )}
    </section>
  );
}

'use client';

/**
 * One revision of the history page: what it changed, how its configuration differs from the one in force now
 * (each service, route rule and policy that differs, its two JSON documents side by side with the differing lines
 * marked), and the rollback to it: a button, a confirm step, then the revision the rollback created and how many
 * proxies have it.
 */
import type { RollbackResult } from '@trellis/schema';
import { useEffect, useId, useMemo, useRef, useState } from 'react';
import { ApiError } from '../../lib/api';
import { ErrorBanner } from '../../lib/ErrorBanner';
import { IfAllowed } from '../auth/session';
import { AckIndicator } from '../rules/components';
import { type DiffRow, diffConfigs, type ResourceDiff } from './diff';
import { useCurrent, useRevision, useRollback } from './queries';

const CHANGE_TEXT: Record<ResourceDiff['change'], string> = {
  added: 'added since',
  removed: 'removed since',
  changed: 'changed since',
};

export function RevisionPanel({ revision }: { revision: number }) {
  const titleId = useId();
  const detail = useRevision(revision);
  const current = useCurrent();
  const data = detail.data;
  const currentConfig = current.data?.config ?? null;
  const diffs = useMemo(
    () =>
      data?.snapshot && currentConfig?.snapshot
        ? diffConfigs(data.snapshot, currentConfig.snapshot)
        : undefined,
    [data, currentConfig],
  );
  const notFound = detail.error instanceof ApiError && detail.error.status === 404;

  return (
    <section className="panel history-detail" aria-labelledby={titleId} data-testid="revision-detail">
      <h2 id={titleId}>Revision {revision}</h2>
      {detail.isPending ? <p className="empty">Loading revision {revision}…</p> : null}
      {notFound ? <p className="empty">Revision {revision} does not exist.</p> : null}
      {detail.error && !notFound ? <ErrorBanner error={detail.error} /> : null}
      {current.error ? <ErrorBanner error={current.error} /> : null}
      {data ? (
        <>
          <p className="muted small">
            {data.summary} · {data.kind} revision by {data.actor} at{' '}
            <time dateTime={data.createdAt}>{new Date(data.createdAt).toLocaleString()}</time>
          </p>
          <IfAllowed what="edit">
            <Rollback
              revision={revision}
              canRollback={data.kind === 'endpoints' || (diffs !== undefined && diffs.length > 0)}
            />
          </IfAllowed>
          {data.kind === 'endpoints' ? (
            <p className="empty">
              This revision changed only endpoints
              {data.endpoints ? ` (of ${Object.keys(data.endpoints).sort().join(', ')})` : ''}. A rollback
              restores the configuration that was in force then; endpoints are never rolled back.
            </p>
          ) : null}
          {data.kind === 'config' && current.isPending ? (
            <p className="empty">Loading the current configuration…</p>
          ) : null}
          {diffs && currentConfig ? (
            <ConfigDiff revision={revision} currentRevision={currentConfig.revision} diffs={diffs} />
          ) : null}
        </>
      ) : null}
    </section>
  );
}

function ConfigDiff({
  revision,
  currentRevision,
  diffs,
}: {
  revision: number;
  currentRevision: number;
  diffs: ResourceDiff[];
}) {
  if (diffs.length === 0) {
    return (
      <p className="empty" data-testid="diff-none">
        No difference: the configuration at revision {revision} is the one in force now (revision{' '}
        {currentRevision}).
      </p>
    );
  }
  return (
    <div className="history-diffs" data-testid="config-diff">
      <h3>
        Revision {revision} against now (revision {currentRevision}): {diffs.length}{' '}
        {diffs.length === 1 ? 'resource differs' : 'resources differ'}
      </h3>
      <ul className="history-diff-index">
        {diffs.map((d) => (
          <li key={`${d.kind}/${d.name}`}>
            {d.kind} <span className="mono">{d.name}</span>: {CHANGE_TEXT[d.change]} revision {revision}
            {d.kind === 'service' && d.change === 'added' ? ' (a rollback keeps it)' : ''}
          </li>
        ))}
      </ul>
      {diffs.map((d) => (
        <ResourceDiffTable
          key={`${d.kind}/${d.name}`}
          diff={d}
          revision={revision}
          current={currentRevision}
        />
      ))}
    </div>
  );
}

function ResourceDiffTable({
  diff,
  revision,
  current,
}: {
  diff: ResourceDiff;
  revision: number;
  current: number;
}) {
  const captionId = useId();
  return (
    <section
      className="resource-diff"
      aria-labelledby={captionId}
      data-testid={`resource-diff-${diff.kind}-${diff.name}`}
      data-change={diff.change}
    >
      <h4 id={captionId}>
        {diff.kind} <span className="mono">{diff.name}</span>{' '}
        <span className={`badge diff-${diff.change}`}>
          {CHANGE_TEXT[diff.change]} revision {revision}
        </span>
      </h4>
      <table className="diff-table" aria-labelledby={captionId}>
        <colgroup>
          <col className="diff-col-number" />
          <col />
          <col className="diff-col-number" />
          <col />
        </colgroup>
        <thead>
          <tr>
            <th scope="col" colSpan={2}>
              At revision {revision}
            </th>
            <th scope="col" colSpan={2}>
              Now (revision {current})
            </th>
          </tr>
        </thead>
        <tbody>
          {diff.rows.map((row) => (
            <DiffTableRow key={`L${row.left?.number ?? '-'}R${row.right?.number ?? '-'}`} row={row} />
          ))}
        </tbody>
      </table>
    </section>
  );
}

function DiffTableRow({ row }: { row: DiffRow }) {
  const cells = (line: DiffRow['left'], side: 'left' | 'right') => {
    const changed = line?.changed ?? false;
    const cls = changed ? ` diff-${side}-changed` : line ? '' : ' diff-empty';
    return (
      <>
        <td className={`diff-number${cls}`}>{line?.number ?? ''}</td>
        <td className={`diff-text mono${cls}`} data-side={side} data-changed={changed ? 'true' : undefined}>
          {changed ? <span className="sr-only">{side === 'left' ? 'then: ' : 'now: '}</span> : null}
          {line?.text ?? ''}
        </td>
      </>
    );
  };
  return (
    <tr>
      {cells(row.left, 'left')}
      {cells(row.right, 'right')}
    </tr>
  );
}

type Step =
  | { step: 'idle' }
  | { step: 'confirm' }
  | { step: 'done'; result: RollbackResult }
  | { step: 'failed'; message: string; conflict: boolean };

function Rollback({ revision, canRollback }: { revision: number; canRollback: boolean }) {
  const [state, setState] = useState<Step>({ step: 'idle' });
  const current = useCurrent();
  const rollback = useRollback();
  const confirmRef = useRef<HTMLButtonElement>(null);
  const startRef = useRef<HTMLButtonElement>(null);
  const confirmTextId = useId();

  const refocus = useRef(false);

  useEffect(() => {
    if (state.step === 'confirm') confirmRef.current?.focus();
    else if (state.step === 'idle' && refocus.current) {
      refocus.current = false;
      startRef.current?.focus();
    }
  }, [state.step]);

  const backToStart = () => {
    refocus.current = true;
    setState({ step: 'idle' });
  };

  const confirm = () => {
    rollback.mutate(
      { revision, expectedRevision: current.data?.head },
      {
        onSuccess: (result) => setState({ step: 'done', result }),
        onError: (error) => {
          const problem = error instanceof ApiError ? error.problem : undefined;
          setState({
            step: 'failed',
            message: error.message,
            conflict: problem?.code === 'TRELLIS_ERR_REVISION_CONFLICT',
          });
        },
      },
    );
  };

  const reviewAgain = async () => {
    await current.refetch();
    backToStart();
  };

  return (
    <div className="history-rollback">
      {state.step === 'idle' || state.step === 'failed' ? (
        <div className="actions">
          <button
            ref={startRef}
            type="button"
            className="button primary"
            disabled={!canRollback}
            onClick={() => setState({ step: 'confirm' })}
          >
            Rollback to revision {revision}
          </button>
        </div>
      ) : null}
      {state.step === 'confirm' ? (
        <fieldset className="banner history-confirm" aria-describedby={confirmTextId}>
          <legend>Confirm the rollback to revision {revision}</legend>
          <p id={confirmTextId}>
            Roll the mesh configuration back to revision {revision}? Route rules and traffic policies become
            exactly what they were then, services get their settings back and deleted ones return; services
            created since are kept. This is a new revision, pushed to every proxy.
          </p>
          <div className="actions">
            <button
              ref={confirmRef}
              type="button"
              className="button primary"
              onClick={confirm}
              disabled={rollback.isPending}
            >
              {rollback.isPending ? 'Rolling back…' : 'Confirm rollback'}
            </button>
            <button type="button" className="button" onClick={backToStart} disabled={rollback.isPending}>
              Cancel
            </button>
          </div>
        </fieldset>
      ) : null}
      {state.step === 'failed' ? (
        <div role="alert" className="banner" data-testid="rollback-error">
          {state.conflict
            ? `The mesh changed while you were looking (${state.message}). Nothing was rolled back.`
            : `The rollback failed: ${state.message}`}
          {state.conflict ? (
            <div className="actions">
              <button type="button" className="button" onClick={reviewAgain}>
                Review again
              </button>
            </div>
          ) : null}
        </div>
      ) : null}
      {state.step === 'done' ? <RollbackDone result={state.result} /> : null}
    </div>
  );
}

function RollbackDone({ result }: { result: RollbackResult }) {
  return (
    <div data-testid="rollback-result">
      {result.revision === null ? (
        <p role="status">
          Nothing to roll back: the configuration already matches revision {result.restoredFrom}.
        </p>
      ) : (
        <>
          <AckIndicator
            revision={result.revision}
            what="configuration"
            message={`Rolled back to revision ${result.restoredFrom}: new mesh revision ${result.revision}.`}
          />
          <ul className="small" aria-label="What the rollback changed">
            {result.changes.map((c) => (
              <li key={`${c.kind}/${c.name}`}>
                {c.action} {c.kind} <span className="mono">{c.name}</span>
              </li>
            ))}
          </ul>
        </>
      )}
      {result.kept.length > 0 ? (
        <p className="small muted" data-testid="rollback-kept">
          Kept services created since revision {result.restoredFrom} (they may have live instances):{' '}
          {result.kept.join(', ')}.
        </p>
      ) : null}
    </div>
  );
}

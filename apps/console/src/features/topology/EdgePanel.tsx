'use client';

/**
 * The calls from one service to another, opened from an edge of the graph: their live numbers, whether a circuit
 * breaker is refusing them, their last 5 minutes (the metrics API keeps a series per edge), and the three things an
 * operator does about an edge, each opening the matching rule form prefilled for it.
 */
import type { TopologyEdge } from '@trellis/schema';
import Link from 'next/link';
import { ErrorBanner } from '../../lib/ErrorBanner';
import { formatMs, formatPercent, formatRps } from '../../lib/format';
import { IfAllowed } from '../auth/session';
import { authorizationNewPath } from '../authz/form';
import { Charts } from '../services/HealthCharts';
import { toChartData } from '../services/metrics';
import { type EdgeIntent, edgeRulePath } from './model';
import { useEdgeMetrics } from './queries';
import { PanelStat, SidePanel } from './SidePanel';

const ACTIONS: { intent: EdgeIntent; label: string }[] = [
  { intent: 'split', label: 'Split traffic…' },
  { intent: 'retry', label: 'Add retry/timeout…' },
  { intent: 'breaker', label: 'Circuit breaker…' },
];

export function EdgePanel({
  source,
  destination,
  edge,
  onClose,
}: {
  source: string;
  destination: string;
  edge: TopologyEdge | undefined;
  onClose: () => void;
}) {
  const title = `Calls from ${source} to ${destination}`;
  return (
    <SidePanel label={title} title={title} onClose={onClose} testId="topology-edge-panel">
      {edge?.breakerOpen ? (
        <p>
          <span className="badge breaker-open" data-testid="panel-breaker-open">
            breaker open
          </span>{' '}
          <span className="muted small">
            {edge.overflows} {edge.overflows === 1 ? 'request' : 'requests'} refused by the circuit breaker in
            the live window
          </span>
        </p>
      ) : null}
      <dl className="panel-stats" aria-label="Live traffic">
        <PanelStat label="Requests/s" testId="panel-rps" value={edge ? formatRps(edge.rps) : '–'} />
        <PanelStat label="Errors" testId="panel-errors" value={formatPercent(edge?.errorRate ?? null, 2)} />
        <PanelStat label="p50" testId="panel-p50" value={formatMs(edge?.p50 ?? null)} />
        <PanelStat label="p99" testId="panel-p99" value={formatMs(edge?.p99 ?? null)} />
        <PanelStat label="Retries" testId="panel-retries" value={edge ? String(edge.retries) : '–'} />
        <PanelStat label="mTLS" testId="panel-mtls" value={edge ? (edge.mtls ? 'yes' : 'no') : '–'} />
        <PanelStat label="Denied" testId="panel-denied" value={edge ? String(edge.denied) : '–'} />
        <PanelStat
          label="Dry run: would deny"
          testId="panel-dry-run-denied"
          value={edge ? String(edge.dryRunDenied) : '–'}
        />
      </dl>
      {edge && edge.denied > 0 ? (
        <p className="small">
          <span className="badge denied" data-testid="panel-denied-badge">
            denied
          </span>{' '}
          <span className="muted">
            an authorization policy refused {edge.denied} {edge.denied === 1 ? 'call' : 'calls'} from {source}{' '}
            in the live window (403 rbac_denied).
          </span>
        </p>
      ) : null}
      {edge ? (
        <p className="muted small">
          {edge.idle ? 'No calls in the live window. ' : ''}
          {edge.declared
            ? `${source} declares ${destination} as a dependency.`
            : 'Not a declared dependency.'}{' '}
          Numbers as reported by the {edge.reporter} proxies.
        </p>
      ) : null}
      <IfAllowed what="edit">
        <div className="panel-actions">
          {ACTIONS.map((a) => (
            <Link
              key={a.intent}
              className="button"
              href={edgeRulePath(source, destination, a.intent)}
              prefetch={false}
              data-testid={`edge-action-${a.intent}`}
            >
              {a.label}
            </Link>
          ))}
          <Link
            className="button"
            href={authorizationNewPath({ destination, source, action: 'deny' })}
            prefetch={false}
            data-testid="edge-action-deny"
          >
            Deny these calls…
          </Link>
        </div>
      </IfAllowed>
      <h3>Last 5 minutes</h3>
      <EdgeMiniCharts source={source} destination={destination} />
    </SidePanel>
  );
}

function EdgeMiniCharts({ source, destination }: { source: string; destination: string }) {
  const metrics = useEdgeMetrics(source, destination);
  const data = metrics.data ? toChartData(metrics.data) : undefined;
  if (metrics.error) return <ErrorBanner error={metrics.error} />;
  if (!data) return <p className="muted small">Loading the last 5 minutes…</p>;
  if (data.pointsWithTraffic === 0) return <p className="muted small">No calls in the last 5 minutes.</p>;
  return (
    <div className="mini-charts">
      <Charts data={data} window="5m" height={120} />
    </div>
  );
}

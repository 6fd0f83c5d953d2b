'use client';

/**
 * What an operator wants to see on clicking a service in the graph, without leaving it: its live numbers, its
 * endpoints with their health and which of them outlier detection holds ejected, the rules that steer its traffic,
 * its last 5 minutes in small charts, and the way to its full page.
 */
import type { Endpoint, TopologyNode } from '@trellis/schema';
import Link from 'next/link';
import { ErrorBanner } from '../../lib/ErrorBanner';
import { formatMs } from '../../lib/format';
import { Charts } from '../services/HealthCharts';
import { LiveStats } from '../services/LiveStats';
import { toChartData } from '../services/metrics';
import {
  useServiceEndpoints,
  useServiceMetrics,
  useServicePolicies,
  useServiceRoutes,
} from '../services/queries';
import { endpointKey } from './model';
import { SidePanel } from './SidePanel';

export function NodePanel({
  service,
  node,
  onClose,
}: {
  service: string;
  node: TopologyNode | undefined;
  onClose: () => void;
}) {
  const health = node?.health ?? 'idle';
  return (
    <SidePanel label={`Service ${service}`} title={service} onClose={onClose} testId="topology-node-panel">
      <p>
        <span className={`badge health-${health}`} data-testid="panel-health" data-health={health}>
          <span className="health-dot" aria-hidden="true" /> {health}
        </span>
      </p>
      <LiveStats node={node} variant="panel" />
      {node?.registered === false ? (
        <p className="muted small">
          {service} is not a registered service: it is only seen in traffic, so it has no endpoints or rules
          here.
        </p>
      ) : (
        <RegisteredDetails service={service} node={node} />
      )}
    </SidePanel>
  );
}

function RegisteredDetails({ service, node }: { service: string; node: TopologyNode | undefined }) {
  return (
    <>
      <p>
        <Link href={`/services/${encodeURIComponent(service)}`}>Open service page</Link>
      </p>
      <Endpoints service={service} ejected={node?.ejectedEndpoints ?? []} />
      <Rules service={service} />
      <h3>Last 5 minutes</h3>
      <ServiceMiniCharts service={service} />
    </>
  );
}

function Endpoints({ service, ejected }: { service: string; ejected: TopologyNode['ejectedEndpoints'] }) {
  const endpoints = useServiceEndpoints(service);
  const ejectedBy = new Map(ejected.map((e) => [e.endpoint, e.proxies]));
  const items = [...(endpoints.data ?? [])].sort(
    (a, b) => a.address.localeCompare(b.address) || a.port - b.port,
  );
  const known = new Set(items.map((e) => endpointKey(e.address, e.port)));
  const unlisted = ejected.filter((e) => !known.has(e.endpoint));
  return (
    <section aria-labelledby="panel-endpoints-title">
      <h3 id="panel-endpoints-title">Endpoints</h3>
      {endpoints.error ? <ErrorBanner error={endpoints.error} /> : null}
      {endpoints.isPending ? <p className="muted small">Loading endpoints…</p> : null}
      {endpoints.data && items.length === 0 ? (
        <p className="muted small">No endpoints: no instance of {service} is registered.</p>
      ) : null}
      <ul className="panel-list" aria-labelledby="panel-endpoints-title">
        {items.map((e: Endpoint) => {
          const key = endpointKey(e.address, e.port);
          const proxies = ejectedBy.get(key);
          return (
            <li
              key={e.id}
              data-testid="panel-endpoint"
              data-endpoint={key}
              data-ejected={proxies !== undefined ? 'true' : undefined}
            >
              <span className="mono">{key}</span>{' '}
              <span className={`badge endpoint-${e.health}`}>{e.health}</span>
              {e.labels.version ? <span className="muted small"> {e.labels.version}</span> : null}
              {proxies !== undefined ? <EjectedBadge proxies={proxies} /> : null}
            </li>
          );
        })}
        {unlisted.map((e) => (
          <li key={e.endpoint} data-testid="panel-endpoint" data-endpoint={e.endpoint} data-ejected="true">
            <span className="mono">{e.endpoint}</span> <EjectedBadge proxies={e.proxies} />
          </li>
        ))}
      </ul>
    </section>
  );
}

function EjectedBadge({ proxies }: { proxies: number }) {
  return (
    <span className="badge ejected" title="Outlier detection holds this endpoint out of load balancing">
      ejected by {proxies} {proxies === 1 ? 'proxy' : 'proxies'}
    </span>
  );
}

function Rules({ service }: { service: string }) {
  const routes = useServiceRoutes(service);
  const policies = useServicePolicies(service);
  const error = routes.error ?? policies.error;
  const none = routes.data?.length === 0 && policies.data?.length === 0;
  return (
    <section aria-labelledby="panel-rules-title">
      <h3 id="panel-rules-title">Rules</h3>
      {error ? <ErrorBanner error={error} /> : null}
      {routes.isPending || policies.isPending ? <p className="muted small">Loading rules…</p> : null}
      {none ? <p className="muted small">No route rule or traffic policy: the defaults apply.</p> : null}
      <ul className="panel-list" aria-labelledby="panel-rules-title">
        {[...(routes.data ?? [])]
          .sort((a, b) => b.priority - a.priority || a.name.localeCompare(b.name))
          .map((r) => (
            <li key={`route-${r.name}`} data-testid={`panel-route-${r.name}`}>
              <span className="muted small">route</span>{' '}
              <Link href={`/routes/${encodeURIComponent(r.name)}/edit`}>{r.name}</Link>
              <div className="muted small">
                {r.destinations
                  .map(
                    (d) =>
                      `${
                        Object.entries(d.subset ?? {})
                          .map(([k, v]) => `${k}=${v}`)
                          .join(',') || 'all'
                      } ${d.weight} %`,
                  )
                  .join(' · ')}
                {r.retries.attempts > 0 ? `, ${r.retries.attempts} retries` : ''}
                {r.timeoutMs !== undefined ? `, timeout ${formatMs(r.timeoutMs)}` : ''}
              </div>
            </li>
          ))}
        {(policies.data ?? []).map((p) => (
          <li key={`policy-${p.name}`} data-testid={`panel-policy-${p.name}`}>
            <span className="muted small">policy</span> {p.name}
            <div className="muted small">
              {p.loadBalancer.type.replace('_', ' ')}
              {p.outlierDetection.enabled
                ? `, eject after ${p.outlierDetection.consecutive5xx} consecutive 5xx`
                : ', no outlier detection'}
              , at most {p.connectionPool.maxRequests} requests
            </div>
          </li>
        ))}
      </ul>
    </section>
  );
}

function ServiceMiniCharts({ service }: { service: string }) {
  const metrics = useServiceMetrics(service, '5m');
  const data = metrics.data ? toChartData(metrics.data) : undefined;
  if (metrics.error) return <ErrorBanner error={metrics.error} />;
  if (!data) return <p className="muted small">Loading the last 5 minutes…</p>;
  if (data.pointsWithTraffic === 0) return <p className="muted small">No traffic in the last 5 minutes.</p>;
  return (
    <div className="mini-charts">
      <Charts data={data} window="5m" height={120} />
    </div>
  );
}

'use client';

/**
 * One service as an operator looks at it when something is off: its live numbers (the topology, every second),
 * its health charts over a chosen window, and what it runs on and under: endpoints, the proxies beside them and
 * whether they run the current revision, and the route rules and traffic policies that steer its traffic.
 */
import type { Endpoint, RouteRule, TopologyNode, TrafficPolicy } from '@trellis/schema';
import Link from 'next/link';
import { useState } from 'react';
import { ApiError } from '../../lib/api';
import { ErrorBanner } from '../../lib/ErrorBanner';
import { formatMs } from '../../lib/format';
import { num, TableHead } from '../../lib/TableHead';
import { NewLink } from '../auth/session';
import { ServiceAuthorization } from '../authz/AuthzViews';
import { ProxyTable } from '../proxies/ProxyTable';
import { useProxies } from '../proxies/queries';
import { endpointKey } from '../topology/model';
import { useTopology } from '../topology/queries';
import { HealthCharts } from './HealthCharts';
import { LiveStats } from './LiveStats';
import type { ChartWindow } from './metrics';
import { useService, useServiceEndpoints, useServicePolicies, useServiceRoutes } from './queries';

export function ServiceDetailView({ name }: { name: string }) {
  const [window, setWindow] = useState<ChartWindow>('5m');
  const service = useService(name);
  const topology = useTopology();
  const node = topology.data?.nodes.find((n) => n.service === name);
  const notFound = service.error instanceof ApiError && service.error.status === 404;

  return (
    <section className="page" aria-labelledby="service-title">
      <nav aria-label="Breadcrumb" className="muted small">
        <Link href="/services">Services</Link> / {name}
      </nav>
      <header className="page-header">
        <h1 id="service-title">{name}</h1>
        <span
          className={`badge health-${node?.health ?? 'idle'}`}
          data-testid="service-health"
          data-health={node?.health ?? 'idle'}
        >
          <span className="health-dot" aria-hidden="true" /> {node?.health ?? 'idle'}
        </span>
        {service.data?.description ? <span className="muted">{service.data.description}</span> : null}
      </header>
      {notFound ? (
        <p className="empty" role="alert">
          There is no service named {name}. <Link href="/services">All services</Link>
        </p>
      ) : (
        <>
          {service.error ? <ErrorBanner error={service.error} /> : null}
          {topology.error ? <ErrorBanner error={topology.error} /> : null}
          <LiveStats node={node} variant="page">
            {service.data ? (
              <div className="stat">
                <dt>Protocol, port</dt>
                <dd data-testid="stat-port">{`${service.data.protocol} ${service.data.port}`}</dd>
              </div>
            ) : null}
          </LiveStats>
          <p className="muted small">
            Live numbers over the last {topology.data?.windowSeconds ?? 10} s
            {node?.reporter ? `, as reported by the ${node.reporter} proxies` : ''}.
          </p>
          <HealthCharts service={name} window={window} onWindowChange={setWindow} />
          <Endpoints name={name} ejected={node?.ejectedEndpoints ?? []} />
          <Proxies name={name} />
          <Rules name={name} />
          <ServiceAuthorization service={name} />
        </>
      )}
    </section>
  );
}

function EditLink({ kind, name }: { kind: 'routes' | 'policies'; name: string }) {
  return (
    <Link href={`/${kind}/${encodeURIComponent(name)}/edit`} aria-label={`Edit ${name}`}>
      Edit
    </Link>
  );
}

function labelText(labels: Record<string, string>, omit: string[] = []): string {
  return Object.entries(labels)
    .filter(([k]) => !omit.includes(k))
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
}

/** `ejected`: the live topology's endpoints that outlier detection holds out, and by how many proxies. */
function Endpoints({ name, ejected }: { name: string; ejected: TopologyNode['ejectedEndpoints'] }) {
  const endpoints = useServiceEndpoints(name);
  const ejectedBy = new Map(ejected.map((e) => [e.endpoint, e.proxies]));
  const items = [...(endpoints.data ?? [])].sort(
    (a, b) => a.address.localeCompare(b.address) || a.port - b.port,
  );
  return (
    <section className="panel" aria-labelledby="endpoints-title">
      <h2 id="endpoints-title">Endpoints</h2>
      {endpoints.error ? <ErrorBanner error={endpoints.error} /> : null}
      {endpoints.isPending ? <p className="empty">Loading endpoints…</p> : null}
      {endpoints.data && items.length === 0 ? (
        <p className="empty">No endpoints: no instance of {name} is registered.</p>
      ) : null}
      {items.length > 0 ? (
        <table className="table" aria-labelledby="endpoints-title">
          <TableHead
            columns={[
              'Address',
              'Health',
              'Ejected',
              'Version',
              'Zone',
              'Other labels',
              'Source',
              num('Weight'),
            ]}
          />
          <tbody>
            {items.map((e: Endpoint) => (
              <tr key={e.id} data-testid="endpoint-row">
                <th scope="row" className="mono">
                  {e.address}:{e.port}
                </th>
                <td>
                  <span className={`badge endpoint-${e.health}`}>{e.health}</span>
                </td>
                <td data-testid="endpoint-ejected">
                  {ejectedBy.has(endpointKey(e.address, e.port)) ? (
                    <span
                      className="badge ejected"
                      title="Outlier detection holds this endpoint out of load balancing"
                    >
                      by {ejectedBy.get(endpointKey(e.address, e.port))}{' '}
                      {ejectedBy.get(endpointKey(e.address, e.port)) === 1 ? 'proxy' : 'proxies'}
                    </span>
                  ) : (
                    'no'
                  )}
                </td>
                <td>{e.labels.version ?? '–'}</td>
                <td>{e.zone || '–'}</td>
                <td className="small mono">{labelText(e.labels, ['version']) || '–'}</td>
                <td>{e.source}</td>
                <td className="num">{e.weight}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <NewLink href={`/policies/new?service=${encodeURIComponent(name)}`}>New traffic policy</NewLink>
    </section>
  );
}

function Proxies({ name }: { name: string }) {
  const proxies = useProxies();
  const items = (proxies.data?.items ?? [])
    .filter((p) => p.node.service === name)
    .sort((a, b) => a.node.instance.localeCompare(b.node.instance));
  return (
    <section className="panel" aria-labelledby="service-proxies-title">
      <h2 id="service-proxies-title">Proxies</h2>
      {proxies.error ? <ErrorBanner error={proxies.error} /> : null}
      {proxies.isPending ? <p className="empty">Loading proxies…</p> : null}
      {proxies.data && items.length === 0 ? (
        <p className="empty">
          No proxy of {name} is connected (its endpoints may be registered another way).
        </p>
      ) : null}
      {items.length > 0 ? (
        <ProxyTable
          items={items}
          labelledBy="service-proxies-title"
          showService={false}
          rowTestId={(p) => `service-proxy-row-${p.node.instance}`}
        />
      ) : null}
    </section>
  );
}

function subsetText(subset: Record<string, string>): string {
  return labelText(subset) || 'all endpoints';
}

function matchText(rule: RouteRule): string {
  if (rule.match.length === 0) return 'every request';
  return rule.match
    .map((m) => {
      const parts: string[] = [];
      if (m.path?.exact !== undefined) parts.push(`path = ${m.path.exact}`);
      if (m.path?.prefix !== undefined) parts.push(`path ${m.path.prefix}*`);
      if (m.path?.regex !== undefined) parts.push(`path ~ ${m.path.regex}`);
      if (m.methods && m.methods.length > 0) parts.push(m.methods.join('|'));
      if (m.headers.length > 0) parts.push(`headers ${m.headers.map((h) => h.name).join(', ')}`);
      return parts.join(' ') || 'any';
    })
    .join(' or ');
}

function Rules({ name }: { name: string }) {
  const routes = useServiceRoutes(name);
  const policies = useServicePolicies(name);
  const sortedRoutes = [...(routes.data ?? [])].sort(
    (a, b) => a.priority - b.priority || a.name.localeCompare(b.name),
  );
  return (
    <section className="panel" aria-labelledby="rules-title">
      <h2 id="rules-title">Rules that apply</h2>
      {routes.error ? <ErrorBanner error={routes.error} /> : null}
      {policies.error ? <ErrorBanner error={policies.error} /> : null}
      <h3 id="routes-title">Route rules</h3>
      {routes.isPending ? <p className="empty">Loading route rules…</p> : null}
      {routes.data && sortedRoutes.length === 0 ? (
        <p className="empty">No route rule: requests go to every endpoint, with the defaults.</p>
      ) : null}
      {sortedRoutes.length > 0 ? (
        <table className="table" aria-labelledby="routes-title">
          <TableHead
            columns={['Name', num('Priority'), 'Matches', 'Destinations', num('Timeout'), 'Retries']}
            actions
          />
          <tbody>
            {sortedRoutes.map((r) => (
              <tr key={r.name} data-testid={`route-row-${r.name}`}>
                <th scope="row">{r.name}</th>
                <td className="num">{r.priority}</td>
                <td className="small">{matchText(r)}</td>
                <td className="small">
                  {r.destinations.map((d) => `${subsetText(d.subset)}: ${d.weight} %`).join(' · ')}
                </td>
                <td className="num">{formatMs(r.timeoutMs)}</td>
                <td className="small">
                  {r.retries.attempts > 0
                    ? `${r.retries.attempts} on ${r.retries.retryOn.join(', ')}${r.retries.perTryTimeoutMs !== undefined ? `, ${formatMs(r.retries.perTryTimeoutMs)} per try` : ''}`
                    : 'none'}
                </td>
                <td>
                  <EditLink kind="routes" name={r.name} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <NewLink href={`/routes/new?service=${encodeURIComponent(name)}`}>New route rule</NewLink>
      <h3 id="policies-title">Traffic policies</h3>
      {policies.isPending ? <p className="empty">Loading traffic policies…</p> : null}
      {policies.data && policies.data.length === 0 ? (
        <p className="empty">
          No traffic policy: the proxies use the defaults (least request, finite limits).
        </p>
      ) : null}
      {policies.data && policies.data.length > 0 ? (
        <table className="table" aria-labelledby="policies-title">
          <TableHead
            columns={['Name', 'Applies to', 'Load balancer', 'Circuit breaker', 'Outlier detection']}
            actions
          />
          <tbody>
            {policies.data.map((p: TrafficPolicy) => (
              <tr key={p.name} data-testid={`policy-row-${p.name}`}>
                <th scope="row">{p.name}</th>
                <td className="small">{p.subset ? subsetText(p.subset) : 'all endpoints'}</td>
                <td>{p.loadBalancer.type.replace('_', ' ')}</td>
                <td className="small">
                  {p.connectionPool.maxConnections} connections, {p.connectionPool.maxPendingRequests}{' '}
                  pending, {p.connectionPool.maxRequests} requests
                </td>
                <td className="small">
                  {p.outlierDetection.enabled
                    ? `eject after ${p.outlierDetection.consecutive5xx} consecutive 5xx for ${formatMs(p.outlierDetection.baseEjectionTimeMs)} (at most ${p.outlierDetection.maxEjectionPercent} %)`
                    : 'off'}
                </td>
                <td>
                  <EditLink kind="policies" name={p.name} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <NewLink href={`/policies/new?service=${encodeURIComponent(name)}`}>New traffic policy</NewLink>
    </section>
  );
}

'use client';

import type { TopologyNode } from '@trellis/schema';
import Link from 'next/link';
import { ErrorBanner } from '../../lib/ErrorBanner';
import { formatMs, formatPercent, formatRps } from '../../lib/format';
import { num, TableHead } from '../../lib/TableHead';
import { useTopology } from '../topology/queries';
import { useServices } from './queries';

export function ServicesView() {
  const services = useServices();
  const topology = useTopology();
  const live = new Map<string, TopologyNode>((topology.data?.nodes ?? []).map((n) => [n.service, n]));
  const error = services.error ?? topology.error;

  return (
    <section className="page" aria-labelledby="services-title">
      <header className="page-header">
        <h1 id="services-title">Services</h1>
        <p className="muted">
          Registered services, with the last {topology.data?.windowSeconds ?? 10} s of traffic.
        </p>
      </header>
      {error ? <ErrorBanner error={error} /> : null}
      {services.isPending ? <p className="empty">Loading services…</p> : null}
      {services.data && services.data.length === 0 ? <p className="empty">No services registered.</p> : null}
      {services.data && services.data.length > 0 ? (
        <table className="table" aria-labelledby="services-title">
          <TableHead
            columns={[
              'Service',
              'Health',
              num('Requests/s'),
              num('Success rate'),
              num('p99'),
              num('Endpoints (healthy / total)'),
            ]}
          />
          <tbody>
            {services.data.map((s) => {
              const n = live.get(s.name);
              return (
                <tr key={s.name} data-testid={`service-row-${s.name}`}>
                  <th scope="row">
                    <Link href={`/services/${encodeURIComponent(s.name)}`}>{s.name}</Link>
                    {s.description ? <div className="muted small">{s.description}</div> : null}
                  </th>
                  <td>
                    <span className={`badge health-${n?.health ?? 'idle'}`}>
                      <span className="health-dot" aria-hidden="true" /> {n?.health ?? 'idle'}
                    </span>
                  </td>
                  <td className="num">{n ? formatRps(n.rps) : '–'}</td>
                  <td className="num">{formatPercent(n?.successRate ?? null, 2)}</td>
                  <td className="num">{formatMs(n?.p99 ?? null)}</td>
                  <td className="num">
                    {n ? `${n.endpoints.healthy} / ${n.endpoints.total}` : '–'}
                    {n && n.endpoints.unhealthy > 0 ? (
                      <span className="muted small"> ({n.endpoints.unhealthy} unhealthy)</span>
                    ) : null}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

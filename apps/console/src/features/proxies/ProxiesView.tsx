'use client';

import { ErrorBanner } from '../../lib/ErrorBanner';
import { formatMs } from '../../lib/format';
import { useProxies } from './queries';

export function ProxiesView() {
  const proxies = useProxies();
  const items = [...(proxies.data?.items ?? [])].sort(
    (a, b) => a.node.service.localeCompare(b.node.service) || a.node.instance.localeCompare(b.node.instance),
  );
  const unreachable = (proxies.data?.replicas ?? []).filter((r) => r.error !== null);

  return (
    <section className="page" aria-labelledby="proxies-title">
      <header className="page-header">
        <h1 id="proxies-title">Proxies</h1>
        <p className="muted">
          Every proxy streaming from the control plane, and whether it runs the current revision.
        </p>
      </header>
      {proxies.error ? <ErrorBanner error={proxies.error} /> : null}
      {unreachable.map((r) => (
        <div key={r.id} role="alert" className="banner">
          Replica {r.id} ({r.url}) could not be asked: {r.error}
        </div>
      ))}
      {proxies.isPending ? <p className="empty">Loading proxies…</p> : null}
      {proxies.data && items.length === 0 ? <p className="empty">No proxy is connected.</p> : null}
      {items.length > 0 ? (
        <table className="table" aria-labelledby="proxies-title">
          <thead>
            <tr>
              <th scope="col">Service</th>
              <th scope="col">Instance</th>
              <th scope="col">Address</th>
              <th scope="col">Status</th>
              <th scope="col" className="num">
                Acked / current revision
              </th>
              <th scope="col" className="num">
                Convergence
              </th>
              <th scope="col">Last error</th>
            </tr>
          </thead>
          <tbody>
            {items.map((p) => (
              <tr key={`${p.node.service}/${p.node.instance}`} data-testid={`proxy-row-${p.node.instance}`}>
                <td>{p.node.service}</td>
                <th scope="row">{p.node.instance}</th>
                <td className="mono">
                  {p.node.address}:{p.node.port}
                </td>
                <td>
                  <span className={`badge sync-${p.status.toLowerCase()}`}>{p.status}</span>
                </td>
                <td className="num">
                  {p.ackedRevision ?? '–'} / {p.currentRevision}
                </td>
                <td className="num">{formatMs(p.convergenceMs)}</td>
                <td className="small">{p.lastNack ? p.lastNack.error : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

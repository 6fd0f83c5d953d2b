'use client';

import { ErrorBanner } from '../../lib/ErrorBanner';
import { ProxyTable } from './ProxyTable';
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
        <ProxyTable
          items={items}
          labelledBy="proxies-title"
          showService
          rowTestId={(p) => `proxy-row-${p.node.instance}`}
        />
      ) : null}
    </section>
  );
}

'use client';

/** The proxies table, shared by the Proxies page (every service) and a service's page (its own proxies). */
import type { ProxyStatus } from '@trellis/schema';
import { formatMs } from '../../lib/format';
import { num, TableHead } from '../../lib/TableHead';

export function ProxyTable({
  items,
  labelledBy,
  showService,
  rowTestId,
}: {
  items: readonly ProxyStatus[];
  labelledBy: string;
  /** Adds a Service column (the Proxies page lists every service's proxies). */
  showService: boolean;
  rowTestId: (proxy: ProxyStatus) => string;
}) {
  return (
    <table className="table" aria-labelledby={labelledBy}>
      <TableHead
        columns={[
          ...(showService ? ['Service'] : []),
          'Instance',
          'Address',
          'Status',
          num('Acked / current revision'),
          num('Convergence'),
          'Last error',
        ]}
      />
      <tbody>
        {items.map((p) => (
          <tr key={`${p.node.service}/${p.node.instance}`} data-testid={rowTestId(p)}>
            {showService ? <td>{p.node.service}</td> : null}
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
  );
}

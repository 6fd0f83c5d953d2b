/**
 * A service's live numbers from the topology (requests per second, success rate, p99, healthy endpoints), as the
 * service page and the topology's side panel both show them: one rendering, in the page's roomy layout or the
 * panel's compact one.
 */
import type { TopologyNode } from '@trellis/schema';
import type { ReactNode } from 'react';
import { formatMs, formatPercent, formatRps } from '../../lib/format';

const VARIANTS = {
  page: {
    list: 'stats',
    item: 'stat',
    testId: 'stat',
    success: 'Success rate',
    endpoints: 'Endpoints (healthy / total)',
  },
  panel: {
    list: 'panel-stats',
    item: 'panel-stat',
    testId: 'panel',
    success: 'Success',
    endpoints: 'Endpoints healthy',
  },
} as const;

export function LiveStats({
  node,
  variant,
  children,
}: {
  node: TopologyNode | undefined;
  variant: keyof typeof VARIANTS;
  /** More entries after the four (e.g. the service's port on its page). */
  children?: ReactNode;
}) {
  const v = VARIANTS[variant];
  const stat = (label: string, key: string, value: string) => (
    <div className={v.item}>
      <dt>{label}</dt>
      <dd data-testid={`${v.testId}-${key}`}>{value}</dd>
    </div>
  );
  return (
    <dl className={v.list} aria-label="Live traffic">
      {stat('Requests/s', 'rps', node ? formatRps(node.rps) : '–')}
      {stat(v.success, 'success', formatPercent(node?.successRate ?? null, 2))}
      {stat('p99', 'p99', formatMs(node?.p99 ?? null))}
      {stat(v.endpoints, 'endpoints', node ? `${node.endpoints.healthy} / ${node.endpoints.total}` : '–')}
      {children}
    </dl>
  );
}

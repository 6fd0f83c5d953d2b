'use client';

import { useMemo } from 'react';
import { ErrorBanner } from '../../lib/ErrorBanner';
import { graphStructure } from './layout';
import { useGraphLayout, useTopology } from './queries';
import { TopologyGraph } from './TopologyGraph';

export function TopologyView() {
  const topology = useTopology();
  const structureKey = topology.data ? graphStructure(topology.data).key : undefined;
  // Recomputed only when the structure's key changes, never because a number did.
  // biome-ignore lint/correctness/useExhaustiveDependencies: the key stands for the structure
  const structure = useMemo(
    () => (topology.data ? graphStructure(topology.data) : undefined),
    [structureKey],
  );
  const layout = useGraphLayout(structure);

  return (
    <section className="page page-wide" aria-labelledby="topology-title">
      <header className="page-header">
        <h1 id="topology-title">Topology</h1>
        {topology.data ? (
          <p className="muted" data-testid="topology-updated">
            last {topology.data.windowSeconds} s, at {new Date(topology.data.at).toLocaleTimeString()}
          </p>
        ) : null}
        <Legend />
      </header>
      {topology.error ? <ErrorBanner error={topology.error} /> : null}
      <div className="graph" data-testid="topology-graph">
        {topology.isPending ? <p className="empty">Loading the topology…</p> : null}
        {topology.data && topology.data.nodes.length === 0 ? (
          <p className="empty">No services yet. Register one, or start a proxy.</p>
        ) : null}
        {topology.data && structure && layout.data ? (
          <TopologyGraph topology={topology.data} structure={structure} positions={layout.data} />
        ) : null}
      </div>
    </section>
  );
}

function Legend() {
  return (
    <ul className="legend" aria-label="Health colours">
      {(['healthy', 'degraded', 'failing', 'idle'] as const).map((h) => (
        <li key={h} className={`health-${h}`}>
          <span className="health-dot" aria-hidden="true" /> {h}
        </li>
      ))}
    </ul>
  );
}

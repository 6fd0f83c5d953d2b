'use client';

/**
 * The topology page: the live graph of the mesh, with what an operator needs to act from it: a search that
 * highlights and zooms to services, a filter by service label, and side panels for a clicked service or edge.
 * The graph container carries `data-ready`, `data-layout-ms` and `data-visible-nodes` for the tests and the console
 * benchmark (bench/console).
 */
import type { ReactFlowInstance } from '@xyflow/react';
import { type KeyboardEvent, useCallback, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { ErrorBanner } from '../../lib/ErrorBanner';
import { useServices } from '../services/queries';
import { EdgePanel } from './EdgePanel';
import { edgeId, graphStructure, NODE_HEIGHT, NODE_WIDTH } from './layout';
import { LiveTopology, LiveTopologyContext } from './live';
import { labelChoices, normalizeSearch, parseLabelFilter, searchMatches, servicesMatching } from './model';
import { NodePanel } from './NodePanel';
import { useGraphLayout, useTopology } from './queries';
import { type Selection, type ServiceNodeType, TopologyGraph, type TrafficEdgeType } from './TopologyGraph';

type Flow = ReactFlowInstance<ServiceNodeType, TrafficEdgeType>;

/** Width of the side panel (globals.css, .side-panel). */
const PANEL_WIDTH = 420;

export function TopologyView() {
  const topology = useTopology();
  const services = useServices();
  const [live] = useState(() => new LiveTopology());
  useLayoutEffect(() => {
    if (topology.data) live.set(topology.data);
  }, [live, topology.data]);

  const structureKey = topology.data ? graphStructure(topology.data).key : undefined;
  // Recomputed only when the structure's key changes, never because a number did.
  // biome-ignore lint/correctness/useExhaustiveDependencies: the key stands for the structure
  const structure = useMemo(
    () => (topology.data ? graphStructure(topology.data) : undefined),
    [structureKey],
  );
  const layout = useGraphLayout(structure);

  const [searchText, setSearchText] = useState('');
  const search = normalizeSearch(searchText);
  const [labelText, setLabelText] = useState('');
  const choices = useMemo(() => labelChoices(services.data ?? []), [services.data]);
  const visible = useMemo(
    () => servicesMatching(services.data ?? [], parseLabelFilter(labelText)),
    [services.data, labelText],
  );
  const [selected, setSelected] = useState<Selection | undefined>();
  const close = useCallback(() => setSelected(undefined), []);

  const flow = useRef<Flow | null>(null);
  const graph = useRef<HTMLDivElement>(null);
  const positions = layout.data?.positions;
  // The panel covers the right of the graph: what was picked is brought into view beside it if it would be under it.
  const select = useCallback(
    (selection: Selection) => {
      setSelected(selection);
      const instance = flow.current;
      const box = graph.current?.getBoundingClientRect();
      const ends =
        selection.kind === 'node' ? [selection.service] : [selection.source, selection.destination];
      const points = ends.map((n) => positions?.[n]);
      if (!instance || !box || points.some((p) => !p)) return;
      const x = points.reduce((sum, p) => sum + (p?.x ?? 0), 0) / points.length + NODE_WIDTH / 2;
      const y = points.reduce((sum, p) => sum + (p?.y ?? 0), 0) / points.length + NODE_HEIGHT / 2;
      const { zoom } = instance.getViewport();
      const screen = instance.flowToScreenPosition({ x, y });
      const free = box.width - PANEL_WIDTH;
      if (screen.x > box.left + 24 && screen.x + (NODE_WIDTH / 2) * zoom < box.left + free - 24) return;
      void instance.setCenter(x + PANEL_WIDTH / 2 / zoom, y, { zoom, duration: 300 });
    },
    [positions],
  );
  const [ready, setReady] = useState(false);
  const onInit = useCallback((instance: Flow) => {
    flow.current = instance;
    setReady(true);
  }, []);

  const shownNames = useMemo(
    () => (structure ? structure.nodes.filter((n) => !visible || visible.has(n)) : []),
    [structure, visible],
  );

  // A new filter shows what it kept.
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs when the filter changes, not on every reading
  useLayoutEffect(() => {
    const instance = flow.current;
    if (!instance) return;
    const frame = requestAnimationFrame(() => void instance.fitView({ duration: 200 }));
    return () => cancelAnimationFrame(frame);
  }, [visible]);

  const onSearchKey = (event: KeyboardEvent<HTMLInputElement>) => {
    if (event.key !== 'Enter') return;
    event.preventDefault();
    const first = searchMatches(shownNames, search)[0];
    if (first) void flow.current?.fitView({ nodes: [{ id: first }], duration: 300, maxZoom: 1.25 });
  };

  const matchCount = search ? searchMatches(shownNames, search).length : undefined;
  const selectedNode =
    selected?.kind === 'node' ? topology.data?.nodes.find((n) => n.service === selected.service) : undefined;
  const selectedEdge =
    selected?.kind === 'edge'
      ? topology.data?.edges.find(
          (e) => edgeId(e.source, e.destination) === edgeId(selected.source, selected.destination),
        )
      : undefined;

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
      <div className="topology-toolbar">
        <span className="field-inline">
          <label htmlFor="topology-search">Search services</label>
          <input
            id="topology-search"
            type="search"
            value={searchText}
            onChange={(e) => setSearchText(e.target.value)}
            onKeyDown={onSearchKey}
            placeholder="name, Enter to zoom"
            data-testid="topology-search"
          />
        </span>
        {matchCount !== undefined ? (
          <span className="muted small" data-testid="topology-matches" aria-live="polite">
            {matchCount} {matchCount === 1 ? 'match' : 'matches'}
          </span>
        ) : null}
        <span className="field-inline">
          <label htmlFor="topology-label">Label</label>
          <select
            id="topology-label"
            value={labelText}
            onChange={(e) => setLabelText(e.target.value)}
            data-testid="topology-label"
          >
            <option value="">All services</option>
            {choices.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        </span>
        {structure ? (
          <span className="muted small" data-testid="topology-shown">
            {shownNames.length} of {structure.nodes.length} services
          </span>
        ) : null}
      </div>
      {topology.error ? <ErrorBanner error={topology.error} /> : null}
      {services.error ? <ErrorBanner error={services.error} /> : null}
      <div
        ref={graph}
        className="graph topology-graph"
        data-testid="topology-graph"
        data-ready={ready && layout.data ? 'true' : undefined}
        data-layout-ms={layout.data ? Math.round(layout.data.ms) : undefined}
        data-visible-nodes={structure ? shownNames.length : undefined}
      >
        {topology.isPending ? <p className="empty">Loading the topology…</p> : null}
        {topology.data && topology.data.nodes.length === 0 ? (
          <p className="empty">No services yet. Register one, or start a proxy.</p>
        ) : null}
        <LiveTopologyContext.Provider value={live}>
          {topology.data && structure && layout.data ? (
            <TopologyGraph
              structure={structure}
              positions={layout.data.positions}
              visible={visible}
              search={search}
              selected={selected}
              onSelect={select}
              onInit={onInit}
            />
          ) : null}
        </LiveTopologyContext.Provider>
        {selected?.kind === 'node' ? (
          <NodePanel
            key={`node:${selected.service}`}
            service={selected.service}
            node={selectedNode}
            onClose={close}
          />
        ) : null}
        {selected?.kind === 'edge' ? (
          <EdgePanel
            key={`edge:${edgeId(selected.source, selected.destination)}`}
            source={selected.source}
            destination={selected.destination}
            edge={selectedEdge}
            onClose={close}
          />
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

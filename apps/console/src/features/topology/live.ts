/**
 * The live numbers of the graph, outside React Flow's nodes and edges. The topology is read every second; if its
 * numbers lived in the nodes' data, every read would hand React Flow 1,000 new node objects to diff and re-render.
 * Instead the nodes and edges given to React Flow only change with the graph's structure or the filter, and each
 * node or edge on screen reads what it shows from this store. What it shows is kept as a view: the numbers as
 * formatted on screen, and the same view object is kept when a new reading formats the same, so a second's update
 * re-renders only the nodes and edges on screen whose text or look changed.
 */
import type { Topology, TopologyEdge, TopologyNode } from '@trellis/schema';
import { createContext, useContext, useSyncExternalStore } from 'react';
import { formatMs, formatPercent, formatRps } from '../../lib/format';
import { edgeId } from './layout';
import { ejectedCount, flowSeconds } from './model';

export interface NodeView {
  health: TopologyNode['health'];
  rps: string;
  ejected: number;
  /** What the node looks like when zoomed out, where no number is drawn. */
  look: string;
  key: string;
}

export interface EdgeView {
  idle: boolean;
  failing: boolean;
  breakerOpen: boolean;
  /** The calls are mutual TLS. */
  mtls: boolean;
  /** Calls an authorization policy denied in the live window. */
  denied: number;
  /** Calls a dry-run authorization policy would have denied in the live window. */
  dryRunDenied: number;
  /** The rate rounded to a tenth, as a plain number (the label's `data-rps`). */
  rps: number;
  rpsText: string;
  errors: string;
  p99: string;
  /** Seconds a dash takes along the edge; null when it does not move. */
  flowSeconds: number | null;
  /** Classes and speed: what the edge looks like when zoomed out, where labels are not drawn. */
  look: string;
  key: string;
}

/**
 * formatRps, without its toLocaleString below 1,000 (where there is no separator to place): that call builds a
 * number format each time, and the views format 4,000 rates a second.
 */
export function rpsText(rps: number): string {
  return rps >= 10 && rps < 999.5 ? String(Math.round(rps)) : formatRps(rps);
}

export function nodeView(n: TopologyNode): NodeView {
  const ejected = ejectedCount(n);
  const rps = rpsText(n.rps);
  const look = `${n.health}|${ejected}`;
  return { health: n.health, rps, ejected, look, key: `${look}|${rps}` };
}

export function edgeView(e: TopologyEdge): EdgeView {
  const failing = !e.idle && (e.errorRate ?? 0) > 0.05;
  const seconds = e.idle ? null : flowSeconds(e.rps);
  const errors = formatPercent(e.errorRate);
  const p99 = formatMs(e.p99);
  const look = `${e.idle}|${failing}|${e.breakerOpen}|${seconds}|${e.mtls}|${e.denied}|${e.dryRunDenied}`;
  const rate = rpsText(e.rps);
  return {
    idle: e.idle,
    failing,
    breakerOpen: e.breakerOpen,
    mtls: e.mtls,
    denied: e.denied,
    dryRunDenied: e.dryRunDenied,
    rps: Math.round(e.rps * 10) / 10,
    rpsText: rate,
    errors,
    p99,
    flowSeconds: seconds,
    look,
    key: `${look}|${rate}|${errors}|${p99}`,
  };
}

export class LiveTopology {
  private topology: Topology | undefined;
  private nodes = new Map<string, NodeView>();
  private edges = new Map<string, EdgeView>();
  private readonly listeners = new Set<() => void>();

  /** Takes a new reading and tells the nodes and edges on screen. */
  set(topology: Topology): void {
    if (topology === this.topology) return;
    this.topology = topology;
    const nodes = new Map<string, NodeView>();
    for (const n of topology.nodes) {
      const view = nodeView(n);
      const before = this.nodes.get(n.service);
      nodes.set(n.service, before?.key === view.key ? before : view);
    }
    const edges = new Map<string, EdgeView>();
    for (const e of topology.edges) {
      const id = edgeId(e.source, e.destination);
      const view = edgeView(e);
      const before = this.edges.get(id);
      edges.set(id, before?.key === view.key ? before : view);
    }
    this.nodes = nodes;
    this.edges = edges;
    for (const l of this.listeners) l();
  }

  readonly subscribe = (listener: () => void) => {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  };

  node(service: string): NodeView | undefined {
    return this.nodes.get(service);
  }

  edge(id: string): EdgeView | undefined {
    return this.edges.get(id);
  }
}

export const LiveTopologyContext = createContext<LiveTopology>(new LiveTopology());

/**
 * What a node or an edge on screen shows. Zoomed out only its look counts (numbers are not drawn there), so a change
 * of its numbers alone does not re-render it.
 */
function useLive<V extends { look: string }>(read: () => V | undefined, lookOnly: boolean): V | undefined {
  const live = useContext(LiveTopologyContext);
  const snapshot = () => (lookOnly ? read()?.look : read());
  const seen = useSyncExternalStore(live.subscribe, snapshot, snapshot);
  return seen === undefined ? undefined : read();
}

export function useLiveNode(service: string, lookOnly: boolean): NodeView | undefined {
  const live = useContext(LiveTopologyContext);
  return useLive(() => live.node(service), lookOnly);
}

export function useLiveEdge(id: string, lookOnly: boolean): EdgeView | undefined {
  const live = useContext(LiveTopologyContext);
  return useLive(() => live.edge(id), lookOnly);
}

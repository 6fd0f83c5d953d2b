/**
 * Graph layout with elkjs (layered, left to right). The layout depends only on the graph's structure (which services
 * and which calls), summed up in a key, so that it is computed again only when a node or an edge comes or goes.
 */
import type { Topology } from '@trellis/schema';
import ELK from 'elkjs/lib/elk.bundled.js';

export const NODE_WIDTH = 190;
export const NODE_HEIGHT = 64;

export interface GraphStructure {
  /** Changes exactly when the set of nodes or edges changes. */
  key: string;
  nodes: string[];
  /** [source, destination], both among `nodes`. */
  edges: [string, string][];
}

export interface Position {
  x: number;
  y: number;
}

export const edgeId = (source: string, destination: string) => `${source}>${destination}`;

export function graphStructure(topology: Pick<Topology, 'nodes' | 'edges'>): GraphStructure {
  const nodes = [...new Set(topology.nodes.map((n) => n.service))].sort();
  const known = new Set(nodes);
  const seen = new Set<string>();
  const edges: [string, string][] = [];
  for (const e of topology.edges) {
    const id = edgeId(e.source, e.destination);
    if (!known.has(e.source) || !known.has(e.destination) || seen.has(id)) continue;
    seen.add(id);
    edges.push([e.source, e.destination]);
  }
  edges.sort((a, b) => edgeId(...a).localeCompare(edgeId(...b)));
  return { key: JSON.stringify([nodes, edges]), nodes, edges };
}

let elk: InstanceType<typeof ELK> | undefined;

export async function layoutGraph(structure: GraphStructure): Promise<Record<string, Position>> {
  elk ??= new ELK();
  const result = await elk.layout({
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.spacing.nodeNode': '48',
      'elk.layered.spacing.nodeNodeBetweenLayers': '200',
      'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
    },
    children: structure.nodes.map((id) => ({ id, width: NODE_WIDTH, height: NODE_HEIGHT })),
    edges: structure.edges.map(([source, destination]) => ({
      id: edgeId(source, destination),
      sources: [source],
      targets: [destination],
    })),
  });
  const positions: Record<string, Position> = {};
  for (const child of result.children ?? []) positions[child.id] = { x: child.x ?? 0, y: child.y ?? 0 };
  return positions;
}

/**
 * Graph layout, layered left to right: callers before the services they call. The layout depends only on the graph's
 * structure (which services and which calls), summed up in a key, so that it is computed again only when a node or
 * an edge comes or goes. Small graphs are laid out by elkjs, whose placement is the tidiest; elkjs runs on the main
 * thread and takes seconds (tens of seconds at 1,000 services and 3,000 calls), so larger graphs get a simple
 * layered layout of our own (ranks by longest path, order in each rank by a few barycenter sweeps) that takes
 * milliseconds.
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
  const pairs = new Map<string, [string, string]>();
  for (const e of topology.edges) {
    if (!known.has(e.source) || !known.has(e.destination)) continue;
    pairs.set(edgeId(e.source, e.destination), [e.source, e.destination]);
  }
  // This runs on every reading (for the key): ids are made once and sorted in plain code-unit order, and the key is
  // a join, not JSON (names hold neither ">" nor a line break, so it is unambiguous).
  const ids = [...pairs.keys()].sort();
  const edges = ids.map((id) => pairs.get(id) as [string, string]);
  return { key: `${nodes.join('\n')}\n\n${ids.join('\n')}`, nodes, edges };
}

/** Graphs with more services than this get the fast layout rather than elkjs. */
export const ELK_MAX_NODES = 60;

const NODE_GAP = 48;
const RANK_GAP = 200;

let elk: InstanceType<typeof ELK> | undefined;

export async function layoutGraph(structure: GraphStructure): Promise<Record<string, Position>> {
  return structure.nodes.length > ELK_MAX_NODES ? fastLayout(structure) : elkLayout(structure);
}

/**
 * Ranks by longest path from the services nobody calls (calls that close a cycle are left out of the ranking),
 * then the order within each rank by the mean position of the neighbours in the rank before (sweeping right) or
 * after (sweeping left), which removes most crossings; each rank is centred vertically.
 */
export function fastLayout(structure: GraphStructure): Record<string, Position> {
  const index = new Map(structure.nodes.map((n, i) => [n, i]));
  const count = structure.nodes.length;
  const out: number[][] = Array.from({ length: count }, () => []);
  const into: number[][] = Array.from({ length: count }, () => []);
  for (const [s, d] of structure.edges) {
    const a = index.get(s);
    const b = index.get(d);
    if (a === undefined || b === undefined || a === b) continue;
    out[a]?.push(b);
    into[b]?.push(a);
  }
  // Depth-first (iteratively), marking the calls that go back to a service on the current path: cycle closers.
  const state = new Uint8Array(count);
  const back = new Set<number>();
  const order: number[] = [];
  for (let root = 0; root < count; root++) {
    if (state[root] !== 0) continue;
    const stack: [number, number][] = [[root, 0]];
    state[root] = 1;
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as [number, number];
      const [v, i] = top;
      const next = out[v]?.[i];
      if (next === undefined) {
        state[v] = 2;
        order.push(v);
        stack.pop();
        continue;
      }
      top[1] = i + 1;
      if (state[next] === 1) back.add(v * count + next);
      else if (state[next] === 0) {
        state[next] = 1;
        stack.push([next, 0]);
      }
    }
  }
  const rank = new Int32Array(count);
  for (let k = order.length - 1; k >= 0; k--) {
    const v = order[k] as number;
    for (const w of out[v] ?? []) {
      if (!back.has(v * count + w) && (rank[w] as number) < (rank[v] as number) + 1)
        rank[w] = (rank[v] as number) + 1;
    }
  }
  const ranks: number[][] = Array.from({ length: count === 0 ? 0 : Math.max(...rank) + 1 }, () => []);
  for (let v = 0; v < count; v++) ranks[rank[v] as number]?.push(v);
  const pos = new Float64Array(count);
  const renumber = (layer: number[]) => {
    for (const [i, v] of layer.entries()) pos[v] = i;
  };
  for (const layer of ranks) if (layer) renumber(layer);
  const sweep = (layer: number[], neighbours: number[][]) => {
    const key = new Map<number, number>();
    for (const v of layer) {
      const ns = neighbours[v] ?? [];
      key.set(
        v,
        ns.length ? ns.reduce((sum, n) => sum + (pos[n] as number), 0) / ns.length : (pos[v] as number),
      );
    }
    layer.sort((a, b) => (key.get(a) as number) - (key.get(b) as number) || a - b);
    renumber(layer);
  };
  for (let pass = 0; pass < 4; pass++) {
    for (let r = 1; r < ranks.length; r++) sweep(ranks[r] ?? [], into);
    for (let r = ranks.length - 2; r >= 0; r--) sweep(ranks[r] ?? [], out);
  }
  const tallest = Math.max(0, ...ranks.map((l) => l?.length ?? 0));
  const positions: Record<string, Position> = {};
  ranks.forEach((layer, r) => {
    const offset = ((tallest - (layer?.length ?? 0)) * (NODE_HEIGHT + NODE_GAP)) / 2;
    layer?.forEach((v, i) => {
      positions[structure.nodes[v] as string] = {
        x: r * (NODE_WIDTH + RANK_GAP),
        y: offset + i * (NODE_HEIGHT + NODE_GAP),
      };
    });
  });
  return positions;
}

async function elkLayout(structure: GraphStructure): Promise<Record<string, Position>> {
  elk ??= new ELK();
  const result = await elk.layout({
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.spacing.nodeNode': String(NODE_GAP),
      'elk.layered.spacing.nodeNodeBetweenLayers': String(RANK_GAP),
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

import type { Topology, TopologyEdge, TopologyNode } from '@trellis/schema';
import { describe, expect, it } from 'vitest';
import {
  ELK_MAX_NODES,
  fastLayout,
  graphStructure,
  layoutGraph,
  NODE_HEIGHT,
  NODE_WIDTH,
} from '../src/features/topology/layout.ts';
import { trafficEdge } from './support/topology.ts';

const stats = { requests: 0, rps: 0, successRate: null, errorRate: null, p50: null, p95: null, p99: null };
const traffic = { ...stats, bytesIn: 0, bytesOut: 0, retries: 0 };
const node = (service: string, rps = 0): TopologyNode => ({
  ...traffic,
  rps,
  service,
  registered: true,
  health: 'healthy',
  reporter: null,
  endpoints: { total: 1, healthy: 1, unhealthy: 0, draining: 0 },
  ejectedEndpoints: [],
});
const edge = (source: string, destination: string, rps = 0): TopologyEdge =>
  trafficEdge(source, destination, { ...traffic, rps });
const topology = (nodes: TopologyNode[], edges: TopologyEdge[]): Topology => ({
  at: new Date().toISOString(),
  windowSeconds: 10,
  nodes,
  edges,
});

describe('topology layout', () => {
  it('keeps the same structure key when only numbers change', () => {
    const a = graphStructure(topology([node('a', 1), node('b', 2)], [edge('a', 'b', 1)]));
    const b = graphStructure(topology([node('b', 50), node('a', 9)], [edge('a', 'b', 30)]));
    expect(b.key).toBe(a.key);
  });

  it('changes the key when a node or an edge comes or goes', () => {
    const base = graphStructure(topology([node('a'), node('b')], [edge('a', 'b')]));
    expect(graphStructure(topology([node('a'), node('b'), node('c')], [edge('a', 'b')])).key).not.toBe(
      base.key,
    );
    expect(graphStructure(topology([node('a'), node('b')], [])).key).not.toBe(base.key);
  });

  it('leaves out edges to names that are not nodes', () => {
    expect(graphStructure(topology([node('a')], [edge('unknown', 'a')])).edges).toEqual([]);
  });

  it('lays calls out left to right with elkjs', async () => {
    const s = graphStructure(topology([node('a'), node('b'), node('c')], [edge('a', 'b'), edge('b', 'c')]));
    const p = await layoutGraph(s);
    expect(Object.keys(p).sort()).toEqual(['a', 'b', 'c']);
    expect(p.b?.x).toBeGreaterThanOrEqual((p.a?.x ?? 0) + NODE_WIDTH);
    expect(p.c?.x).toBeGreaterThanOrEqual((p.b?.x ?? 0) + NODE_WIDTH);
  });

  it('lays a large mesh out in milliseconds, left to right, no two services on top of each other', () => {
    const names = Array.from({ length: 1000 }, (_, i) => `s${String(i).padStart(4, '0')}`);
    const calls: [string, string][] = [];
    for (let i = 0; i < 3000; i++) {
      const from = (i * 7919) % 900;
      calls.push([names[from] as string, names[from + 1 + ((i * 31) % 99)] as string]);
    }
    // One cycle, which must not stop the layout.
    calls.push(['s0999', 's0000']);
    const s = graphStructure(
      topology(
        names.map((n) => node(n)),
        calls.map(([a, b]) => edge(a, b)),
      ),
    );
    const started = performance.now();
    const p = fastLayout(s);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(Object.keys(p)).toHaveLength(1000);
    const seen = new Set<string>();
    for (const q of Object.values(p)) {
      const cell = `${q.x}:${q.y}`;
      expect(seen.has(cell)).toBe(false);
      seen.add(cell);
    }
    for (const [a, b] of s.edges) {
      if (a === 's0999' && b === 's0000') continue;
      expect(p[b]?.x).toBeGreaterThanOrEqual((p[a]?.x ?? 0) + NODE_WIDTH);
    }
    const inOneRank = Object.values(p).filter((q) => q.x === p.s0000?.x);
    const ys = inOneRank.map((q) => q.y).sort((x, y) => x - y);
    for (let i = 1; i < ys.length; i++)
      expect((ys[i] ?? 0) - (ys[i - 1] ?? 0)).toBeGreaterThanOrEqual(NODE_HEIGHT);
  });

  it('uses elkjs up to ELK_MAX_NODES services and the fast layout above', async () => {
    const names = Array.from({ length: ELK_MAX_NODES + 1 }, (_, i) => `n${i}`);
    const s = graphStructure(
      topology(
        names.map((n) => node(n)),
        [],
      ),
    );
    expect(await layoutGraph(s)).toEqual(fastLayout(s));
  });
});

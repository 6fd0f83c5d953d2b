import type { Topology, TopologyEdge, TopologyNode } from '@trellis/schema';
import { describe, expect, it } from 'vitest';
import { graphStructure, layoutGraph, NODE_WIDTH } from '../src/features/topology/layout.ts';

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
});
const edge = (source: string, destination: string, rps = 0): TopologyEdge => ({
  ...traffic,
  rps,
  source,
  destination,
  reporter: 'source',
  idle: false,
  declared: true,
});
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
});

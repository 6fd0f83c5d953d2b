'use client';

import type { Topology, TopologyEdge, TopologyNode } from '@trellis/schema';
import {
  Background,
  BaseEdge,
  Controls,
  type Edge,
  EdgeLabelRenderer,
  type EdgeProps,
  getBezierPath,
  Handle,
  MarkerType,
  type Node,
  type NodeProps,
  Position,
  ReactFlow,
} from '@xyflow/react';
import { useRouter } from 'next/navigation';
import { useCallback, useMemo } from 'react';
import { formatMs, formatPercent, formatRps } from '../../lib/format';
import { edgeId, type GraphStructure, type Position as XY } from './layout';

type ServiceNodeType = Node<{ node: TopologyNode }, 'service'>;
type TrafficEdgeType = Edge<{ edge: TopologyEdge }, 'traffic'>;

function ServiceNode({ data }: NodeProps<ServiceNodeType>) {
  const n = data.node;
  return (
    <div
      className={`topology-node health-${n.health}${n.registered ? ' clickable' : ''}`}
      data-testid={`topology-node-${n.service}`}
      data-health={n.health}
      title={`${n.service}: ${n.health}`}
    >
      <Handle type="target" position={Position.Left} />
      <div className="topology-node-name">{n.service}</div>
      <div className="topology-node-stats">
        <span className="health-dot" aria-hidden="true" /> {n.health} · {formatRps(n.rps)} rps
      </div>
      <Handle type="source" position={Position.Right} />
    </div>
  );
}

function TrafficEdge(props: EdgeProps<TrafficEdgeType>) {
  const { id, sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition, markerEnd, data } = props;
  const [path, labelX, labelY] = getBezierPath({
    sourceX,
    sourceY,
    targetX,
    targetY,
    sourcePosition,
    targetPosition,
  });
  const e = data?.edge;
  const failing = (e?.errorRate ?? 0) > 0.05;
  return (
    <>
      <BaseEdge
        id={id}
        path={path}
        markerEnd={markerEnd}
        className={e?.idle ? 'traffic-edge idle' : failing ? 'traffic-edge failing' : 'traffic-edge'}
      />
      {e && !e.idle ? (
        <EdgeLabelRenderer>
          <div
            className="edge-label nodrag nopan"
            style={{ transform: `translate(-50%, -50%) translate(${labelX}px, ${labelY}px)` }}
            data-testid={`topology-edge-${e.source}-${e.destination}`}
            data-rps={e.rps}
          >
            <div>
              {formatRps(e.rps)} rps · {formatPercent(e.errorRate)} err
            </div>
            <div>p99 {formatMs(e.p99)}</div>
          </div>
        </EdgeLabelRenderer>
      ) : null}
    </>
  );
}

const nodeTypes = { service: ServiceNode };
const edgeTypes = { traffic: TrafficEdge };

export function TopologyGraph(props: {
  topology: Topology;
  structure: GraphStructure;
  positions: Record<string, XY>;
}) {
  const { topology, structure, positions } = props;
  const router = useRouter();
  // A registered service opens its detail page; names only seen in traffic (unknown callers) have none.
  const onNodeClick = useCallback(
    (_: unknown, node: ServiceNodeType) => {
      if (node.data.node.registered) router.push(`/services/${encodeURIComponent(node.id)}`);
    },
    [router],
  );
  const nodes = useMemo<ServiceNodeType[]>(() => {
    const byName = new Map(topology.nodes.map((n) => [n.service, n]));
    return structure.nodes.flatMap((name) => {
      const node = byName.get(name);
      const position = positions[name];
      if (!node || !position) return [];
      return [{ id: name, type: 'service', position, data: { node }, draggable: false }];
    });
  }, [topology, structure, positions]);
  const edges = useMemo<TrafficEdgeType[]>(() => {
    const present = new Set(nodes.map((n) => n.id));
    return topology.edges
      .filter((e) => present.has(e.source) && present.has(e.destination))
      .map((e) => ({
        id: edgeId(e.source, e.destination),
        type: 'traffic',
        source: e.source,
        target: e.destination,
        data: { edge: e },
        markerEnd: { type: MarkerType.ArrowClosed },
      }));
  }, [topology, nodes]);

  return (
    <ReactFlow
      nodes={nodes}
      edges={edges}
      nodeTypes={nodeTypes}
      edgeTypes={edgeTypes}
      fitView
      minZoom={0.1}
      nodesConnectable={false}
      onNodeClick={onNodeClick}
      proOptions={{ hideAttribution: true }}
      colorMode="dark"
    >
      <Background />
      <Controls showInteractive={false} />
    </ReactFlow>
  );
}

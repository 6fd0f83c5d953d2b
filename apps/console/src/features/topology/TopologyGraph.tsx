'use client';

/**
 * The topology graph (React Flow). Built to stay interactive at 1,000 services and 3,000 edges: the nodes and edges
 * handed to React Flow change only with the structure, the layout or the label filter, never with the numbers of a
 * second (each node and edge on screen reads those from the live store), only what is on screen is rendered, and
 * zoomed out too far to read them the numbers, labels, arrows and the flow animation are left out. There is no dotted
 * background: without a GPU, repainting it on every frame of a pan or of the flow animation halved the frame rate.
 */
import {
  BaseEdge,
  Controls,
  type Edge,
  type EdgeProps,
  getBezierPath,
  Handle,
  MarkerType,
  type Node,
  type NodeProps,
  Position,
  ReactFlow,
  type ReactFlowInstance,
  useStore,
} from '@xyflow/react';
import {
  createContext,
  type KeyboardEvent,
  memo,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  useSyncExternalStore,
} from 'react';
import { createPortal } from 'react-dom';
import { EdgeMarks, labelShown, securityClasses } from './EdgeMarks';
import { edgeId, type GraphStructure, NODE_HEIGHT, NODE_WIDTH, type Position as XY } from './layout';
import { useLiveEdge, useLiveNode } from './live';
import { matchesSearch } from './model';

type ServiceNodeType = Node<{ service: string }, 'service'>;
type TrafficEdgeType = Edge<{ source: string; destination: string }, 'traffic'>;

/** What is selected in the graph: a service, or the calls from one service to another. */
export type Selection =
  | { kind: 'node'; service: string }
  | { kind: 'edge'; source: string; destination: string };

interface GraphUi {
  /** The search, normalized (see model.normalizeSearch); empty for none. */
  search: string;
  /** Zoomed out below DETAIL_ZOOM: numbers, labels and the flow animation are left out. */
  far: boolean;
  /** The flow may move (the user did not ask for reduced motion). */
  motion: boolean;
  /**
   * React Flow's layer for edge labels, found once. Its EdgeLabelRenderer looks the layer up with a querySelector in
   * a store selector of every label, run on every store change: thousands of lookups per frame at 3,000 edges.
   */
  labels: HTMLElement | null;
  selected: Selection | undefined;
  select: (selection: Selection) => void;
}

const GraphUiContext = createContext<GraphUi>({
  search: '',
  far: false,
  motion: false,
  labels: null,
  selected: undefined,
  select: () => {},
});

/** Below this zoom the edge labels and the flow animation are too small to read; they are left out. */
const DETAIL_ZOOM = 0.45;

const ServiceNode = memo(function ServiceNode({ id }: NodeProps<ServiceNodeType>) {
  const { search, far, selected } = useContext(GraphUiContext);
  const n = useLiveNode(id, far);
  const match = matchesSearch(id, search);
  const health = n?.health ?? 'idle';
  const ejected = n?.ejected ?? 0;
  const classes = [
    'topology-node',
    `health-${health}`,
    'clickable',
    match ? 'match' : search !== '' ? 'dimmed' : '',
    selected?.kind === 'node' && selected.service === id ? 'selected' : '',
  ];
  return (
    <div
      className={classes.join(' ')}
      data-testid={`topology-node-${id}`}
      data-health={health}
      data-match={match ? 'true' : undefined}
      data-dimmed={search !== '' && !match ? 'true' : undefined}
      title={`${id}: ${health}`}
    >
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <div className="topology-node-name">{id}</div>
      {far ? null : (
        <div className="topology-node-stats">
          <span className="health-dot" aria-hidden="true" /> {health} · {n?.rps ?? '0'} rps
        </div>
      )}
      {ejected > 0 ? (
        <span className="node-badge ejected" data-testid={`topology-node-ejected-${id}`}>
          {ejected} ejected
        </span>
      ) : null}
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </div>
  );
});

function TrafficEdge(props: EdgeProps<TrafficEdgeType>) {
  const {
    id,
    source,
    target,
    sourceX,
    sourceY,
    targetX,
    targetY,
    sourcePosition,
    targetPosition,
    markerEnd,
  } = props;
  const { search, far, motion, labels, selected, select } = useContext(GraphUiContext);
  const e = useLiveEdge(id, far);
  const [path, labelX, labelY] = getBezierPath({
    sourceX,
    sourceY,
    targetX,
    targetY,
    sourcePosition,
    targetPosition,
  });
  const idle = e?.idle ?? true;
  const seconds = e?.flowSeconds ?? null;
  const dimmed = search !== '' && !matchesSearch(source, search) && !matchesSearch(target, search);
  const isSelected =
    selected?.kind === 'edge' && selected.source === source && selected.destination === target;
  const classes = [
    'traffic-edge',
    idle ? 'idle' : e?.failing ? 'failing' : '',
    seconds !== null && !far ? 'flowing' : '',
    e?.breakerOpen ? 'breaker-open' : '',
    ...securityClasses(e),
    dimmed ? 'dimmed' : '',
    isSelected ? 'selected' : '',
  ];
  return (
    <>
      <BaseEdge
        id={id}
        path={path}
        markerEnd={markerEnd}
        className={classes.join(' ')}
        interactionWidth={far ? 0 : 20}
      />
      {seconds !== null && !far && motion ? (
        <circle r={3.5} className="flow-dot">
          <animateMotion dur={`${seconds}s`} repeatCount="indefinite" path={path} />
        </circle>
      ) : null}
      {labels && e && !far && labelShown(e)
        ? createPortal(
            <button
              type="button"
              className={`edge-label nodrag nopan${dimmed ? ' dimmed' : ''}`}
              style={{ transform: `translate(-50%, -50%) translate(${labelX}px, ${labelY}px)` }}
              data-testid={`topology-edge-${source}-${target}`}
              data-rps={e.rps}
              data-breaker-open={e.breakerOpen ? 'true' : undefined}
              data-mtls={e.mtls ? 'true' : undefined}
              data-denied={e.denied > 0 ? e.denied : undefined}
              title={`Calls from ${source} to ${target}${e.mtls ? ' (mTLS)' : ''}`}
              onClick={() => select({ kind: 'edge', source, destination: target })}
            >
              <span className="edge-label-line">
                {e.rpsText} rps · {e.errors} err
              </span>
              <span className="edge-label-line">p99 {e.p99}</span>
              <EdgeMarks view={e} source={source} target={target} />
            </button>,
            labels,
          )
        : null}
    </>
  );
}

const nodeTypes = { service: ServiceNode };
const edgeTypes = { traffic: TrafficEdge };
const MARKER = { type: MarkerType.ArrowClosed };

const REDUCED_MOTION = '(prefers-reduced-motion: reduce)';

function subscribeMotion(onChange: () => void) {
  const query = window.matchMedia(REDUCED_MOTION);
  query.addEventListener('change', onChange);
  return () => query.removeEventListener('change', onChange);
}

/** False when the user asked for reduced motion (and on the server, where nothing moves). */
function useMotionAllowed(): boolean {
  return useSyncExternalStore(
    subscribeMotion,
    () => !window.matchMedia(REDUCED_MOTION).matches,
    () => false,
  );
}

/** Tells whether the graph is zoomed out below DETAIL_ZOOM (read inside React Flow, where its store is). */
function ZoomWatch({ onFar }: { onFar: (far: boolean) => void }) {
  const far = useStore((s) => s.transform[2] < DETAIL_ZOOM);
  useEffect(() => onFar(far), [far, onFar]);
  return null;
}

export interface TopologyGraphProps {
  structure: GraphStructure;
  positions: Record<string, XY>;
  /** The services the label filter keeps; undefined for all. */
  visible: ReadonlySet<string> | undefined;
  search: string;
  selected: Selection | undefined;
  onSelect: (selection: Selection) => void;
  onInit: (flow: ReactFlowInstance<ServiceNodeType, TrafficEdgeType>) => void;
}

export const TopologyGraph = memo(function TopologyGraph(props: TopologyGraphProps) {
  const { structure, positions, visible, search, selected, onSelect, onInit } = props;
  const [far, setFar] = useState(false);
  const motion = useMotionAllowed();
  const wrapper = useRef<HTMLDivElement>(null);
  const [labels, setLabels] = useState<HTMLElement | null>(null);
  const init = useCallback(
    (flow: ReactFlowInstance<ServiceNodeType, TrafficEdgeType>) => {
      setLabels(wrapper.current?.querySelector<HTMLElement>('.react-flow__edgelabel-renderer') ?? null);
      onInit(flow);
    },
    [onInit],
  );
  // The flow animation repaints the edges on screen each frame; it pauses while the graph is panned or zoomed.
  const onMoveStart = useCallback(() => {
    for (const svg of wrapper.current?.querySelectorAll('svg') ?? []) svg.pauseAnimations();
  }, []);
  const onMoveEnd = useCallback(() => {
    for (const svg of wrapper.current?.querySelectorAll('svg') ?? []) svg.unpauseAnimations();
  }, []);
  const nodes = useMemo<ServiceNodeType[]>(
    () =>
      structure.nodes.flatMap((name) => {
        const position = positions[name];
        if (!position) return [];
        return [
          {
            id: name,
            type: 'service',
            position,
            data: { service: name },
            width: NODE_WIDTH,
            height: NODE_HEIGHT,
            draggable: false,
            hidden: visible !== undefined && !visible.has(name),
            ariaLabel: `Service ${name}`,
          },
        ];
      }),
    [structure, positions, visible],
  );
  const edges = useMemo<TrafficEdgeType[]>(
    () =>
      structure.edges
        .filter(([s, d]) => positions[s] && positions[d])
        .map(([source, destination]) => ({
          id: edgeId(source, destination),
          type: 'traffic',
          source,
          target: destination,
          data: { source, destination },
          markerEnd: MARKER,
          hidden: visible !== undefined && !(visible.has(source) && visible.has(destination)),
          ariaLabel: `Calls from ${source} to ${destination}`,
        })),
    [structure, positions, visible],
  );
  const ui = useMemo<GraphUi>(
    () => ({ search, far, motion, labels, selected, select: onSelect }),
    [search, far, motion, labels, selected, onSelect],
  );
  const onNodeClick = useCallback(
    (_: unknown, node: ServiceNodeType) => onSelect({ kind: 'node', service: node.id }),
    [onSelect],
  );
  const onEdgeClick = useCallback(
    (_: unknown, edge: TrafficEdgeType) =>
      onSelect({ kind: 'edge', source: edge.source, destination: edge.target }),
    [onSelect],
  );
  // Enter or Space on a focused node opens its panel, as a click does.
  const onKeyDown = useCallback(
    (event: KeyboardEvent<HTMLDivElement>) => {
      if (event.key !== 'Enter' && event.key !== ' ') return;
      const id = (event.target as HTMLElement).closest('.react-flow__node')?.getAttribute('data-id');
      if (id) {
        event.preventDefault();
        onSelect({ kind: 'node', service: id });
      }
    },
    [onSelect],
  );

  return (
    <GraphUiContext.Provider value={ui}>
      <ReactFlow
        ref={wrapper}
        className={far ? 'topology-flow zoomed-out' : 'topology-flow'}
        onMoveStart={onMoveStart}
        onMoveEnd={onMoveEnd}
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        edgeTypes={edgeTypes}
        onInit={init}
        fitView
        minZoom={0.05}
        onlyRenderVisibleElements
        nodesConnectable={false}
        nodesDraggable={false}
        elementsSelectable={false}
        onNodeClick={onNodeClick}
        onEdgeClick={onEdgeClick}
        onKeyDown={onKeyDown}
        proOptions={{ hideAttribution: true }}
        colorMode="dark"
      >
        <ZoomWatch onFar={setFar} />
        <Controls showInteractive={false} />
      </ReactFlow>
    </GraphUiContext.Provider>
  );
});

export type { ServiceNodeType, TrafficEdgeType };

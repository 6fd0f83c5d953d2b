/** @trellis/demo as a library: what tests (and other tools) start demo meshes with. */
export { chainOf, createDemoApp, type DemoAppOptions, type Flakiness, listenDemoApp } from './app.ts';
export { type DemoConfig, loadDemoConfig } from './config.ts';
export { ensureServices, listProxies, waitForControlPlane, waitForSynced } from './control-api.ts';
export {
  allocatePorts,
  freePort,
  type IngressHandle,
  type InstanceHandle,
  type Mesh,
  type MeshOptions,
  startMesh,
} from './launcher.ts';
export { type ExitInfo, isRunning, type ProcessSpec, Supervised, signalGroup } from './supervisor.ts';
export { DEMO_INGRESS, DEMO_INSTANCES, FLAKY, type IngressSpec, type InstanceSpec } from './topology.ts';
export { TrafficGenerator, type TrafficResult, type TrafficStats } from './traffic.ts';

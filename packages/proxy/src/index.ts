/** @trellis/proxy: the data plane as a library. */

export { type Bootstrap, ControlClient, type ControlClientOptions } from './control-client.ts';
export { IdentityManager, type WorkloadCertificate } from './identity.ts';
export { type ApplyResult, createProxy, ProxyConfigError, type ProxyOptions, TrellisProxy } from './proxy.ts';
export type { TelemetrySink } from './telemetry/recorder.ts';
export type { Clock, Dispatch, Layer, Rng } from './types.ts';

/** @trellis/proxy: the data plane as a library. */
export { type ApplyResult, createProxy, ProxyConfigError, type ProxyOptions, TrellisProxy } from './proxy.ts';
export type { TelemetrySink } from './telemetry/recorder.ts';
export type { Clock, Dispatch, Layer, Rng } from './types.ts';

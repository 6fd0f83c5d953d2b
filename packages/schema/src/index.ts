/** @trellis/schema: the mesh model and the wire protocol, defined once with zod and shared by every part of Trellis. */
export * from './api.ts';
export * from './common.ts';
export * from './endpoint.ts';
export * from './errors.ts';
export * from './events.ts';
export * from './identity.ts';
export * from './latency.ts';
export * from './metrics.ts';
export * from './policy.ts';
export * from './proxy.ts';
export * from './proxy-status.ts';
export * from './resources.ts';
export * from './route.ts';
export * from './scope.ts';
export * from './service.ts';
export * from './stream.ts';
export * from './telemetry.ts';

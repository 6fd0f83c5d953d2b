/** @trellis/control as a library: what tests and other packages start a control plane with. */
export { type Config, loadConfig } from './config.ts';
export { buildApp } from './http/app.ts';
export { createLogger } from './logger.ts';
export { type ControlPlane, startControlPlane } from './server.ts';
export { ProxyStream, type ProxyStreamOptions } from './stream/hub.ts';
export { sliceFor } from './stream/slice.ts';

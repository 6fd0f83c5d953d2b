/**
 * What the primary of `trellis-proxy --workers N` and its worker processes say to each other over the cluster's
 * IPC channel (JSON). The primary is the one proxy the rest of the mesh sees: it reads the config, holds the
 * control-plane stream and the workload identity, and serves the admin listener; workers carry the traffic and
 * answer to it.
 */
import type { FieldError, TelemetryFrame } from '@trellis/schema';

/** Set in a worker's environment to its index: `trellis-proxy` started with it runs as a worker. */
export const WORKER_ENV = 'TRELLIS_PROXY_WORKER';

/** The page of a worker's admin source the primary asks for. */
export type AdminPage = 'config' | 'clusters' | 'stats' | 'metrics';

/** A certificate and its key, as the primary's IdentityManager holds it, for the workers' mTLS. */
export interface WorkerCertificate {
  keyPem: string;
  chainPem: string[];
  rootsPem: string[];
}

export type ToWorker =
  /** The config to start with (its listener ports chosen by the primary), and the certificate if there is one. */
  | { type: 'start'; config: unknown; certificate?: WorkerCertificate }
  | { type: 'apply'; id: number; config: unknown }
  | { type: 'certificate'; certificate: WorkerCertificate }
  | { type: 'admin'; id: number; page: AdminPage }
  /** Stop accepting, finish the requests in flight (up to the drain timeout), exit. */
  | { type: 'drain' };

export type ApplyAnswer =
  | { ok: true; revision: number }
  | { ok: false; message: string; errors: FieldError[] };

export type FromWorker =
  /** The worker listens for messages: the primary may send `start` (one sent before would be lost). */
  | { type: 'hello' }
  | { type: 'ready'; revision: number }
  /** The worker could not start with the config it was given. */
  | { type: 'failed'; message: string; errors: FieldError[] }
  | { type: 'applied'; id: number; result: ApplyAnswer }
  | { type: 'admin'; id: number; value?: unknown; error?: string }
  | { type: 'telemetry'; frame: TelemetryFrame };

/**
 * The shape of GET /api/v1/proxies: every proxy streaming from any control-plane replica (and those that left
 * less than a TTL ago), with what it was sent, what it acknowledged or refused, and how long convergence took.
 * Part of the shared schema because the console and the CLI read it too.
 */
import { z } from 'zod';
import { FieldError } from './errors.ts';
import { ProxyIdentity } from './stream.ts';

/**
 * SYNCED: acknowledged the current revision (or the last one that changed its slice). STALE: behind and has not
 * refused the last message sent (in flight, or still applying). NACKED: refused the last message sent.
 * DISCONNECTED: gone, listed until its endpoint's TTL runs out.
 */
export const ProxySyncStatus = z.enum(['SYNCED', 'STALE', 'NACKED', 'DISCONNECTED']);
export type ProxySyncStatus = z.infer<typeof ProxySyncStatus>;

export const ProxyStatus = z.object({
  node: ProxyIdentity,
  status: ProxySyncStatus,
  /** The control-plane replica the proxy streams from (GET /api/v1/proxies gathers every replica's proxies). */
  replica: z.string(),
  /** The endpoint the proxy registered, once registered. */
  endpointId: z.string().nullable(),
  connectedAt: z.iso.datetime(),
  disconnectedAt: z.iso.datetime().nullable(),
  /** The newest mesh revision this control plane knows. */
  currentRevision: z.number().int(),
  lastSent: z
    .object({
      /** The whole slice, its configuration alone, or an endpoints delta. */
      kind: z.enum(['snapshot', 'config', 'endpoints']),
      revision: z.number().int(),
      nonce: z.string(),
      sentAt: z.iso.datetime(),
    })
    .nullable(),
  /** The newest revision the proxy is known to be current with (it acknowledged it or nothing of it concerned it). */
  ackedRevision: z.number().int().nullable(),
  lastNack: z
    .object({
      revision: z.number().int(),
      nonce: z.string(),
      error: z.string(),
      errors: z.array(FieldError),
      at: z.iso.datetime(),
    })
    .nullable(),
  /** Milliseconds from the commit of the last acknowledged revision to its ACK; null until one is measured. */
  convergenceMs: z.number().nullable(),
  telemetry: z.object({ frames: z.number().int(), lastAt: z.iso.datetime().nullable() }),
});
export type ProxyStatus = z.infer<typeof ProxyStatus>;

/** One control-plane replica's part of the answer: how many proxies it reported, or why it could not be asked. */
export const ReplicaReport = z.object({
  id: z.string(),
  url: z.string(),
  proxies: z.number().int(),
  error: z.string().nullable(),
});
export type ReplicaReport = z.infer<typeof ReplicaReport>;

export const ProxyStatusList = z.object({ items: z.array(ProxyStatus), replicas: z.array(ReplicaReport) });
export type ProxyStatusList = z.infer<typeof ProxyStatusList>;

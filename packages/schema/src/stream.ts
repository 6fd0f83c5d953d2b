/**
 * The proxy ⇄ control-plane protocol on `/api/v1/stream/proxy` (a WebSocket, one JSON message per frame),
 * modelled on Envoy's xDS: the control plane sends versioned snapshots with a nonce; the proxy validates and
 * applies each atomically and answers ACK (applied) or NACK (refused, with the error, keeping its previous
 * snapshot). A proxy's bootstrap (its node identity, listeners and limits) stays local; the control plane sends
 * the mesh slice the proxy's service needs: the services it can reach, their endpoints, routes and policies.
 */
import { z } from 'zod';
import { AuthorizationPolicySpec } from './authz.ts';
import { count, DnsLabel, Labels, text } from './common.ts';
import { Address } from './endpoint.ts';
import { FieldError } from './errors.ts';
import { TrafficPolicySpec } from './policy.ts';
import { ProxyEndpoint } from './proxy.ts';
import { RouteRuleSpec } from './route.ts';
import { ServiceSpec } from './service.ts';
import { MeshHttpSettings, MtlsMode } from './settings.ts';
import { TelemetryFrame } from './telemetry.ts';
import { STREAM_PROTOCOL_VERSION } from './wire-limits.ts';

export const ProxyIdentity = z.strictObject({
  service: DnsLabel,
  instance: text(253).min(1, { error: 'must not be empty' }),
  address: Address,
  /** The inbound listener port other proxies reach this instance on (registered as its endpoint). */
  port: count(1, 65535),
  zone: text(63).default(''),
  labels: Labels.default({}),
});
export type ProxyIdentity = z.infer<typeof ProxyIdentity>;

/** The part of a ProxyConfig the control plane owns. */
export const MeshSlice = z.strictObject({
  services: z.array(ServiceSpec),
  endpoints: z.array(ProxyEndpoint),
  routes: z.array(RouteRuleSpec),
  policies: z.array(TrafficPolicySpec),
  /**
   * The authorization policies the proxy's inbound listeners enforce: its service's and the mesh-wide ones. Left out
   * by control planes that predate them, which reads as none.
   */
  authorizationPolicies: z.array(AuthorizationPolicySpec).optional(),
  /**
   * The mesh-wide mutual TLS mode (mesh settings); it replaces the one in the proxy's own file. Left out by control
   * planes that predate it: the proxy keeps its own.
   */
  mtls: z.strictObject({ mode: MtlsMode }).optional(),
  /** The mesh-wide path settings (MeshHttpSettings); left out, the proxy keeps its own. */
  http: MeshHttpSettings.optional(),
});
export type MeshSlice = z.infer<typeof MeshSlice>;

export const HelloMessage = z.strictObject({
  type: z.literal('hello'),
  protocol: z.literal(STREAM_PROTOCOL_VERSION),
  token: text(512),
  node: ProxyIdentity,
  /** The revision the proxy already has (from disk), so an unchanged mesh need not be resent. */
  revision: count(0, 2_147_483_647).optional(),
  /** The mesh that revision belongs to (from its snapshot): revision numbers of another database mean nothing. */
  mesh: text(64).optional(),
});

export const AckMessage = z.strictObject({
  type: z.literal('ack'),
  revision: count(0, 2_147_483_647),
  nonce: text(64),
});

export const NackMessage = z.strictObject({
  type: z.literal('nack'),
  revision: count(0, 2_147_483_647),
  nonce: text(64),
  error: text(4096),
  errors: z.array(FieldError).max(100).default([]),
});

export const TelemetryMessage = z.strictObject({
  type: z.literal('telemetry'),
  frames: z.array(TelemetryFrame).max(60),
});

/** Largest PEM accepted in a certificate message or request: a certificate or CSR is 1–2 KiB. */
const PEM_MAX = 16 * 1024;
const pem = (label: string) =>
  text(PEM_MAX).regex(new RegExp(`^-----BEGIN ${label}-----[\\s\\S]+-----END ${label}-----\\s*$`), {
    error: `must be a PEM ${label.toLowerCase()}`,
  });

/**
 * A certificate signing request for the proxy's identity (a PKCS#10 CSR whose only URI SAN is the SPIFFE ID of
 * the service the proxy registered as). The key stays with the proxy. `id` pairs the answer with the request.
 */
export const CsrMessage = z.strictObject({
  type: z.literal('csr'),
  id: text(64).min(1),
  csr: pem('CERTIFICATE REQUEST'),
});

export const ProxyMessage = z.discriminatedUnion(
  'type',
  [HelloMessage, AckMessage, NackMessage, TelemetryMessage, CsrMessage],
  {
    error: 'type must be "hello", "ack", "nack", "telemetry" or "csr"',
  },
);
export type ProxyMessage = z.infer<typeof ProxyMessage>;

/** The full slice at a revision. The proxy replaces what it had with it. */
export const SnapshotMessage = z.strictObject({
  type: z.literal('snapshot'),
  revision: count(0, 2_147_483_647),
  nonce: text(64),
  /** Which mesh (database) the revision numbers belong to; the proxy sends it back with its revision in hello. */
  mesh: text(64).optional(),
  slice: z.unknown(),
});

/** The slice without its endpoints: what a configuration change sends when no endpoint in the slice changed. */
export const MeshSliceConfig = MeshSlice.omit({ endpoints: true });
export type MeshSliceConfig = z.infer<typeof MeshSliceConfig>;

/**
 * Only configuration changed in the slice (services, routes, policies), not its endpoints and not which services
 * it holds: the proxy replaces its configuration and keeps the endpoints it has, for the services still listed.
 */
export const ConfigMessage = z.strictObject({
  type: z.literal('config'),
  revision: count(0, 2_147_483_647),
  nonce: text(64),
  config: z.unknown(),
});

/** An endpoint of a service, by what identifies it. */
export const EndpointKey = z.strictObject({ address: Address, port: count(1, 65535) });
export type EndpointKey = z.infer<typeof EndpointKey>;

/** Endpoints added or changed (matched by address and port) and endpoints removed, for one service. */
export const EndpointChanges = z.strictObject({
  set: z.array(ProxyEndpoint).default([]),
  remove: z.array(EndpointKey).default([]),
});
export type EndpointChanges = z.infer<typeof EndpointChanges>;

/**
 * Only endpoints changed. `services` replaces the whole endpoint lists of the services it names; `changes` then
 * edits the lists of others, endpoint by endpoint, so that one instance joining a service of hundreds sends one
 * endpoint, not hundreds.
 */
export const EndpointsMessage = z.strictObject({
  type: z.literal('endpoints'),
  revision: count(0, 2_147_483_647),
  nonce: text(64),
  services: z.record(DnsLabel, z.array(ProxyEndpoint)).default({}),
  changes: z.record(DnsLabel, EndpointChanges).default({}),
});

/** The certificate issued for a CSR: the chain (leaf first) and the roots to trust, several during a rotation. */
export const CertificateMessage = z.strictObject({
  type: z.literal('certificate'),
  id: text(64).min(1),
  chain: z.array(pem('CERTIFICATE')).min(1).max(4),
  roots: z.array(pem('CERTIFICATE')).min(1).max(4),
  expiresAt: z.iso.datetime(),
});
export type CertificateMessage = z.infer<typeof CertificateMessage>;

/** A CSR refused, and why (another identity than the proxy's, a bad signature, no CA). */
export const CertificateErrorMessage = z.strictObject({
  type: z.literal('certificate-error'),
  id: text(64).min(1),
  error: text(4096),
});

/** What the control plane sends that is not a revision of the mesh: answers to CSRs. */
export const IdentityMessage = z.discriminatedUnion('type', [CertificateMessage, CertificateErrorMessage]);
export type IdentityMessage = z.infer<typeof IdentityMessage>;

export const ControlMessage = z.discriminatedUnion(
  'type',
  [SnapshotMessage, ConfigMessage, EndpointsMessage],
  {
    error: 'type must be "snapshot", "config" or "endpoints"',
  },
);
export type ControlMessage = z.infer<typeof ControlMessage>;

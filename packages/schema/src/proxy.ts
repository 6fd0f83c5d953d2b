/**
 * The proxy's configuration snapshot: everything one proxy needs, validated as a whole before it is applied.
 * Today it is read from a file; the control plane will push the same shape over a WebSocket. A proxy never
 * applies a snapshot that fails this schema: it keeps the one it has.
 */
import { z } from 'zod';
import { AuthorizationPolicySpec } from './authz.ts';
import { count, DnsLabel, durationMs, Labels, Port, text } from './common.ts';
import { Address, EndpointSpec } from './endpoint.ts';
import { TrafficPolicySpec } from './policy.ts';
import { RouteRuleSpec } from './route.ts';
import { ServiceSpec } from './service.ts';
import { MeshHttpSettings, MtlsMode } from './settings.ts';
import { MAX_HEADERS_LIMIT } from './wire-limits.ts';

const HOST_PATTERN = /^(\*|(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$/;

/** A host name, a wildcard suffix ("*.example.com") or "*" for any host. */
export const HostPattern = z
  .string()
  .max(253)
  .regex(HOST_PATTERN, { error: 'must be a lower-case host name, "*.suffix" or "*"' });

const listenerBase = {
  name: DnsLabel,
  address: Address.default('127.0.0.1'),
  /** 0 asks the OS for a free port (tests, ephemeral proxies). */
  port: count(0, 65535),
};

/** The local app calls other services through it: by Host header, or all traffic to one `service`. */
export const OutboundListener = z.strictObject({
  ...listenerBase,
  mode: z.literal('outbound'),
  protocol: z.enum(['http', 'tcp']).default('http'),
  /** Sends everything arriving on this listener to this service (required for tcp). */
  service: DnsLabel.optional(),
});

/** In front of the local app: every request goes to `upstream`. */
export const InboundListener = z.strictObject({
  ...listenerBase,
  mode: z.literal('inbound'),
  protocol: z.enum(['http', 'tcp']).default('http'),
  upstream: z.strictObject({ address: Address.default('127.0.0.1'), port: Port }),
  timeoutMs: durationMs().default(60_000),
});

export const IngressRoute = z.strictObject({
  host: HostPattern.default('*'),
  pathPrefix: text(1024).startsWith('/', { error: 'must start with "/"' }).default('/'),
  service: DnsLabel,
});

/** The edge: requests are routed by host and path prefix to services (longest prefix, exact host first). */
export const IngressListener = z.strictObject({
  ...listenerBase,
  mode: z.literal('ingress'),
  routes: z.array(IngressRoute).min(1, { error: 'needs at least one route' }).max(1024),
});

export const EgressRule = z.strictObject({
  host: HostPattern,
  ports: z.array(Port).max(64).optional(),
});

/** To hosts outside the mesh, only those on the allow-list; others get 403 egress_denied. */
export const EgressListener = z.strictObject({
  ...listenerBase,
  mode: z.literal('egress'),
  allow: z.array(EgressRule).max(1024).default([]),
  timeoutMs: durationMs().default(30_000),
});

export const Listener = z.discriminatedUnion(
  'mode',
  [OutboundListener, InboundListener, IngressListener, EgressListener],
  {
    error: 'mode must be "outbound", "inbound", "ingress" or "egress"',
  },
);
export type Listener = z.infer<typeof Listener>;
export type OutboundListener = z.infer<typeof OutboundListener>;
export type InboundListener = z.infer<typeof InboundListener>;
export type IngressListener = z.infer<typeof IngressListener>;
export type EgressListener = z.infer<typeof EgressListener>;

export const ProxyEndpoint = z.strictObject({ ...EndpointSpec.shape, service: DnsLabel });
export type ProxyEndpoint = z.infer<typeof ProxyEndpoint>;

/** Limits that protect the proxy itself from its clients. */

export const ProxyLimits = z.strictObject({
  maxHeaderBytes: count(1024, 1024 * 1024).default(16 * 1024),
  /** More request header fields than this answer 431, as in Envoy (whose default this is). */
  maxHeaders: count(1, MAX_HEADERS_LIMIT).default(100),
  headersTimeoutMs: durationMs(100).default(10_000),
  /**
   * The whole request, head and body, must arrive within this (0: no limit); else 408 and the connection is closed.
   * Five minutes, as Envoy's edge recommendation for `request_timeout`: a slow upload is cut off eventually.
   */
  requestTimeoutMs: durationMs(0).default(300_000),
  /**
   * A request body that makes no progress for this long (0: no limit) is answered 408 and its connection closed, so
   * that a client trickling nothing holds no connection (Envoy's `stream_idle_timeout`, shorter).
   */
  requestBodyIdleTimeoutMs: durationMs(0).default(30_000),
  keepAliveTimeoutMs: durationMs(100).default(60_000),
  /** Request bodies up to this size are buffered so that they can be retried and mirrored; larger ones stream. */
  retryBufferBytes: count(0, 16 * 1024 * 1024).default(64 * 1024),
  maxConnections: count(1, 1_000_000).default(10_000),
});
export type ProxyLimits = z.infer<typeof ProxyLimits>;

export const ProxyConfig = z
  .strictObject({
    /** The mesh revision this snapshot was built from (0 for a hand-written file). */
    revision: count(0, 2_147_483_647).default(0),
    node: z.strictObject({
      service: DnsLabel,
      instance: text(253).default(''),
      zone: text(63).default(''),
      /** Labels of this instance (e.g. version: v2), registered with its endpoint so routes can select it. */
      labels: Labels.default({}),
    }),
    listeners: z.array(Listener).max(256).default([]),
    services: z.array(ServiceSpec).default([]),
    endpoints: z.array(ProxyEndpoint).default([]),
    routes: z.array(RouteRuleSpec).default([]),
    policies: z.array(TrafficPolicySpec).default([]),
    /** Enforced by inbound listeners (see authz.ts): only those for this proxy's service or "*" take effect. */
    authorizationPolicies: z.array(AuthorizationPolicySpec).max(4096).default([]),
    limits: ProxyLimits.prefault({}),
    /**
     * Mutual TLS between sidecars, once the proxy holds a certificate (modes: MtlsMode). With a control plane, the
     * mesh-wide mode of its settings replaces this one.
     */
    mtls: z.strictObject({ mode: MtlsMode.default('permissive') }).prefault({}),
    /** How request paths are normalised (MeshHttpSettings); with a control plane, the mesh's replace these. */
    http: MeshHttpSettings.prefault({}),
  })
  .superRefine((config, ctx) => {
    const services = new Set(config.services.map((s) => s.name));
    const seen = new Map<string, number>();
    config.listeners.forEach((l, i) => {
      const key = `${l.address}:${l.port}`;
      const first = l.port === 0 ? undefined : seen.get(key);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['listeners', i, 'port'],
          message: `same address and port as listeners[${first}]`,
        });
      } else seen.set(key, i);
      if (l.mode === 'outbound' && l.service !== undefined && !services.has(l.service)) {
        ctx.addIssue({
          code: 'custom',
          path: ['listeners', i, 'service'],
          message: `no service "${l.service}" in services`,
        });
      }
      if (l.mode === 'outbound' && l.protocol === 'tcp' && l.service === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['listeners', i, 'service'],
          message: 'a tcp listener needs a service',
        });
      }
      if (l.mode === 'ingress') {
        l.routes.forEach((r, j) => {
          if (!services.has(r.service)) {
            ctx.addIssue({
              code: 'custom',
              path: ['listeners', i, 'routes', j, 'service'],
              message: `no service "${r.service}" in services`,
            });
          }
        });
      }
    });
    const names = new Set<string>();
    config.listeners.forEach((l, i) => {
      if (names.has(l.name))
        ctx.addIssue({
          code: 'custom',
          path: ['listeners', i, 'name'],
          message: 'listener names must be unique',
        });
      names.add(l.name);
    });
    config.endpoints.forEach((e, i) => {
      if (!services.has(e.service)) {
        ctx.addIssue({
          code: 'custom',
          path: ['endpoints', i, 'service'],
          message: `no service "${e.service}" in services`,
        });
      }
    });
    config.routes.forEach((r, i) => {
      if (!services.has(r.service)) {
        ctx.addIssue({
          code: 'custom',
          path: ['routes', i, 'service'],
          message: `no service "${r.service}" in services`,
        });
      }
    });
    config.policies.forEach((p, i) => {
      if (!services.has(p.service)) {
        ctx.addIssue({
          code: 'custom',
          path: ['policies', i, 'service'],
          message: `no service "${p.service}" in services`,
        });
      }
    });
  });
export type ProxyConfig = z.infer<typeof ProxyConfig>;
export type ProxyConfigInput = z.input<typeof ProxyConfig>;

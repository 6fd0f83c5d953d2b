/**
 * A Service: a named destination in the mesh, reached on one port with one protocol.
 *
 * `dependencies` names the services this one calls. Its proxies are then sent only those services (and their
 * own), not the whole mesh, which is what keeps proxy memory and push traffic flat as a mesh grows (Istio's
 * Sidecar resource does the same job). Left out, the proxies get every service, as in a mesh without it.
 *
 * `dns` makes the service's endpoints come from DNS, for services outside the mesh (a database, a SaaS API, a
 * legacy fleet behind a DNS name). The control plane resolves the name, not the proxies, so those endpoints
 * are ordinary endpoints (source "dns"): in the API, the console and `trellis get`, and pushed to proxies by
 * the normal revision path, like Consul's catalog. See apps/control/src/discovery/dns.ts.
 */
import { z } from 'zod';
import { count, DnsLabel, Labels, Port, text, typeError } from './common.ts';

export const Protocol = z.enum(['http', 'tcp'], { error: 'must be "http" or "tcp"' });
export type Protocol = z.infer<typeof Protocol>;

export const DnsRecordType = z.enum(['A', 'AAAA', 'A_AAAA', 'SRV'], {
  error: 'must be "A", "AAAA", "A_AAAA" or "SRV"',
});
export type DnsRecordType = z.infer<typeof DnsRecordType>;

export const DEFAULT_DNS_REFRESH_MS = 30_000;
/** Lookups of one name are at least this far apart, however short the records' TTL. */
export const MIN_DNS_REFRESH_MS = 1000;

const DNS_NAME_LABEL = /^[A-Za-z0-9_]([-A-Za-z0-9_]*[A-Za-z0-9_])?$/;

/**
 * A fully qualified DNS name to look up: labels of letters, digits, "-" and "_" (SRV names such as
 * `_http._tcp.example.com` need the underscore), at most 253 characters, an optional final dot. An IP address
 * is not a name: its last label is all digits.
 */
export const DnsName = z
  .string({ error: typeError('a string') })
  .min(1, { error: 'must not be empty' })
  .max(254, { error: 'must be at most 253 characters' })
  .refine(
    (value) => {
      const name = value.endsWith('.') ? value.slice(0, -1) : value;
      const labels = name.split('.');
      return (
        name.length <= 253 &&
        labels.every((l) => l.length <= 63 && DNS_NAME_LABEL.test(l)) &&
        !/^\d+$/.test(labels[labels.length - 1] ?? '')
      );
    },
    { error: 'must be a DNS name such as "db.example.com" (not an IP address)' },
  );

/**
 * Where DNS discovery looks. A and AAAA answers give endpoints on `port` (default: the service's port); SRV
 * answers give the port and weight of each target (lowest priority only), so `port` is refused with SRV.
 */
export const DnsDiscovery = z
  .strictObject({
    hostname: DnsName,
    type: DnsRecordType.default('A_AAAA'),
    /** How often the name is looked up again; sooner when the records' TTL is shorter (never under 1 s). */
    refreshMs: count(MIN_DNS_REFRESH_MS, 86_400_000).default(DEFAULT_DNS_REFRESH_MS),
    port: Port.optional(),
  })
  .superRefine((dns, ctx) => {
    if (dns.type === 'SRV' && dns.port !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['port'],
        message: 'SRV records carry their own ports; leave port out',
      });
    }
  });
export type DnsDiscovery = z.infer<typeof DnsDiscovery>;

export const ServiceSpec = z.strictObject({
  name: DnsLabel,
  protocol: Protocol.default('http'),
  port: Port,
  labels: Labels.default({}),
  description: text(1024).default(''),
  dependencies: z
    .array(DnsLabel)
    .max(1000, { error: 'at most 1000 dependencies' })
    .superRefine((names, ctx) => {
      const seen = new Set<string>();
      names.forEach((name, i) => {
        if (seen.has(name)) ctx.addIssue({ code: 'custom', path: [i], message: `"${name}" is listed twice` });
        seen.add(name);
      });
    })
    .optional(),
  dns: DnsDiscovery.optional(),
});
export type ServiceSpec = z.infer<typeof ServiceSpec>;
export type ServiceSpecInput = z.input<typeof ServiceSpec>;

/**
 * A Service: a named destination in the mesh, reached on one port with one protocol.
 *
 * `dependencies` names the services this one calls. Its proxies are then sent only those services (and their
 * own), not the whole mesh, which is what keeps proxy memory and push traffic flat as a mesh grows (Istio's
 * Sidecar resource does the same job). Left out, the proxies get every service, as in a mesh without it.
 */
import { z } from 'zod';
import { DnsLabel, Labels, Port, text } from './common.ts';

export const Protocol = z.enum(['http', 'tcp'], { error: 'must be "http" or "tcp"' });
export type Protocol = z.infer<typeof Protocol>;

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
});
export type ServiceSpec = z.infer<typeof ServiceSpec>;
export type ServiceSpecInput = z.input<typeof ServiceSpec>;

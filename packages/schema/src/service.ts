/** A Service: a named destination in the mesh, reached on one port with one protocol. */
import { z } from 'zod';
import { DnsLabel, Labels, Port } from './common.ts';

export const Protocol = z.enum(['http', 'tcp'], { error: 'must be "http" or "tcp"' });
export type Protocol = z.infer<typeof Protocol>;

export const ServiceSpec = z.strictObject({
  name: DnsLabel,
  protocol: Protocol.default('http'),
  port: Port,
  labels: Labels.default({}),
  description: z.string().max(1024, { error: 'must be at most 1024 characters' }).default(''),
});
export type ServiceSpec = z.infer<typeof ServiceSpec>;
export type ServiceSpecInput = z.input<typeof ServiceSpec>;

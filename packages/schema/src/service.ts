/** A Service: a named destination in the mesh, reached on one port with one protocol. */
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
});
export type ServiceSpec = z.infer<typeof ServiceSpec>;
export type ServiceSpecInput = z.input<typeof ServiceSpec>;

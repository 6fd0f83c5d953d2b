/**
 * An Endpoint: one instance of a service. Endpoints come from proxies registering themselves, from the API
 * (with a TTL that heartbeats renew, like a Consul TTL check), from static config, or from DNS.
 */
import { z } from 'zod';
import { count, Labels, Port, text, typeError } from './common.ts';

export const EndpointHealth = z.enum(['healthy', 'unhealthy', 'draining'], {
  error: 'must be "healthy", "unhealthy" or "draining"',
});
export type EndpointHealth = z.infer<typeof EndpointHealth>;

export const EndpointSource = z.enum(['proxy', 'api', 'static', 'dns'], {
  error: 'must be "proxy", "api", "static" or "dns"',
});
export type EndpointSource = z.infer<typeof EndpointSource>;

const IPV4 = z.ipv4();
const IPV6 = z.ipv6();
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$/;

/** An IPv4 or IPv6 address, or a DNS host name. */
/** A host name's last label cannot be all digits (RFC 3696 §2), so "10.0.0.256" is a bad IPv4 address, not a name. */
const NUMERIC_TLD = /(^|\.)\d+\.?$/;

export const Address = z
  .string({ error: typeError('a string') })
  .min(1, { error: 'must not be empty' })
  .refine(
    (value) =>
      IPV4.safeParse(value).success ||
      IPV6.safeParse(value).success ||
      (HOSTNAME.test(value) && !NUMERIC_TLD.test(value)),
    {
      error: 'must be an IPv4 or IPv6 address or a host name',
    },
  );

export const DEFAULT_ENDPOINT_TTL_SECONDS = 30;

export const EndpointSpec = z.strictObject({
  address: Address,
  port: Port,
  labels: Labels.default({}),
  zone: text(63).default(''),
  /** Relative load-balancing weight, as in Envoy (1–128). */
  weight: count(1, 128).default(1),
  health: EndpointHealth.default('healthy'),
  source: EndpointSource.default('api'),
  /** Seconds an API-registered endpoint lives without a heartbeat before it expires. Ignored for other sources. */
  ttlSeconds: count(1, 86_400).default(DEFAULT_ENDPOINT_TTL_SECONDS),
});
export type EndpointSpec = z.infer<typeof EndpointSpec>;
export type EndpointSpecInput = z.input<typeof EndpointSpec>;

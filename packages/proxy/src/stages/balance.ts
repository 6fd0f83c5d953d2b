/**
 * Balance stage: asks the host set for an endpoint (skipping ejected and unhealthy ones, panic mode aside) and
 * puts it in the request context for the connect stage. A retry avoids the endpoints already tried when the
 * host set offers another, like Envoy's previous-hosts retry predicate.
 */
import type { HostSet } from '../balance/host-set.ts';
import { ProxyError } from '../errors.ts';
import type { Layer } from '../types.ts';

const REPICKS = 3;

export function balance(hosts: HostSet, service: string): Layer {
  return (next) => (request, reply) => {
    const ctx = request.context;
    let endpoint = hosts.pick(ctx);
    if (endpoint && ctx.tried.length > 0) {
      for (let i = 0; i < REPICKS && ctx.tried.includes(endpoint); i++) {
        const other = hosts.pick(ctx);
        if (!other) break;
        endpoint = other;
      }
      // The balancer is deterministic for some states (least request over two hosts): choose among the rest.
      if (ctx.tried.includes(endpoint)) endpoint = hosts.pickOther(ctx.tried) ?? endpoint;
    }
    if (!endpoint) {
      reply.fail(
        new ProxyError('TRELLIS_ERR_NO_HEALTHY_UPSTREAM', `no usable endpoint of service "${service}"`),
      );
      return;
    }
    ctx.endpoint = endpoint;
    ctx.tried.push(endpoint);
    next(request, reply);
  };
}

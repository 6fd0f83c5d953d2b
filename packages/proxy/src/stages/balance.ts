/**
 * Balance stage: asks the host set for an endpoint (skipping ejected and unhealthy ones, panic mode aside) and
 * puts it in the request context for the connect stage. A retry avoids the endpoints already tried when the
 * host set offers another, like Envoy's previous-hosts retry predicate.
 */
import type { HostSet } from '../balance/host-set.ts';
import { ProxyError } from '../errors.ts';
import type { EndpointState, Layer } from '../types.ts';

/**
 * A request's `tried` before its first attempt: one shared empty list, frozen (the stage replaces it, never
 * pushes to it), so that a request that is never retried makes no list of its own until it picks an endpoint.
 */
export const NOTHING_TRIED: EndpointState[] = Object.freeze([]) as unknown as EndpointState[];

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
    // The first attempt's list is made with its one element: an empty literal grown by push takes room for 17.
    if (ctx.tried.length === 0) ctx.tried = [endpoint];
    else ctx.tried.push(endpoint);
    next(request, reply);
  };
}

/** The balance stage: puts the picked endpoint in the context, prefers untried endpoints, 503 when none. */
import { LoadBalancer } from '@trellis/schema';
import { describe, expect, it } from 'vitest';
import { HostSet } from '../src/balance/host-set.ts';
import { mulberry32 } from '../src/rng.ts';
import { balance as balanceStage } from '../src/stages/balance.ts';
import type { EndpointState } from '../src/types.ts';
import { layered, request, response } from './support/dispatch.ts';
import { hosts } from './support/endpoints.ts';

const rr = LoadBalancer.parse({ type: 'round_robin' });
const balance = layered(balanceStage);

describe('balance stage', () => {
  it('sets context.endpoint and records it as tried', async () => {
    const set = new HostSet(hosts(2), rr, 50, mulberry32(1));
    let seen: EndpointState | undefined;
    const req = request();
    await balance(
      set,
      'svc',
    )(async (r) => {
      seen = r.context.endpoint;
      return response(200);
    })(req);
    expect(seen).toBeDefined();
    expect(req.context.tried).toEqual([seen]);
  });

  it('a retry picks an endpoint not tried before when there is one', async () => {
    const list = hosts(3);
    const set = new HostSet(list, LoadBalancer.parse({ type: 'random' }), 50, mulberry32(2));
    const stage = balance(set, 'svc')(async () => response(200));
    for (let i = 0; i < 50; i++) {
      const req = request();
      await stage(req);
      const first = req.context.tried[0];
      await stage(req);
      expect(req.context.tried[1]).not.toBe(first);
    }
  });

  it('a retry leaves the tried host even when the balancer keeps choosing it (least request over two hosts)', async () => {
    // The host that fails fast has the fewest requests in flight: least request with two choices over two hosts
    // picks it every time. Found by the reliability suite (a killed instance got the retries of its own failures).
    const [dead, alive] = hosts(2) as [EndpointState, EndpointState];
    alive.active = 5;
    const set = new HostSet([dead, alive], LoadBalancer.parse({ type: 'least_request' }), 50, mulberry32(4));
    const stage = balance(set, 'svc')(async () => response(200));
    for (let i = 0; i < 20; i++) {
      const req = request();
      await stage(req);
      expect(req.context.tried[0]).toBe(dead);
      await stage(req);
      expect(req.context.tried[1]).toBe(alive);
    }
  });

  it('answers 503 no_healthy_upstream when every endpoint is out', async () => {
    const list = hosts(2);
    for (const h of list) h.health = 'unhealthy';
    const set = new HostSet(list, rr, 0, mulberry32(3));
    await expect(balance(set, 'svc')(async () => response(200))(request())).rejects.toMatchObject({
      code: 'TRELLIS_ERR_NO_HEALTHY_UPSTREAM',
      status: 503,
    });
  });
});

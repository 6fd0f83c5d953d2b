/**
 * A request counts against its endpoint and its circuit breaker until its response has been fully delivered or
 * abandoned (its body settled), or at once if it has none or it came whole.
 */
import { settledOf } from '../engine/body.ts';
import type { ProxyResponse } from '../types.ts';

/** Takes one off `counter.active` once `body` is settled; no closure is made for a body that already is. */
export function onResponseDone(body: ProxyResponse['body'], counter: { active: number }): void {
  if (body === null || Buffer.isBuffer(body)) counter.active -= 1;
  else
    settledOf(body, () => {
      counter.active -= 1;
    });
}

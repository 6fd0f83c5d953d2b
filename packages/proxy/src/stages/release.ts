/** Runs `done` once a response has been fully delivered or abandoned (its body settled), or at once if it has none. */
import { settledOf } from '../engine/body.ts';
import type { ProxyResponse } from '../types.ts';

export function onResponseDone(response: ProxyResponse, done: () => void): void {
  settledOf(response.body, done);
}

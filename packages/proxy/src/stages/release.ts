/** Runs `done` once a response has been fully delivered or abandoned (its body closed), or at once if bodiless. */
import type { ProxyResponse } from '../types.ts';

export function onResponseDone(response: ProxyResponse, done: () => void): void {
  const body = response.body;
  if (body === null || body.destroyed || body.readableEnded) {
    done();
    return;
  }
  body.once('close', done);
}

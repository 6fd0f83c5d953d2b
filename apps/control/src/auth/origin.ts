/**
 * Cross-site WebSocket hijacking: any page may open a WebSocket to any host, the browser sends that host's cookies
 * with the handshake, and no CORS stands in the way. So an upgrade signed in by the session cookie must come from a
 * page of the console. Its Origin, which a browser always sends on a WebSocket and no page can set, must be the
 * host the browser addressed: the console's, which the console's server passes on in X-Forwarded-Host (it sends
 * the control plane's own Host), or the control plane's when a browser comes straight here; or one of
 * TRELLIS_CONSOLE_ORIGINS, for a console behind a proxy that changes its host. No page can set X-Forwarded-Host or
 * Host either, so neither needs the peer to be a trusted proxy. Bearer tokens need none of this: a browser never
 * sends one by itself.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** `https://host[:port]`, as a browser writes an Origin: what TRELLIS_CONSOLE_ORIGINS lists. */
export function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === value;
  } catch {
    return false;
  }
}

const first = (value: string | string[] | undefined) =>
  (Array.isArray(value) ? value[0] : value)?.split(',')[0]?.trim();

/** Whether the page an upgrade comes from may use the session cookie it carries. */
export function pageMayUseSession(headers: IncomingHttpHeaders, consoleOrigins: readonly string[]): boolean {
  const origin = first(headers.origin);
  if (!origin || !isOrigin(origin)) return false;
  if (consoleOrigins.includes(origin)) return true;
  const addressed = first(headers['x-forwarded-host']) ?? first(headers.host);
  if (!addressed) return false;
  const page = new URL(origin);
  try {
    return new URL(`${page.protocol}//${addressed}`).host === page.host;
  } catch {
    return false;
  }
}

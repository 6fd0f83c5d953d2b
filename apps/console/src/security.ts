/**
 * The console's security headers. Every response gets the static ones (next.config.ts): no framing, no MIME
 * sniffing, the referrer kept to the console's own origin, and the browser features it never uses turned off. Pages
 * also get a Content-Security-Policy with a fresh nonce per request (src/proxy.ts): Next puts the nonce on its own
 * scripts, and `strict-dynamic` lets those load the app's chunks, so no inline script of anyone else's runs. Styles
 * allow inline ones: React Flow and the charts position their elements with style attributes.
 */
export interface Header {
  key: string;
  value: string;
}

export const SECURITY_HEADERS: readonly Header[] = [
  { key: 'X-Frame-Options', value: 'DENY' },
  { key: 'X-Content-Type-Options', value: 'nosniff' },
  { key: 'Referrer-Policy', value: 'same-origin' },
  {
    key: 'Permissions-Policy',
    value:
      'camera=(), microphone=(), geolocation=(), payment=(), usb=(), serial=(), bluetooth=(), ' +
      'magnetometer=(), gyroscope=(), accelerometer=(), browsing-topics=(), interest-cohort=()',
  },
  { key: 'Cross-Origin-Opener-Policy', value: 'same-origin' },
];

/**
 * The page's Content-Security-Policy. `connect-src 'self'` covers the API and the WebSocket feeds of the console's
 * own origin; `dev` adds what `next dev` needs (eval for its fast refresh).
 */
export function contentSecurityPolicy(nonce: string, dev = false): string {
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'${dev ? " 'unsafe-eval'" : ''}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** A nonce for one response: 128 random bits, base64. */
export function newNonce(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return btoa(String.fromCharCode(...bytes));
}

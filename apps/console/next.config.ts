import type { NextConfig } from 'next';
import { loadConsoleConfig } from './src/config.ts';
import { SECURITY_HEADERS } from './src/security.ts';

// Fail a build or a start with a bad setting early, naming the variable. The rewrite of /api/v1/* to the control
// plane itself is done per request by src/proxy.ts: `rewrites()` here would be frozen into the build's routes
// manifest with the URL of the build's environment.
loadConsoleConfig();

const nextConfig: NextConfig = {
  reactStrictMode: true,
  // The shared zod schemas are TypeScript source (with .ts imports): Next compiles them with the console.
  transpilePackages: ['@trellis/schema'],
  poweredByHeader: false,
  // Types are checked once, by the package's own `typecheck` (tsc, which `npm test` runs as a step of its own);
  // checking them again inside every `next build` doubled the build's time on two cores.
  typescript: { ignoreBuildErrors: true },
  // On every response, pages and static files alike; the Content-Security-Policy, per page, is src/proxy.ts's.
  async headers() {
    return [{ source: '/:path*', headers: [...SECURITY_HEADERS] }];
  },
};

export default nextConfig;

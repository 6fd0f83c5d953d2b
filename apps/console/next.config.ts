import type { NextConfig } from 'next';
import { loadConsoleConfig } from './src/config.ts';

// Fail a build or a start with a bad setting early, naming the variable. The rewrite of /api/v1/* to the control
// plane itself is done per request by src/proxy.ts: `rewrites()` here would be frozen into the build's routes
// manifest with the URL of the build's environment.
loadConsoleConfig();

const nextConfig: NextConfig = {
  reactStrictMode: true,
  // The shared zod schemas are TypeScript source (with .ts imports): Next compiles them with the console.
  transpilePackages: ['@trellis/schema'],
  poweredByHeader: false,
};

export default nextConfig;

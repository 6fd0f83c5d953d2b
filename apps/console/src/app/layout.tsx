import '@xyflow/react/dist/style.css';
import './globals.css';
import type { Metadata } from 'next';
import type { ReactNode } from 'react';
import { UserMenu } from '../features/auth/UserMenu';
import { FeedIndicator } from './FeedIndicator';
import { Nav } from './Nav';
import { Providers } from './providers';

// Rendered per request: the Content-Security-Policy's nonce (src/proxy.ts) is new each time, and Next can only put
// it on the scripts of a page it renders then.
export const dynamic = 'force-dynamic';

export const metadata: Metadata = {
  title: 'Trellis console',
  description: 'The Trellis service mesh, live.',
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <Providers>
          <div className="topbar">
            <Nav />
            <div className="topbar-end">
              <FeedIndicator />
              <UserMenu />
            </div>
          </div>
          <main>{children}</main>
        </Providers>
      </body>
    </html>
  );
}

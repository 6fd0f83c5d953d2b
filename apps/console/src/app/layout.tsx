import '@xyflow/react/dist/style.css';
import './globals.css';
import type { Metadata } from 'next';
import type { ReactNode } from 'react';
import { FeedIndicator } from './FeedIndicator';
import { Nav } from './Nav';
import { Providers } from './providers';

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
            <FeedIndicator />
          </div>
          <main>{children}</main>
        </Providers>
      </body>
    </html>
  );
}

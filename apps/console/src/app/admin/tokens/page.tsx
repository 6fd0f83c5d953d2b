import type { Metadata } from 'next';
import { TokensView } from '../../../features/admin/AdminViews';

export const metadata: Metadata = { title: 'API tokens · Trellis' };

export default function Page() {
  return <TokensView />;
}

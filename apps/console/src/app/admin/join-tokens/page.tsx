import type { Metadata } from 'next';
import { JoinTokensView } from '../../../features/admin/AdminViews';

export const metadata: Metadata = { title: 'Join tokens · Trellis' };

export default function Page() {
  return <JoinTokensView />;
}

import type { Metadata } from 'next';
import { ProxiesView } from '../../features/proxies/ProxiesView';

export const metadata: Metadata = { title: 'Proxies · Trellis' };

export default function ProxiesPage() {
  return <ProxiesView />;
}

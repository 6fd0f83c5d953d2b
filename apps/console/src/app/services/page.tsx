import type { Metadata } from 'next';
import { ServicesView } from '../../features/services/ServicesView';

export const metadata: Metadata = { title: 'Services · Trellis' };

export default function ServicesPage() {
  return <ServicesView />;
}

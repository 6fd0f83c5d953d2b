import type { Metadata } from 'next';
import { ServiceDetailView } from '../../../features/services/ServiceDetailView';

type Params = { params: Promise<{ name: string }> };

export async function generateMetadata({ params }: Params): Promise<Metadata> {
  const { name } = await params;
  return { title: `${decodeURIComponent(name)} · Services · Trellis` };
}

export default async function ServicePage({ params }: Params) {
  const { name } = await params;
  return <ServiceDetailView name={decodeURIComponent(name)} />;
}

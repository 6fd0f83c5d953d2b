import type { Metadata } from 'next';
import { RouteCreateView } from '../../../features/routes/RouteEditView';
import { MissingService } from '../../../features/rules/EdgeRedirect';
import { openedFrom, param, type SearchParams } from '../../../features/rules/params';

export const metadata: Metadata = { title: 'New route rule · Trellis' };

export default async function NewRoutePage({ searchParams }: { searchParams: Promise<SearchParams> }) {
  const query = await searchParams;
  const service = param(query, 'service');
  if (!service) return <MissingService what="route rule" />;
  return <RouteCreateView service={service} {...openedFrom(query)} />;
}

import type { Metadata } from 'next';
import { PolicyCreateView } from '../../../features/policies/PolicyEditView';
import { MissingService } from '../../../features/rules/EdgeRedirect';
import { openedFrom, param, type SearchParams } from '../../../features/rules/params';

export const metadata: Metadata = { title: 'New traffic policy · Trellis' };

export default async function NewPolicyPage({ searchParams }: { searchParams: Promise<SearchParams> }) {
  const query = await searchParams;
  const service = param(query, 'service');
  if (!service) return <MissingService what="traffic policy" />;
  return <PolicyCreateView service={service} {...openedFrom(query)} />;
}

import type { Metadata } from 'next';
import { EdgeRedirect } from '../../../features/rules/EdgeRedirect';
import { param, type SearchParams } from '../../../features/rules/params';

export const metadata: Metadata = { title: 'Edit an edge · Trellis' };

export default async function EdgePage({ searchParams }: { searchParams: Promise<SearchParams> }) {
  const query = await searchParams;
  return (
    <EdgeRedirect
      source={param(query, 'source')}
      destination={param(query, 'destination')}
      intent={param(query, 'intent')}
    />
  );
}

'use client';

/**
 * The topology's way into the rule forms: an edge A → B with an intent (split, retry, breaker) becomes the form of
 * B's rule that does it, or a new one, once B's rules are read. Replaces the address, so Back returns to the graph.
 */
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useEffect } from 'react';
import { ErrorBanner } from '../../lib/ErrorBanner';
import { useServicePolicies, useServiceRoutes } from '../services/queries';
import { isEdgeIntent, resolveEdge } from './edge';

export function MissingService({ what }: { what: string }) {
  return (
    <p className="empty" role="alert">
      A new {what} needs its service: open it from a service&apos;s page.{' '}
      <Link href="/services">All services</Link>
    </p>
  );
}

export function EdgeRedirect({
  source,
  destination,
  intent,
}: {
  source: string | undefined;
  destination: string | undefined;
  intent: string | undefined;
}) {
  if (!destination || !isEdgeIntent(intent)) {
    return (
      <p className="empty" role="alert" data-testid="edge-invalid">
        An edge needs a destination service and an intent of split, retry or breaker.{' '}
        <Link href="/">Back to the topology</Link>
      </p>
    );
  }
  return <Resolve source={source} destination={destination} intent={intent} />;
}

function Resolve({
  source,
  destination,
  intent,
}: {
  source: string | undefined;
  destination: string;
  intent: 'split' | 'retry' | 'breaker';
}) {
  const router = useRouter();
  const routes = useServiceRoutes(destination);
  const policies = useServicePolicies(destination);
  const target =
    routes.data && policies.data
      ? resolveEdge({ source, destination, intent }, routes.data, policies.data)
      : undefined;
  useEffect(() => {
    if (target) router.replace(target);
  }, [router, target]);
  return (
    <section className="page" aria-busy={target === undefined}>
      <p className="empty" data-testid="edge-resolving">
        Opening the rules of {destination}
        {source ? ` for the calls from ${source}` : ''}…
      </p>
      {routes.error ? <ErrorBanner error={routes.error} /> : null}
      {policies.error ? <ErrorBanner error={policies.error} /> : null}
    </section>
  );
}

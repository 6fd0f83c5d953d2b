/**
 * DNS discovery: endpoints for services outside the mesh, found by looking up the name in their `dns` spec.
 *
 * The control plane resolves, not the proxies, so these endpoints (source "dns") are ordinary endpoints: listed
 * by the API, the console and `trellis get`, and sent to proxies through the normal revision and push path, as
 * Consul keeps external services in its catalog. A sync writes only when the set changed, in one revision by
 * DNS_ACTOR, and touches only the service's "dns" endpoints. Every control-plane replica resolves on its own;
 * since a sync compares before it writes (again inside the transaction), replicas seeing the same answer make
 * no revision, and no MeshState lock is taken for an unchanged answer.
 *
 * When: a name is looked up again after min(refreshMs, the records' TTL), never sooner than MIN_DNS_REFRESH_MS.
 * Node reports no TTL for SRV records, so SRV names use refreshMs (or their targets' address TTL, if shorter).
 *
 * What a failed lookup does (as Envoy's STRICT_DNS keeps hosts on a resolution failure): a server failure, a
 * refusal or a timeout keeps the endpoints last found, with a warning, and the lookup is retried after
 * refreshMs. A definite "no such name" (NXDOMAIN) or "no records" answer removes them, but only once it has
 * been the answer ABSENT_LIMIT times in a row, so that a zone being reloaded does not empty the service.
 *
 * A service whose `dns` is removed, or whose spec changes, is seen at the next poll (every pollMs): its dns
 * endpoints are removed, or the new name is looked up at once. Deleting a service deletes its endpoints anyway.
 */
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import {
  DEFAULT_ENDPOINT_TTL_SECONDS,
  DnsDiscovery,
  type EndpointSpec,
  MIN_DNS_REFRESH_MS,
} from '@trellis/schema';
import type { Logger } from 'pino';
import type { Endpoint as EndpointRow } from '../../generated/prisma/client.ts';
import type { Prisma } from '../db/client.ts';
import { change, type StoreDeps } from '../store/change.ts';
import { endpointFromRow } from '../store/convert.ts';
import { auditEndpoint, newEndpointRow, sameEndpointSpec, updateEndpointRow } from '../store/endpoints.ts';

/** The audit actor of every revision DNS discovery makes. */
export const DNS_ACTOR = 'system:dns-discovery';

/** Consecutive NXDOMAIN / empty answers after which a name's endpoints are removed. */
export const ABSENT_LIMIT = 3;

/** The largest endpoint weight (schema: 1–128); SRV weights (0–65535) are scaled into it. */
const MAX_WEIGHT = 128;

/** The part of node's `dns.promises.Resolver` that discovery uses (a Resolver with setServers in tests). */
export interface DnsResolver {
  resolve4(hostname: string, options: { ttl: true }): Promise<{ address: string; ttl: number }[]>;
  resolve6(hostname: string, options: { ttl: true }): Promise<{ address: string; ttl: number }[]>;
  resolveSrv(hostname: string): Promise<{ name: string; port: number; priority: number; weight: number }[]>;
}

/** One endpoint an answer names. */
export interface DnsTarget {
  address: string;
  port: number;
  weight: number;
}

export interface DnsAnswer {
  targets: DnsTarget[];
  /** The shortest TTL among the records, in seconds, when the answer says. */
  ttlSeconds?: number;
}

/** The resolver's codes for a name that definitely does not exist or has no records of the type asked. */
const ABSENT = new Set(['ENOTFOUND', 'ENODATA']);

function isAbsent(error: unknown): boolean {
  return ABSENT.has((error as { code?: string }).code ?? '');
}

async function orEmpty<T>(lookup: Promise<T[]>): Promise<T[]> {
  try {
    return await lookup;
  } catch (error) {
    if (isAbsent(error)) return [];
    throw error;
  }
}

function minTtl(ttls: (number | undefined)[]): number | undefined {
  const known = ttls.filter((t): t is number => t !== undefined);
  return known.length === 0 ? undefined : Math.min(...known);
}

async function addresses(
  resolver: DnsResolver,
  hostname: string,
  type: 'A' | 'AAAA' | 'A_AAAA',
): Promise<{ addresses: string[]; ttlSeconds?: number }> {
  if (isIP(hostname)) return { addresses: [hostname] };
  const [v4, v6] = await Promise.all([
    type === 'AAAA' ? [] : orEmpty(resolver.resolve4(hostname, { ttl: true })),
    type === 'A' ? [] : orEmpty(resolver.resolve6(hostname, { ttl: true })),
  ]);
  const records = [...v4, ...v6];
  const ttlSeconds = minTtl(records.map((r) => r.ttl));
  return { addresses: records.map((r) => r.address), ...(ttlSeconds === undefined ? {} : { ttlSeconds }) };
}

/**
 * Looks `dns` up: the endpoints it names (empty when the name or its records do not exist). Throws on any other
 * failure, which must not be taken for "no endpoints".
 */
export async function lookupDns(
  resolver: DnsResolver,
  dns: DnsDiscovery,
  servicePort: number,
): Promise<DnsAnswer> {
  const byKey = new Map<string, DnsTarget>();
  const add = (t: DnsTarget) => {
    const key = `${t.address} ${t.port}`;
    const seen = byKey.get(key);
    if (!seen || seen.weight < t.weight) byKey.set(key, t);
  };
  if (dns.type !== 'SRV') {
    const found = await addresses(resolver, dns.hostname, dns.type);
    for (const address of found.addresses) add({ address, port: dns.port ?? servicePort, weight: 1 });
    return {
      targets: [...byKey.values()],
      ...(found.ttlSeconds === undefined ? {} : { ttlSeconds: found.ttlSeconds }),
    };
  }
  const records = await orEmpty(resolver.resolveSrv(dns.hostname));
  // Clients use the lowest priority only while any of its targets exists (RFC 2782); so does discovery.
  const best = Math.min(...records.map((r) => r.priority));
  const group = records.filter((r) => r.priority === best && r.name !== '' && r.name !== '.');
  const heaviest = Math.max(0, ...group.map((r) => r.weight));
  const scale = heaviest > MAX_WEIGHT ? MAX_WEIGHT / heaviest : 1;
  const resolved = await Promise.all(group.map((r) => addresses(resolver, r.name, 'A_AAAA')));
  group.forEach((record, i) => {
    const weight = Math.min(MAX_WEIGHT, Math.max(1, Math.round(record.weight * scale)));
    for (const address of resolved[i]?.addresses ?? []) add({ address, port: record.port, weight });
  });
  const ttlSeconds = minTtl(resolved.map((r) => r.ttlSeconds));
  return { targets: [...byKey.values()], ...(ttlSeconds === undefined ? {} : { ttlSeconds }) };
}

interface Plan {
  serviceId: string;
  creates: EndpointSpec[];
  updates: { row: EndpointRow; spec: EndpointSpec }[];
  deletes: EndpointRow[];
}

function specFor(target: DnsTarget, row: EndpointRow | undefined): EndpointSpec {
  return {
    address: target.address,
    port: target.port,
    labels: (row?.labels as Record<string, string> | undefined) ?? {},
    zone: row?.zone ?? '',
    weight: target.weight,
    // An operator who set a DNS endpoint draining meant it; the next lookup does not undo that.
    health: row?.health === 'draining' ? 'draining' : 'healthy',
    source: 'dns',
    ttlSeconds: row?.ttlSeconds ?? DEFAULT_ENDPOINT_TTL_SECONDS,
  };
}

/** What it takes to make `service`'s dns endpoints `targets`; null when the service does not exist. */
async function plan(
  db: Pick<Prisma.TransactionClient, 'service' | 'endpoint'>,
  service: string,
  targets: DnsTarget[],
) {
  const row = await db.service.findUnique({ where: { name: service }, select: { id: true } });
  if (!row) return null;
  const rows = await db.endpoint.findMany({ where: { serviceId: row.id } });
  const key = (e: { address: string; port: number }) => `${e.address} ${e.port}`;
  const byKey = new Map(rows.map((r) => [key(r), r]));
  const wanted = new Set(targets.map(key));
  const result: Plan = { serviceId: row.id, creates: [], updates: [], deletes: [] };
  for (const target of targets) {
    const existing = byKey.get(key(target));
    // The address is registered by other means (a proxy, the API, static config): that one stays in charge.
    if (existing && existing.source !== 'dns') continue;
    const spec = specFor(target, existing);
    if (!existing) result.creates.push(spec);
    else if (!sameEndpointSpec(endpointFromRow(existing, service), spec))
      result.updates.push({ row: existing, spec });
  }
  result.deletes = rows.filter((r) => r.source === 'dns' && !wanted.has(key(r)));
  return result;
}

const isEmpty = (p: Plan | null) => !p || p.creates.length + p.updates.length + p.deletes.length === 0;

/**
 * Makes the "dns" endpoints of `service` exactly `targets`, in one revision by DNS_ACTOR; endpoints of other
 * sources are never touched. Returns the revision, or null when nothing changed (no transaction is even opened).
 */
export async function syncDnsEndpoints(
  deps: StoreDeps,
  service: string,
  targets: DnsTarget[],
): Promise<number | null> {
  if (isEmpty(await plan(deps.db, service, targets))) return null;
  const result = await change(deps, DNS_ACTOR, async (ctx) => {
    const todo = await plan(ctx.tx, service, targets);
    if (!todo) return;
    const creates = todo.creates.map((spec) => newEndpointRow(ctx, todo.serviceId, spec));
    if (creates.length > 0)
      await ctx.tx.endpoint.createMany({ data: creates as Prisma.EndpointCreateManyInput[] });
    for (const row of creates)
      auditEndpoint(ctx, 'create', row, service, null, endpointFromRow(row, service));
    for (const { row, spec } of todo.updates) {
      const updated = await updateEndpointRow(ctx, row, spec);
      auditEndpoint(
        ctx,
        'update',
        row,
        service,
        endpointFromRow(row, service),
        endpointFromRow(updated, service),
      );
    }
    if (todo.deletes.length > 0) {
      await ctx.tx.endpoint.deleteMany({
        where: { id: { in: todo.deletes.map((r) => r.id) }, source: 'dns' },
      });
    }
    for (const row of todo.deletes)
      auditEndpoint(ctx, 'delete', row, service, endpointFromRow(row, service), null);
  });
  return result.revision;
}

interface NameState {
  /** The spec (and service port) this state is for: a change starts afresh. */
  key: string;
  dueAt: number;
  /** Consecutive NXDOMAIN / empty answers. */
  absent: number;
}

export interface DnsDiscoveryOptions {
  store: StoreDeps;
  resolver: DnsResolver;
  logger: Logger;
  /** How often services are read for dns specs that appeared, changed or went; default 1000 ms. */
  pollMs?: number;
  /** Milliseconds on a monotonic-enough clock for scheduling lookups; default the store's clock. */
  now?: () => number;
}

/** Keeps every service's "dns" endpoints in line with its `dns` spec; see the module comment. */
export class DnsDiscoveryLoop {
  private readonly names = new Map<string, NameState>();
  private readonly pollMs: number;
  private readonly now: () => number;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: DnsDiscoveryOptions) {
    this.pollMs = options.pollMs ?? 1000;
    this.now = options.now ?? (() => options.store.clock().getTime());
    this.log = options.logger.child({ component: 'dns-discovery' });
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.poll()
        .catch((err) => this.log.warn({ err }, 'DNS discovery poll failed; will retry'))
        .finally(() => this.schedule(this.pollMs));
    }, ms);
    this.timer.unref();
  }

  /** One pass: removes the dns endpoints of services without `dns`, and looks up every name that is due. */
  async poll(): Promise<void> {
    const { db } = this.options.store;
    const [services, withDns] = await Promise.all([
      db.service.findMany({ select: { id: true, name: true, port: true, dns: true } }),
      db.endpoint.findMany({
        where: { source: 'dns' },
        distinct: ['serviceId'],
        select: { serviceId: true },
      }),
    ]);
    const hasDnsEndpoints = new Set(withDns.map((e) => e.serviceId));
    const due: Promise<void>[] = [];
    for (const service of services) {
      const parsed = service.dns === null ? undefined : DnsDiscovery.safeParse(service.dns);
      if (!parsed?.success) {
        this.names.delete(service.name);
        if (hasDnsEndpoints.has(service.id)) due.push(this.apply(service.name, []));
        continue;
      }
      const key = JSON.stringify([parsed.data, service.port]);
      let state = this.names.get(service.name);
      if (!state || state.key !== key) {
        state = { key, dueAt: 0, absent: 0 };
        this.names.set(service.name, state);
      }
      if (this.now() >= state.dueAt) due.push(this.refresh(service.name, service.port, parsed.data, state));
    }
    const present = new Set(services.map((s) => s.name));
    for (const name of this.names.keys()) if (!present.has(name)) this.names.delete(name);
    await Promise.all(due);
  }

  private async refresh(service: string, port: number, dns: DnsDiscovery, state: NameState): Promise<void> {
    const log = this.log.child({ service, hostname: dns.hostname, type: dns.type });
    let answer: DnsAnswer;
    try {
      answer = await lookupDns(this.options.resolver, dns, port);
    } catch (err) {
      state.dueAt = this.now() + dns.refreshMs;
      log.warn({ err }, 'DNS lookup failed; keeping the endpoints last found');
      return;
    }
    const wait =
      answer.ttlSeconds === undefined ? dns.refreshMs : Math.min(dns.refreshMs, answer.ttlSeconds * 1000);
    state.dueAt = this.now() + Math.max(MIN_DNS_REFRESH_MS, wait);
    if (answer.targets.length === 0) {
      state.absent += 1;
      if (state.absent < ABSENT_LIMIT) {
        log.warn(
          { times: state.absent },
          'DNS name has no records; keeping the endpoints last found for now',
        );
        return;
      }
    } else {
      state.absent = 0;
    }
    await this.apply(service, answer.targets, () => {
      state.dueAt = 0;
    });
  }

  private async apply(service: string, targets: DnsTarget[], onError?: () => void): Promise<void> {
    try {
      const revision = await syncDnsEndpoints(this.options.store, service, targets);
      if (revision !== null)
        this.log.info({ service, revision, endpoints: targets.length }, 'DNS endpoints changed');
    } catch (err) {
      onError?.();
      this.log.warn({ err, service }, 'could not write DNS endpoints; will retry');
    }
  }
}

/** A resolver on `servers` ("ip" or "ip:port"), or on the system's resolvers when none are given. */
export function dnsResolver(servers?: readonly string[]): DnsResolver {
  const resolver = new Resolver({ timeout: 2000, tries: 2 });
  if (servers && servers.length > 0) resolver.setServers([...servers]);
  return resolver;
}

/** Starts DNS discovery for a control plane; `stop()` it before closing the database. */
export function startDnsDiscovery(
  store: StoreDeps,
  logger: Logger,
  servers?: readonly string[],
): DnsDiscoveryLoop {
  const loop = new DnsDiscoveryLoop({ store, logger, resolver: dnsResolver(servers) });
  loop.start();
  return loop;
}

/**
 * The read-side commands and the small ones: get, describe, proxy-status, rollback, login, version. Tables are
 * for people; -o yaml and -o json are for scripts, and `get` of services, routes and policies prints manifests
 * that `apply` takes back.
 */
import {
  type AuthorizationPolicy,
  Endpoint,
  type ProxyStatus,
  ProxyStatusList,
  Revision,
  RevisionSummary,
  RollbackResult,
  type RouteRule,
  type TrafficPolicy,
} from '@trellis/schema';
import pkg from '../package.json' with { type: 'json' };
import type { Io } from './apply.ts';
import { ApiError, type Client } from './client.ts';
import { writeConfig } from './config-file.ts';
import { CliError, EXIT, usageError } from './errors.ts';
import { KINDS, type Kind, type Stored, specOf, toManifest } from './kinds.ts';
import { age, labelsText, table, toJson, toYaml, toYamlDocuments } from './output.ts';
import { normaliseServer, type Output } from './settings.ts';

export const VERSION: string = pkg.version;

const RESOURCE_ALIASES: Record<string, string> = {
  services: 'services',
  service: 'services',
  svc: 'services',
  routes: 'routes',
  route: 'routes',
  routerules: 'routes',
  routerule: 'routes',
  policies: 'policies',
  policy: 'policies',
  trafficpolicies: 'policies',
  trafficpolicy: 'policies',
  authorizationpolicies: 'authorization-policies',
  authorizationpolicy: 'authorization-policies',
  authz: 'authorization-policies',
  proxies: 'proxies',
  proxy: 'proxies',
  revisions: 'revisions',
  revision: 'revisions',
};

type KindResource = 'services' | 'routes' | 'policies' | 'authorization-policies';

function kindFor(resource: KindResource): Kind {
  return KINDS.find((k) => k.path === `/${resource}`) as Kind;
}

function authorizationRows(items: AuthorizationPolicy[]) {
  return table(
    ['name', 'destination', 'action', 'rules', 'mode', 'version', 'age'],
    items.map((p) => [
      p.name,
      p.destination,
      p.action,
      String(p.rules.length),
      p.dryRun ? 'dry-run' : 'enforced',
      String(p.version),
      age(p.updatedAt),
    ]),
  );
}

function serviceRows(items: Stored[]) {
  return table(
    ['name', 'protocol', 'port', 'dependencies', 'labels', 'version', 'age'],
    items.map((s) => {
      const deps = s.dependencies as string[] | undefined;
      return [
        s.name,
        String(s.protocol),
        String(s.port),
        deps === undefined ? '<all>' : deps.length ? deps.join(',') : '<none>',
        labelsText(s.labels as Record<string, string>),
        String(s.version),
        age(s.createdAt),
      ];
    }),
  );
}

function destinationsText(route: RouteRule): string {
  return route.destinations.map((d) => `${labelsText(d.subset, '<all>')}:${d.weight}`).join(' ');
}

function routeRows(items: RouteRule[]) {
  return table(
    ['name', 'service', 'priority', 'destinations', 'timeout', 'retries', 'version', 'age'],
    items.map((r) => [
      r.name,
      r.service,
      String(r.priority),
      destinationsText(r),
      `${r.timeoutMs}ms`,
      r.retries.attempts === 0 ? '<none>' : `${r.retries.attempts}× on ${r.retries.retryOn.join(',')}`,
      String(r.version),
      age(r.createdAt),
    ]),
  );
}

function outlierText(p: TrafficPolicy): string {
  const o = p.outlierDetection;
  if (!o.enabled) return '<off>';
  const parts = [];
  if (o.consecutive5xx > 0) parts.push(`${o.consecutive5xx}×5xx`);
  if (o.consecutiveGatewayErrors > 0) parts.push(`${o.consecutiveGatewayErrors}×gateway`);
  if (o.successRate) parts.push('success-rate');
  return `${parts.join(',') || '<none>'} eject ${o.baseEjectionTimeMs / 1000}s`;
}

function policyRows(items: TrafficPolicy[]) {
  return table(
    ['name', 'service', 'subset', 'load-balancer', 'outlier', 'version', 'age'],
    items.map((p) => [
      p.name,
      p.service,
      labelsText(p.subset, '<all>'),
      p.loadBalancer.type,
      outlierText(p),
      String(p.version),
      age(p.createdAt),
    ]),
  );
}

function proxyRows(items: ProxyStatus[]) {
  return table(
    ['service', 'instance', 'address', 'status', 'acked', 'current', 'last error'],
    items.map((p) => [
      p.node.service,
      p.node.instance,
      `${p.node.address}:${p.node.port}`,
      p.status,
      p.ackedRevision === null ? '-' : String(p.ackedRevision),
      String(p.currentRevision),
      p.lastNack ? `revision ${p.lastNack.revision}: ${p.lastNack.error}` : '',
    ]),
  );
}

function revisionRows(items: RevisionSummary[]) {
  return table(
    ['revision', 'kind', 'actor', 'age', 'summary'],
    items.map((r) => [String(r.revision), r.kind, r.actor, age(r.createdAt), r.summary]),
  );
}

function sortProxies(items: ProxyStatus[]): ProxyStatus[] {
  return [...items].sort((a, b) =>
    a.node.service === b.node.service
      ? a.node.instance.localeCompare(b.node.instance)
      : a.node.service.localeCompare(b.node.service),
  );
}

async function proxies(client: Client, io: Io): Promise<ProxyStatus[]> {
  const list = await client.get(ProxyStatusList, '/proxies');
  for (const r of list.replicas) {
    if (r.error)
      io.err(`warning: replica ${r.id} (${r.url}) could not be asked: ${r.error}; the list is partial\n`);
  }
  return sortProxies(list.items);
}

export async function get(client: Client, args: string[], output: Output, io: Io): Promise<void> {
  const [what, name, ...rest] = args;
  if (!what)
    throw usageError(
      'get needs a resource: services, routes, policies, authorizationpolicies, proxies or revisions',
    );
  if (rest.length) throw usageError(`get takes one name at most, got ${[name, ...rest].join(' ')}`);
  const resource = RESOURCE_ALIASES[what.toLowerCase()];
  if (!resource)
    throw usageError(
      `unknown resource ${JSON.stringify(what)}: use services, routes, policies, authorizationpolicies, proxies or revisions`,
    );

  if (
    resource === 'services' ||
    resource === 'routes' ||
    resource === 'policies' ||
    resource === 'authorization-policies'
  ) {
    const kind = kindFor(resource);
    const items = name
      ? [await client.get(kind.stored, `${kind.path}/${encodeURIComponent(name)}`)]
      : await client.list(kind.stored, kind.path);
    if (output === 'table') {
      if (resource === 'services') io.out(serviceRows(items));
      else if (resource === 'routes') io.out(routeRows(items as unknown as RouteRule[]));
      else if (resource === 'policies') io.out(policyRows(items as unknown as TrafficPolicy[]));
      else io.out(authorizationRows(items as unknown as AuthorizationPolicy[]));
      return;
    }
    const manifests = items.map((item) => toManifest(kind, specOf(kind, item), item.version));
    const one = name !== undefined;
    if (output === 'json') io.out(toJson(one ? manifests[0] : manifests));
    else io.out(toYamlDocuments(manifests));
    return;
  }

  if (resource === 'proxies') {
    let items = await proxies(client, io);
    if (name) {
      items = items.filter((p) => p.node.service === name || `${p.node.service}/${p.node.instance}` === name);
      if (items.length === 0) throw new CliError(`no proxy of ${name} is connected`, EXIT.failed);
    }
    if (output === 'table') io.out(proxyRows(items));
    else if (output === 'json') io.out(toJson(items));
    else io.out(toYaml(items));
    return;
  }

  if (name) {
    if (!/^\d+$/.test(name)) throw usageError(`a revision is a number, got ${JSON.stringify(name)}`);
    const revision = await client.get(Revision, `/revisions/${name}`);
    if (output === 'table') io.out(revisionRows([revision]));
    else if (output === 'json') io.out(toJson(revision));
    else io.out(toYaml(revision));
    return;
  }
  const items = await client.list(RevisionSummary, '/revisions');
  if (output === 'table') io.out(revisionRows(items));
  else if (output === 'json') io.out(toJson(items));
  else io.out(toYaml(items));
}

function section(title: string, body: string): string {
  return `\n${title}:\n${body
    .trimEnd()
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n')}\n`;
}

export async function describe(client: Client, args: string[], io: Io): Promise<void> {
  const [what, name, ...rest] = args;
  if (!what || !name || rest.length) throw usageError('usage: trellis describe service <name>');
  if (RESOURCE_ALIASES[what.toLowerCase()] !== 'services') {
    throw usageError(`describe knows services only, got ${JSON.stringify(what)}`);
  }
  const kind = kindFor('services');
  const service = await client.get(kind.stored, `${kind.path}/${encodeURIComponent(name)}`);
  const [endpoints, routes, policies, all] = await Promise.all([
    client.list(Endpoint, `/services/${encodeURIComponent(name)}/endpoints`),
    client.list(kindFor('routes').stored, '/routes', { service: name }),
    client.list(kindFor('policies').stored, '/policies', { service: name }),
    proxies(client, io),
  ]);
  const deps = service.dependencies as string[] | undefined;
  const fields: [string, string][] = [
    ['Name', service.name],
    ['Protocol', String(service.protocol)],
    ['Port', String(service.port)],
    ['Labels', labelsText(service.labels as Record<string, string>)],
    ['Description', String(service.description) || '<none>'],
    ['Dependencies', deps === undefined ? '<all services>' : deps.length ? deps.join(', ') : '<none>'],
    ['Version', `${service.version} (updated ${service.updatedAt})`],
  ];
  const width = Math.max(...fields.map(([k]) => k.length)) + 2;
  let text = fields.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}`).join('\n');
  text += '\n';
  text += section(
    'Endpoints',
    endpoints.length
      ? table(
          ['address', 'health', 'labels', 'zone', 'weight', 'source', 'last seen'],
          endpoints.map((e) => [
            `${e.address}:${e.port}`,
            e.health,
            labelsText(e.labels),
            e.zone || '-',
            String(e.weight),
            e.source,
            age(e.lastSeen),
          ]),
        )
      : '<none>',
  );
  text += section('Routes', routes.length ? routeRows(routes as unknown as RouteRule[]) : '<none>');
  text += section(
    'Policies',
    policies.length ? policyRows(policies as unknown as TrafficPolicy[]) : '<none>',
  );
  const own = all.filter((p) => p.node.service === name);
  text += section('Proxies', own.length ? proxyRows(own) : '<none connected>');
  io.out(text);
}

export async function proxyStatus(client: Client, args: string[], output: Output, io: Io): Promise<void> {
  if (args.length > 1) throw usageError('usage: trellis proxy-status [service]');
  let items = await proxies(client, io);
  const [service] = args;
  if (service) items = items.filter((p) => p.node.service === service);
  if (output === 'json') io.out(toJson(items));
  else if (output === 'yaml') io.out(toYaml(items));
  else if (items.length === 0) io.out('No proxies connected.\n');
  else io.out(proxyRows(items));
}

export async function rollback(client: Client, args: string[], output: Output, io: Io): Promise<void> {
  const [target, ...rest] = args;
  if (!target || rest.length || !/^\d+$/.test(target)) throw usageError('usage: trellis rollback <revision>');
  let res: Awaited<ReturnType<typeof client.send<RollbackResult>>>;
  try {
    res = await client.send(RollbackResult, 'POST', `/revisions/${target}/rollback`, {});
  } catch (error) {
    if (error instanceof ApiError && error.status === 404 && error.code === 'TRELLIS_ERR_ROUTE_NOT_FOUND') {
      throw new CliError(
        `the control plane at ${client.server} does not offer rollback (too old?)`,
        EXIT.failed,
      );
    }
    throw error;
  }
  const result = res.body;
  if (output === 'json') return io.out(toJson(result));
  if (output === 'yaml') return io.out(toYaml(result));
  const label: Record<string, string> = { service: 'service', route: 'routerule', policy: 'trafficpolicy' };
  const verb: Record<string, string> = { create: 'created', update: 'configured', delete: 'deleted' };
  if (result.revision === null) {
    io.out(`the configuration already matches revision ${result.restoredFrom}; nothing changed\n`);
  } else {
    io.out(
      `rolled back to the configuration of revision ${result.restoredFrom} (revision ${result.revision})\n`,
    );
  }
  for (const c of result.changes)
    io.out(`${label[c.kind] ?? c.kind}/${c.name} ${verb[c.action] ?? c.action}\n`);
  for (const name of result.kept) {
    io.out(
      `service/${name} kept (created after revision ${result.restoredFrom}; delete it yourself if unwanted)\n`,
    );
  }
}

export async function login(
  serverFlag: string | undefined,
  token: string | undefined,
  configPath: string,
  check: (server: string, token: string | undefined) => Promise<string>,
  io: Io,
): Promise<void> {
  if (!serverFlag) throw usageError('usage: trellis login --server URL [--token TOKEN]');
  const server = normaliseServer(serverFlag);
  await writeConfig(configPath, token ? { server, token } : { server });
  io.out(`saved ${server}${token ? ' and a token' : ''} to ${configPath}\n`);
  try {
    io.out(`${await check(server, token)}\n`);
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    io.err(`warning: ${error.message}\n`);
  }
}

export function version(io: Io): void {
  io.out(`trellis ${VERSION} (API v1)\n`);
}

/**
 * The REST API described once, as a table of operations over the shared zod schemas, and turned into an
 * OpenAPI 3.1 document (GET /api/v1/openapi.json) with `z.toJSONSchema`: request bodies and parameters as the
 * schemas accept them (`io: 'input'`), responses as they produce them (`io: 'output'`). Nothing is written by
 * hand that a schema already says, so the reference cannot drift from what the routes check; the test
 * (test/openapi.test.ts) holds the table to the routes fastify registers and real answers to the schemas.
 */
import {
  API_PREFIX,
  ApiToken,
  ApiTokenCreate,
  ApiTokenCreated,
  AuditEntry,
  AuditQuery,
  AuthorizationPolicy,
  AuthorizationPolicyReplace,
  AuthorizationPolicySpec,
  CSRF_HEADER,
  Endpoint,
  EndpointReplace,
  EndpointSpec,
  ERRORS,
  JoinToken,
  JoinTokenCreate,
  JoinTokenCreated,
  LoginRequest,
  LoginResponse,
  Me,
  MeshSettings,
  MeshSettingsReplace,
  MetricsQuery,
  MetricsSeries,
  PageQuery,
  PasswordChange,
  Problem,
  ProxyStatusList,
  pageOf,
  Revision,
  RevisionListQuery,
  RevisionSummary,
  RollbackRequest,
  RollbackResult,
  RouteRule,
  RouteRuleReplace,
  RouteRuleSpec,
  SESSION_COOKIE,
  SecurityEvent,
  SecurityEventQuery,
  Service,
  ServiceReplace,
  ServiceSpec,
  Topology,
  TrafficPolicy,
  TrafficPolicyReplace,
  TrafficPolicySpec,
  User,
  UserCreate,
  UserUpdate,
} from '@trellis/schema';
import { z } from 'zod';
import type { RouteAccess } from '../auth/roles.ts';
import { AuthorizationListQuery } from './routes/authz.ts';
import { DeleteQuery, NameParams } from './routes/change-reply.ts';
import { RevisionParams } from './routes/history.ts';
import { EndpointParams, FilteredPageQuery } from './routes/mesh.ts';
import { ProxiesQuery } from './routes/proxies.ts';
import { TokenIdParams } from './routes/tokens.ts';
import { UserParams } from './routes/users.ts';

export const OPENAPI_PATH = `${API_PREFIX}/openapi.json`;
export const DOCS_PATH = `${API_PREFIX}/docs`;
/** The Prometheus endpoint: at the root like /healthz, where scrapers look for it. */
export const PROMETHEUS_PATH = '/metrics';
/** Files of the API reference page, served from the viewer package and this module (no CDN). */
export const DOCS_ASSETS = ['swagger-ui.css', 'swagger-ui-bundle.js', 'init.js'] as const;

/** A schema that appears in components/schemas under `name`. */
interface Named {
  name: string;
  schema: z.ZodType;
}
const named = (name: string, schema: z.ZodType): Named => ({ name, schema });

/** A success answer: a JSON schema, no body (null), or another media type with a description. */
type Answer = Named | z.ZodType | null | { media: string; description: string };

export interface Operation {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** As registered with fastify (`:name`). */
  path: string;
  tag: string;
  summary: string;
  description?: string;
  role: RouteAccess;
  params?: z.ZodObject;
  query?: z.ZodType;
  body?: Named;
  responses: Record<number, Answer>;
  /** Error statuses this operation can answer besides those every operation of its kind can. */
  errors?: number[];
  /** The answer carries x-trellis-revision (a change to the mesh). */
  revisionHeader?: boolean;
}

const P = API_PREFIX;

const S = {
  Service: named('Service', Service),
  ServicePage: named('ServicePage', pageOf(Service)),
  ServiceSpec: named('ServiceSpec', ServiceSpec),
  ServiceReplace: named('ServiceReplace', ServiceReplace),
  Endpoint: named('Endpoint', Endpoint),
  EndpointPage: named('EndpointPage', pageOf(Endpoint)),
  EndpointSpec: named('EndpointSpec', EndpointSpec),
  EndpointReplace: named('EndpointReplace', EndpointReplace),
  RouteRule: named('RouteRule', RouteRule),
  RouteRulePage: named('RouteRulePage', pageOf(RouteRule)),
  RouteRuleSpec: named('RouteRuleSpec', RouteRuleSpec),
  RouteRuleReplace: named('RouteRuleReplace', RouteRuleReplace),
  TrafficPolicy: named('TrafficPolicy', TrafficPolicy),
  TrafficPolicyPage: named('TrafficPolicyPage', pageOf(TrafficPolicy)),
  TrafficPolicySpec: named('TrafficPolicySpec', TrafficPolicySpec),
  TrafficPolicyReplace: named('TrafficPolicyReplace', TrafficPolicyReplace),
  AuthorizationPolicy: named('AuthorizationPolicy', AuthorizationPolicy),
  AuthorizationPolicyPage: named('AuthorizationPolicyPage', pageOf(AuthorizationPolicy)),
  AuthorizationPolicySpec: named('AuthorizationPolicySpec', AuthorizationPolicySpec),
  AuthorizationPolicyReplace: named('AuthorizationPolicyReplace', AuthorizationPolicyReplace),
  MeshSettings: named('MeshSettings', MeshSettings),
  MeshSettingsReplace: named('MeshSettingsReplace', MeshSettingsReplace),
  RevisionSummaryPage: named('RevisionSummaryPage', pageOf(RevisionSummary)),
  Revision: named('Revision', Revision),
  RollbackRequest: named('RollbackRequest', RollbackRequest),
  RollbackResult: named('RollbackResult', RollbackResult),
  AuditEntryPage: named('AuditEntryPage', pageOf(AuditEntry)),
  SecurityEventPage: named('SecurityEventPage', pageOf(SecurityEvent)),
  ProxyStatusList: named('ProxyStatusList', ProxyStatusList),
  Topology: named('Topology', Topology),
  MetricsSeries: named('MetricsSeries', MetricsSeries),
  LoginRequest: named('LoginRequest', LoginRequest),
  LoginResponse: named('LoginResponse', LoginResponse),
  Me: named('Me', Me),
  PasswordChange: named('PasswordChange', PasswordChange),
  User: named('User', User),
  UserPage: named('UserPage', pageOf(User)),
  UserCreate: named('UserCreate', UserCreate),
  UserUpdate: named('UserUpdate', UserUpdate),
  ApiTokenList: named('ApiTokenList', z.object({ items: z.array(ApiToken) })),
  ApiTokenCreate: named('ApiTokenCreate', ApiTokenCreate),
  ApiTokenCreated: named('ApiTokenCreated', ApiTokenCreated),
  JoinTokenList: named('JoinTokenList', z.object({ items: z.array(JoinToken) })),
  JoinTokenCreate: named('JoinTokenCreate', JoinTokenCreate),
  JoinTokenCreated: named('JoinTokenCreated', JoinTokenCreated),
};

/** The five operations of a versioned mesh resource: list, create, get, replace, delete. */
function resource(options: {
  path: string;
  tag: string;
  noun: string;
  role: { read: RouteAccess; write: RouteAccess };
  params: z.ZodObject;
  listQuery: z.ZodType;
  item: Named;
  page: Named;
  spec: Named;
  replace: Named;
  /** Path of one item, below `path`. */
  itemPath?: string;
  createErrors?: number[];
}): Operation[] {
  const { path, tag, noun, role, item } = options;
  const one = `${path}${options.itemPath ?? '/:name'}`;
  const parentParams = options.itemPath ? z.object({ name: NameParams.shape.name }) : undefined;
  return [
    {
      method: 'GET',
      path,
      tag,
      summary: `List ${noun}s`,
      description: 'Paged: pass the `nextCursor` of one page as `cursor` to get the next.',
      role: role.read,
      ...(parentParams ? { params: parentParams } : {}),
      query: options.listQuery,
      responses: { 200: options.page },
      ...(parentParams ? { errors: [404] } : {}),
    },
    {
      method: 'POST',
      path,
      tag,
      summary: `Create a ${noun}`,
      role: role.write,
      ...(parentParams ? { params: parentParams } : {}),
      body: options.spec,
      responses: { 201: item },
      errors: [409, 422, ...(parentParams ? [404] : []), ...(options.createErrors ?? [])],
      revisionHeader: true,
    },
    {
      method: 'GET',
      path: one,
      tag,
      summary: `Get a ${noun}`,
      role: role.read,
      params: options.params,
      responses: { 200: item },
      errors: [404],
    },
    {
      method: 'PUT',
      path: one,
      tag,
      summary: `Replace a ${noun}`,
      description: 'Send the `version` you read: a stale one is refused with 409 and the current resource.',
      role: role.write,
      params: options.params,
      body: options.replace,
      responses: { 200: item },
      errors: [404, 409, 422],
      revisionHeader: true,
    },
    {
      method: 'DELETE',
      path: one,
      tag,
      summary: `Delete a ${noun}`,
      description: 'With `?version=`, refused (409) unless the resource is still at that version.',
      role: role.write,
      params: options.params,
      query: DeleteQuery,
      responses: { 204: null },
      errors: [404, 409],
      revisionHeader: true,
    },
  ];
}

/** The three admin operations of a kind of secret token: list (never the secrets), create (the secret, once), revoke. */
function secrets(options: {
  path: string;
  tag: string;
  noun: string;
  list: Named;
  create: Named;
  created: Named;
  createErrors?: number[];
}): Operation[] {
  const { path, tag, noun } = options;
  const common = { tag, role: 'admin' } as const;
  return [
    {
      ...common,
      method: 'GET',
      path,
      summary: `List ${tag} (never their secrets)`,
      responses: { 200: options.list },
    },
    {
      ...common,
      method: 'POST',
      path,
      summary: `Create ${noun}; the secret is in this answer only`,
      body: options.create,
      responses: { 201: options.created },
      ...(options.createErrors ? { errors: options.createErrors } : {}),
    },
    {
      ...common,
      method: 'DELETE',
      path: `${path}/:id`,
      summary: `Revoke ${noun}`,
      params: TokenIdParams,
      responses: { 204: null },
      errors: [404],
    },
  ];
}

const RW = { read: 'viewer', write: 'editor' } as const;
const StatusOk = z.object({ status: z.literal('ok') });
const StatusReady = z.object({ status: z.literal('ready') });
const DocsAssetParams = z.object({ asset: z.enum(DOCS_ASSETS) });

/** Every operation of the API. */
export const OPERATIONS: readonly Operation[] = [
  {
    method: 'GET',
    path: '/healthz',
    tag: 'health',
    summary: 'The process answers',
    role: 'public',
    responses: { 200: StatusOk },
  },
  {
    method: 'GET',
    path: '/readyz',
    tag: 'health',
    summary: 'The database answers and every migration is applied',
    role: 'public',
    responses: { 200: StatusReady },
    errors: [503],
  },
  {
    method: 'GET',
    path: PROMETHEUS_PATH,
    tag: 'observability',
    summary: 'Prometheus metrics of this control-plane replica',
    description: 'Text exposition format 0.0.4. Scrape with a viewer API token as a bearer token.',
    role: 'viewer',
    responses: { 200: { media: 'text/plain', description: 'Prometheus text exposition format' } },
  },
  {
    method: 'GET',
    path: OPENAPI_PATH,
    tag: 'observability',
    summary: 'This OpenAPI 3.1 document',
    role: 'public',
    responses: { 200: { media: 'application/json', description: 'An OpenAPI 3.1 document' } },
  },
  {
    method: 'GET',
    path: DOCS_PATH,
    tag: 'observability',
    summary: 'The browsable API reference',
    role: 'public',
    responses: { 200: { media: 'text/html', description: 'The reference page' } },
  },
  {
    method: 'GET',
    path: `${DOCS_PATH}/:asset`,
    tag: 'observability',
    summary: "A file of the reference page (the viewer's script and styles)",
    role: 'public',
    params: DocsAssetParams,
    responses: { 200: { media: 'application/octet-stream', description: 'JavaScript or CSS' } },
    errors: [404],
  },

  {
    method: 'POST',
    path: `${P}/auth/login`,
    tag: 'auth',
    summary: 'Sign in to the console',
    description: `Answers with the \`${SESSION_COOKIE}\` cookie and the session's CSRF token, which cookie-authenticated writes send in \`${CSRF_HEADER}\`. Repeated failures are refused with 429 for a while.`,
    role: 'public',
    body: S.LoginRequest,
    responses: { 200: S.LoginResponse },
    errors: [401, 429],
  },
  {
    method: 'POST',
    path: `${P}/auth/logout`,
    tag: 'auth',
    summary: 'End the session',
    role: 'viewer',
    responses: { 204: null },
  },
  {
    method: 'GET',
    path: `${P}/auth/me`,
    tag: 'auth',
    summary: 'Who the caller is',
    role: 'viewer',
    responses: { 200: S.Me },
  },
  {
    method: 'POST',
    path: `${P}/auth/password`,
    tag: 'auth',
    summary: "Change the signed-in user's own password",
    role: 'viewer',
    body: S.PasswordChange,
    responses: { 204: null },
  },

  ...resource({
    path: `${P}/services`,
    tag: 'services',
    noun: 'service',
    role: RW,
    params: NameParams,
    listQuery: PageQuery,
    item: S.Service,
    page: S.ServicePage,
    spec: S.ServiceSpec,
    replace: S.ServiceReplace,
  }),
  ...resource({
    path: `${P}/services/:name/endpoints`,
    itemPath: '/:id',
    tag: 'endpoints',
    noun: 'endpoint',
    role: RW,
    params: EndpointParams,
    listQuery: PageQuery,
    item: S.Endpoint,
    page: S.EndpointPage,
    spec: S.EndpointSpec,
    replace: S.EndpointReplace,
  }),
  {
    method: 'POST',
    path: `${P}/services/:name/endpoints/:id/heartbeat`,
    tag: 'endpoints',
    summary: 'Extend the TTL of an API-registered endpoint',
    role: 'editor',
    params: EndpointParams,
    responses: { 200: S.Endpoint },
    errors: [404],
  },
  ...resource({
    path: `${P}/routes`,
    tag: 'routes',
    noun: 'route rule',
    role: RW,
    params: NameParams,
    listQuery: FilteredPageQuery,
    item: S.RouteRule,
    page: S.RouteRulePage,
    spec: S.RouteRuleSpec,
    replace: S.RouteRuleReplace,
  }),
  ...resource({
    path: `${P}/policies`,
    tag: 'policies',
    noun: 'traffic policy',
    role: RW,
    params: NameParams,
    listQuery: FilteredPageQuery,
    item: S.TrafficPolicy,
    page: S.TrafficPolicyPage,
    spec: S.TrafficPolicySpec,
    replace: S.TrafficPolicyReplace,
  }),
  ...resource({
    path: `${P}/authorization-policies`,
    tag: 'authorization-policies',
    noun: 'authorization policy',
    role: RW,
    params: NameParams,
    listQuery: AuthorizationListQuery,
    item: S.AuthorizationPolicy,
    page: S.AuthorizationPolicyPage,
    spec: S.AuthorizationPolicySpec,
    replace: S.AuthorizationPolicyReplace,
  }),
  {
    method: 'GET',
    path: `${P}/mesh/settings`,
    tag: 'mesh',
    summary: 'Mesh-wide settings (mutual TLS mode, path settings)',
    role: 'viewer',
    responses: { 200: S.MeshSettings },
  },
  {
    method: 'PUT',
    path: `${P}/mesh/settings`,
    tag: 'mesh',
    summary: 'Replace the mesh-wide settings',
    description:
      'Send the `version` you read: a stale one is refused with 409 and the current settings. `http` left out is kept as the mesh has it. A change is a revision every proxy receives.',
    role: 'admin',
    body: S.MeshSettingsReplace,
    responses: { 200: S.MeshSettings },
    errors: [409],
    revisionHeader: true,
  },

  {
    method: 'GET',
    path: `${P}/revisions`,
    tag: 'history',
    summary: 'List revisions, newest first',
    role: 'viewer',
    query: RevisionListQuery,
    responses: { 200: S.RevisionSummaryPage },
  },
  {
    method: 'GET',
    path: `${P}/revisions/:revision`,
    tag: 'history',
    summary: 'Get a revision with its configuration or endpoint lists',
    role: 'viewer',
    params: RevisionParams,
    responses: { 200: S.Revision },
    errors: [404],
  },
  {
    method: 'POST',
    path: `${P}/revisions/:revision/rollback`,
    tag: 'history',
    summary: 'Restore the configuration of a revision as a new revision',
    role: 'editor',
    params: RevisionParams,
    body: S.RollbackRequest,
    responses: { 200: S.RollbackResult },
    errors: [404, 409],
    revisionHeader: true,
  },
  {
    method: 'GET',
    path: `${P}/audit`,
    tag: 'history',
    summary: 'The audit log, newest first',
    role: 'viewer',
    query: AuditQuery,
    responses: { 200: S.AuditEntryPage },
  },
  {
    method: 'GET',
    path: `${P}/security-events`,
    tag: 'history',
    summary: 'The security log, newest first: joins, identities issued, sign-ins, users and tokens changed',
    role: 'admin',
    query: SecurityEventQuery,
    responses: { 200: S.SecurityEventPage },
  },

  {
    method: 'GET',
    path: `${P}/proxies`,
    tag: 'proxies',
    summary: 'Every proxy and how far it has converged',
    description: 'Asks the other control-plane replicas too, unless `scope=local`.',
    role: 'viewer',
    query: ProxiesQuery,
    responses: { 200: S.ProxyStatusList },
  },
  {
    method: 'GET',
    path: `${P}/topology`,
    tag: 'telemetry',
    summary: 'The live service graph with rates, errors and latency',
    role: 'viewer',
    responses: { 200: S.Topology },
  },
  {
    method: 'GET',
    path: `${P}/metrics`,
    tag: 'telemetry',
    summary: 'Time series of one service or one edge',
    description: 'JSON series for the console; the Prometheus endpoint is GET /metrics.',
    role: 'viewer',
    query: MetricsQuery,
    responses: { 200: S.MetricsSeries },
  },

  {
    method: 'GET',
    path: `${P}/users`,
    tag: 'users',
    summary: 'List users',
    role: 'admin',
    query: PageQuery,
    responses: { 200: S.UserPage },
  },
  {
    method: 'POST',
    path: `${P}/users`,
    tag: 'users',
    summary: 'Create a user',
    role: 'admin',
    body: S.UserCreate,
    responses: { 201: S.User },
    errors: [409],
  },
  {
    method: 'PUT',
    path: `${P}/users/:username`,
    tag: 'users',
    summary: "Change a user's role or password",
    role: 'admin',
    params: UserParams,
    body: S.UserUpdate,
    responses: { 200: S.User },
    errors: [404, 409],
  },
  {
    method: 'DELETE',
    path: `${P}/users/:username`,
    tag: 'users',
    summary: 'Delete a user',
    role: 'admin',
    params: UserParams,
    responses: { 204: null },
    errors: [404, 409],
  },
  ...secrets({
    path: `${P}/tokens`,
    tag: 'tokens',
    noun: 'an API token',
    list: S.ApiTokenList,
    create: S.ApiTokenCreate,
    created: S.ApiTokenCreated,
  }),
  ...secrets({
    path: `${P}/join-tokens`,
    tag: 'join-tokens',
    noun: "a join token for one service's proxies",
    list: S.JoinTokenList,
    create: S.JoinTokenCreate,
    created: S.JoinTokenCreated,
    createErrors: [404, 422],
  }),
];

// ---- the document ------------------------------------------------------------------------------------------

type Json = Record<string, unknown>;

const ROLE_TEXT: Record<RouteAccess, string> = {
  public: 'No credentials needed.',
  viewer: 'Needs the **viewer** role or higher.',
  editor: 'Needs the **editor** role or higher.',
  admin: 'Needs the **admin** role.',
};

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Json {
  const out = z.toJSONSchema(schema, { io, target: 'draft-2020-12', unrepresentable: 'any' }) as Json;
  delete out.$schema;
  return out;
}

/** `/services/:name` → `/services/{name}`. */
export function openApiPath(path: string): string {
  return path.replace(/:(\w+)/g, '{$1}');
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  204: 'No content',
  400: 'The request failed validation (field errors in `errors`)',
  401: 'No credentials, or ones that are not valid',
  403: 'The caller lacks the role, or a cookie-authenticated write lacks the CSRF header',
  404: 'No such resource',
  409: 'Conflict: a stale version, an existing name, or a resource still in use',
  413: 'The request body is too large',
  415: 'The request body must be application/json',
  422: 'The resource refers to something that does not exist',
  429: 'Too many attempts; see Retry-After',
  503: 'Not ready, or the database is unavailable',
};

/** The error codes (packages/schema/src/error-catalogue.ts) that can come with a status. */
function codesFor(status: number): string[] {
  return Object.entries(ERRORS)
    .filter(([, e]) => e.status === status && !('tag' in e))
    .map(([code]) => code);
}

function errorStatuses(op: Operation): number[] {
  const out = new Set<number>(op.errors ?? []);
  if (op.params || op.query || op.body) out.add(400);
  if (op.body) {
    out.add(400);
    out.add(413);
    out.add(415);
  }
  if (op.role !== 'public') {
    out.add(401);
    out.add(403);
  }
  return [...out].sort((a, b) => a - b);
}

function parameters(op: Operation): Json[] {
  const out: Json[] = [];
  for (const [where, schema] of [
    ['path', op.params],
    ['query', op.query],
  ] as const) {
    if (!schema) continue;
    const json = jsonSchema(schema, 'input');
    const props = (json.properties ?? {}) as Record<string, Json>;
    const required = new Set((json.required ?? []) as string[]);
    for (const [name, prop] of Object.entries(props)) {
      const { description, ...rest } = prop;
      out.push({
        name,
        in: where,
        required: where === 'path' || (required.has(name) && !('default' in prop)),
        schema: rest,
        ...(typeof description === 'string' ? { description } : {}),
      });
    }
  }
  return out;
}

/** Builds the OpenAPI 3.1 document. */
export function openApiDocument(options: { version?: string } = {}): Json {
  const schemas: Record<string, Json> = {};
  const seen = new Map<string, { schema: z.ZodType; io: 'input' | 'output' }>();
  const ref = (n: Named, io: 'input' | 'output'): Json => {
    const before = seen.get(n.name);
    if (before && (before.schema !== n.schema || before.io !== io)) {
      throw new Error(`two schemas are named ${n.name} in the API description`);
    }
    if (!before) {
      seen.set(n.name, { schema: n.schema, io });
      schemas[n.name] = jsonSchema(n.schema, io);
    }
    return { $ref: `#/components/schemas/${n.name}` };
  };
  schemas.Problem = jsonSchema(Problem, 'output');

  const paths: Record<string, Record<string, Json>> = {};
  for (const op of OPERATIONS) {
    const responses: Record<string, Json> = {};
    const revisionHeader = op.revisionHeader
      ? {
          headers: {
            'x-trellis-revision': {
              description: 'The revision the change made, or the current one when it changed nothing.',
              schema: { type: 'integer' },
            },
          },
        }
      : {};
    for (const [status, answer] of Object.entries(op.responses)) {
      const description = STATUS_TEXT[Number(status)] ?? 'OK';
      if (answer === null) responses[status] = { description, ...revisionHeader };
      else if ('media' in answer) {
        responses[status] = {
          description: answer.description,
          content: {
            [answer.media]: {
              schema: answer.media === 'application/json' ? { type: 'object' } : { type: 'string' },
            },
          },
        };
      } else {
        const schema = 'name' in answer ? ref(answer, 'output') : jsonSchema(answer, 'output');
        responses[status] = { description, ...revisionHeader, content: { 'application/json': { schema } } };
      }
    }
    for (const status of errorStatuses(op)) {
      const codes = codesFor(status);
      responses[String(status)] = {
        description: `${STATUS_TEXT[status] ?? 'Error'}. Codes: ${codes.join(', ')}.`,
        content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
      };
    }
    responses.default = {
      description: 'Any other error (e.g. 500 TRELLIS_ERR_INTERNAL), as problem+json.',
      content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
    };
    const writes = op.method !== 'GET';
    const security =
      op.role === 'public' ? [] : [{ bearer: [] }, writes ? { session: [], csrf: [] } : { session: [] }];
    const operation: Json = {
      operationId: `${op.method.toLowerCase()}${openApiPath(op.path)
        .replace(/[{}]/g, '')
        .split(/[/.-]/)
        .filter(Boolean)
        .map((part) => part[0]?.toUpperCase() + part.slice(1))
        .join('')}`,
      tags: [op.tag],
      summary: op.summary,
      description: [op.description, ROLE_TEXT[op.role]].filter(Boolean).join('\n\n'),
      'x-trellis-role': op.role,
      security,
      parameters: parameters(op),
      ...(op.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: ref(op.body, 'input') } },
            },
          }
        : {}),
      responses,
    };
    const path = openApiPath(op.path);
    paths[path] ??= {};
    (paths[path] as Record<string, Json>)[op.method.toLowerCase()] = operation;
  }

  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'Trellis control plane API',
      version: options.version ?? '1',
      description:
        "The REST API of the Trellis control plane: the mesh model (services, endpoints, route rules, traffic and authorization policies), its history, proxies and telemetry, and the control plane's own users and tokens. Errors are RFC 9457 problem documents with a stable `code`. Every operation names the role it needs in `x-trellis-role`.",
    },
    servers: [{ url: '/' }],
    tags: [...new Set(OPERATIONS.map((op) => op.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas,
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'An API token (POST /api/v1/tokens) or the static TRELLIS_ADMIN_TOKEN.',
        },
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: SESSION_COOKIE,
          description: 'The console session cookie from POST /api/v1/auth/login.',
        },
        csrf: {
          type: 'apiKey',
          in: 'header',
          name: CSRF_HEADER,
          description: "Writes signed in with the session cookie must also send the session's CSRF token.",
        },
      },
    },
  };
}

/** The reference page: the viewer's own files from this control plane, so a strict CSP holds. */
export const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Trellis API reference</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${DOCS_PATH}/swagger-ui.css">
</head>
<body>
<div id="reference"></div>
<script src="${DOCS_PATH}/swagger-ui-bundle.js"></script>
<script src="${DOCS_PATH}/init.js"></script>
</body>
</html>
`;

/** Starts the viewer; a file of its own, not inline, so the page needs no 'unsafe-inline' script. */
export const DOCS_INIT_JS = `window.addEventListener('load', function () {
  window.SwaggerUIBundle({
    url: '${OPENAPI_PATH}',
    dom_id: '#reference',
    deepLinking: true,
    withCredentials: true,
  });
});
`;

export const DOCS_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  // The viewer sets style attributes from script.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
].join('; ');

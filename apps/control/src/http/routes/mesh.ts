/**
 * REST routes for the mesh resources: services, their endpoints, route rules and traffic policies.
 * Handlers only parse (with the shared schemas) and call the store; errors travel to the app's one handler.
 */
import {
  API_PREFIX,
  DnsLabel,
  EndpointReplace,
  EndpointSpec,
  MeshSettingsReplace,
  PageQuery,
  RouteRuleReplace,
  RouteRuleSpec,
  ServiceReplace,
  ServiceSpec,
  TrafficPolicyReplace,
  TrafficPolicySpec,
} from '@trellis/schema';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { actorName } from '../../auth/guard.ts';
import { CHANGE_ROLES } from '../../auth/roles.ts';
import { parseWith, TrellisError } from '../../errors.ts';
import type { StoreDeps } from '../../store/change.ts';
import * as endpoints from '../../store/endpoints.ts';
import * as policies from '../../store/policies.ts';
import * as routes from '../../store/routes.ts';
import * as services from '../../store/services.ts';
import * as settings from '../../store/settings.ts';
import { body, DeleteQuery, NameParams, sendChange } from './change-reply.ts';

export const EndpointParams = z.object({ name: DnsLabel, id: z.string() });
export const FilteredPageQuery = PageQuery.extend({ service: DnsLabel.optional() }).strip();
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Who made a change, for the audit log and the history: `user:<username>` or `token:<name>`. */
export function actorOf(request: FastifyRequest): string {
  return actorName(request.principal);
}

function endpointId(params: unknown) {
  const p = parseWith(EndpointParams, params);
  if (!UUID.test(p.id))
    throw new TrellisError(
      'TRELLIS_ERR_NOT_FOUND',
      `endpoint ${JSON.stringify(`${p.name}/${p.id}`)} does not exist`,
    );
  return p;
}

export function registerMeshRoutes(app: FastifyInstance, store: StoreDeps) {
  const P = API_PREFIX;

  app.get(`${P}/services`, async (req) =>
    services.listServices(store, parseWith(PageQuery.strip(), req.query)),
  );
  app.post(`${P}/services`, async (req, reply) => {
    const spec = parseWith(ServiceSpec, body(req));
    const result = await services.createService(store, actorOf(req), spec);
    return sendChange(store, reply, result, 201, `${P}/services/${spec.name}`);
  });
  app.get(`${P}/services/:name`, async (req) =>
    services.getService(store, parseWith(NameParams, req.params).name),
  );
  app.put(`${P}/services/:name`, async (req, reply) => {
    const { name } = parseWith(NameParams, req.params);
    const result = await services.replaceService(
      store,
      actorOf(req),
      name,
      parseWith(ServiceReplace, body(req)),
    );
    return sendChange(store, reply, result, 200);
  });
  app.delete(`${P}/services/:name`, async (req, reply) => {
    const { name } = parseWith(NameParams, req.params);
    const { version } = parseWith(DeleteQuery, req.query);
    return sendChange(store, reply, await services.deleteService(store, actorOf(req), name, version), 204);
  });

  app.get(`${P}/services/:name/endpoints`, async (req) =>
    endpoints.listEndpoints(
      store,
      parseWith(NameParams, req.params).name,
      parseWith(PageQuery.strip(), req.query),
    ),
  );
  app.post(`${P}/services/:name/endpoints`, async (req, reply) => {
    const { name } = parseWith(NameParams, req.params);
    const result = await endpoints.createEndpoint(
      store,
      actorOf(req),
      name,
      parseWith(EndpointSpec, body(req)),
    );
    return sendChange(store, reply, result, 201, `${P}/services/${name}/endpoints/${result.value.id}`);
  });
  app.get(`${P}/services/:name/endpoints/:id`, async (req) => {
    const { name, id } = endpointId(req.params);
    return endpoints.getEndpoint(store, name, id);
  });
  app.put(`${P}/services/:name/endpoints/:id`, async (req, reply) => {
    const { name, id } = endpointId(req.params);
    const result = await endpoints.replaceEndpoint(
      store,
      actorOf(req),
      name,
      id,
      parseWith(EndpointReplace, body(req)),
    );
    return sendChange(store, reply, result, 200);
  });
  app.delete(`${P}/services/:name/endpoints/:id`, async (req, reply) => {
    const { name, id } = endpointId(req.params);
    const { version } = parseWith(DeleteQuery, req.query);
    return sendChange(
      store,
      reply,
      await endpoints.deleteEndpoint(store, actorOf(req), name, id, version),
      204,
    );
  });
  app.post(`${P}/services/:name/endpoints/:id/heartbeat`, async (req) => {
    const { name, id } = endpointId(req.params);
    return endpoints.heartbeatEndpoint(store, name, id);
  });

  app.get(`${P}/routes`, async (req) => routes.listRoutes(store, parseWith(FilteredPageQuery, req.query)));
  app.post(`${P}/routes`, async (req, reply) => {
    const spec = parseWith(RouteRuleSpec, body(req));
    return sendChange(
      store,
      reply,
      await routes.createRoute(store, actorOf(req), spec),
      201,
      `${P}/routes/${spec.name}`,
    );
  });
  app.get(`${P}/routes/:name`, async (req) => routes.getRoute(store, parseWith(NameParams, req.params).name));
  app.put(`${P}/routes/:name`, async (req, reply) => {
    const { name } = parseWith(NameParams, req.params);
    const result = await routes.replaceRoute(
      store,
      actorOf(req),
      name,
      parseWith(RouteRuleReplace, body(req)),
    );
    return sendChange(store, reply, result, 200);
  });
  app.delete(`${P}/routes/:name`, async (req, reply) => {
    const { name } = parseWith(NameParams, req.params);
    const { version } = parseWith(DeleteQuery, req.query);
    return sendChange(store, reply, await routes.deleteRoute(store, actorOf(req), name, version), 204);
  });

  app.get(`${P}/policies`, async (req) =>
    policies.listPolicies(store, parseWith(FilteredPageQuery, req.query)),
  );
  app.post(`${P}/policies`, async (req, reply) => {
    const spec = parseWith(TrafficPolicySpec, body(req));
    const result = await policies.createPolicy(store, actorOf(req), spec);
    return sendChange(store, reply, result, 201, `${P}/policies/${spec.name}`);
  });
  app.get(`${P}/policies/:name`, async (req) =>
    policies.getPolicy(store, parseWith(NameParams, req.params).name),
  );
  app.put(`${P}/policies/:name`, async (req, reply) => {
    const { name } = parseWith(NameParams, req.params);
    const result = await policies.replacePolicy(
      store,
      actorOf(req),
      name,
      parseWith(TrafficPolicyReplace, body(req)),
    );
    return sendChange(store, reply, result, 200);
  });
  app.delete(`${P}/policies/:name`, async (req, reply) => {
    const { name } = parseWith(NameParams, req.params);
    const { version } = parseWith(DeleteQuery, req.query);
    return sendChange(store, reply, await policies.deletePolicy(store, actorOf(req), name, version), 204);
  });
  app.get(`${P}/mesh/settings`, { config: { role: 'viewer' } }, async () => settings.getSettings(store));
  app.put(`${P}/mesh/settings`, { config: { role: CHANGE_ROLES['mesh-settings'] } }, async (req, reply) => {
    const result = await settings.replaceSettings(
      store,
      actorOf(req),
      parseWith(MeshSettingsReplace, body(req)),
    );
    return sendChange(store, reply, result, 200);
  });
}

/**
 * Every zod schema the proxy runs, behind plain functions: the proxy validates its config, the control plane's
 * messages and the last-known-good snapshot here, and nowhere else. The rest of the proxy imports only the zod-free
 * files of @trellis/schema (constants, the error catalogue, matching).
 *
 * Validation happens at start and at each config change, never per request, yet zod and the mesh schemas were
 * the largest part of an idle sidecar's memory (docs/proxy-memory.md). So the built proxy (scripts/build.mjs)
 * makes this module a file of its own, required at the first call and dropped again after a quiet spell; while
 * running from source (tests), it is an ordinary module. Results are plain data: nothing returned keeps a schema.
 */
import {
  ControlMessage,
  describeFieldErrors,
  type FieldError,
  IdentityMessage,
  MeshSlice,
  MeshSliceConfig,
  ProxyConfig,
  RouteRuleSpec,
  TrafficPolicySpec,
  toFieldErrors,
} from '@trellis/schema';
import type { z } from 'zod';

export type Checked<T> = { ok: true; value: T } | { ok: false; errors: FieldError[]; message: string };

function check<T>(schema: z.ZodType<T>, input: unknown): Checked<T> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return { ok: true, value: parsed.data };
  const errors = toFieldErrors(parsed.error);
  return { ok: false, errors, message: describeFieldErrors(errors) };
}

export const checkProxyConfig = (input: unknown): Checked<ProxyConfig> => check(ProxyConfig, input);
export const checkMeshSlice = (input: unknown): Checked<MeshSlice> => check(MeshSlice, input);
export const checkMeshSliceConfig = (input: unknown): Checked<MeshSliceConfig> =>
  check(MeshSliceConfig, input);
export const checkControlMessage = (input: unknown): Checked<ControlMessage> => check(ControlMessage, input);
export const checkIdentityMessage = (input: unknown): Checked<IdentityMessage> =>
  check(IdentityMessage, input);

/** The route of a service that has none: everything to the service, with the schema's defaults. */
export const defaultRoute = (service: string): RouteRuleSpec =>
  RouteRuleSpec.parse({ name: 'default', service });

/** The traffic policy of a service that has none, with the schema's defaults. */
export const defaultPolicy = (service: string): TrafficPolicySpec =>
  TrafficPolicySpec.parse({ name: `${service}-default`, service });

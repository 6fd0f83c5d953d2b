/**
 * AuthorizationPolicy: which callers may reach a service, enforced by the destination's inbound proxy from the
 * caller's verified mutual-TLS identity, with Istio's semantics. For a request to service S the policies of S and
 * of "*" (mesh-wide) apply: a matching enforced DENY rule denies; otherwise, if any enforced ALLOW policy applies,
 * some ALLOW rule must match; otherwise the request is allowed. So `{destination: '*', action: 'allow', rules: []}`
 * is a mesh-wide default-deny. Dry-run policies are evaluated the same way but only counted and logged.
 *
 * A principal is an exact SPIFFE ID, a prefix ending in "*", "*" (any caller with a verified identity) or
 * `service:<name>`, the SPIFFE ID of that service in the mesh's trust domain. A caller without a verified identity
 * (plaintext in permissive mode) matches no principal, not even "*".
 */
import { z } from 'zod';
import { isPrincipal, MESH_WIDE } from './authz-match.ts';
import { DnsLabel, typeError } from './common.ts';
import { HttpMethod } from './route.ts';

export const Principal = z.string({ error: typeError('a string') }).refine(isPrincipal, {
  error:
    'must be a SPIFFE ID ("spiffe://<trust domain>/ns/<namespace>/sa/<service>"), a prefix of one ending in "*", "*" (any authenticated caller) or "service:<name>"',
});

/** A request path: exact, or a prefix ending in "*" ("/api/*"). No query string. */
export const AuthorizationPath = z
  .string({ error: typeError('a string') })
  .max(1024, { error: 'must be at most 1024 characters' })
  .regex(/^\/[^\s?#*]*\*?$/, {
    error: 'must start with "/" and hold no query, spaces or "*" except one "*" at the end (a prefix)',
  });

export const AuthorizationSource = z.strictObject({ principal: Principal });
export type AuthorizationSource = z.infer<typeof AuthorizationSource>;

/** An operation matches when each field it has matches (no field: any request). */
export const AuthorizationOperation = z.strictObject({
  paths: z
    .array(AuthorizationPath)
    .min(1, { error: 'must list at least one path, or be left out' })
    .max(64)
    .optional(),
  methods: z
    .array(HttpMethod)
    .min(1, { error: 'must list at least one method, or be left out' })
    .max(9)
    .optional(),
});
export type AuthorizationOperation = z.infer<typeof AuthorizationOperation>;

/** A rule matches when every field it has matches: `from` when any source does, `to` when any operation does. */
export const AuthorizationRule = z.strictObject({
  from: z
    .array(AuthorizationSource)
    .min(1, { error: 'must list at least one source, or be left out' })
    .max(64)
    .optional(),
  to: z
    .array(AuthorizationOperation)
    .min(1, { error: 'must list at least one operation, or be left out' })
    .max(64)
    .optional(),
});
export type AuthorizationRule = z.infer<typeof AuthorizationRule>;

export const AuthorizationDestination = z
  .string({ error: typeError('a string') })
  .refine((v) => v === MESH_WIDE || DnsLabel.safeParse(v).success, {
    error: 'must be a service name, or "*" for every service of the mesh',
  });

export const AuthorizationAction = z.enum(['allow', 'deny'], { error: 'must be "allow" or "deny"' });
export type AuthorizationAction = z.infer<typeof AuthorizationAction>;

export const AuthorizationPolicySpec = z.strictObject({
  name: DnsLabel,
  destination: AuthorizationDestination,
  action: AuthorizationAction,
  /** Empty: matches no request (an ALLOW policy with no rules denies everything it applies to). */
  rules: z.array(AuthorizationRule).max(256, { error: 'at most 256 rules' }),
  /** Evaluated and counted, never enforced. */
  dryRun: z.boolean({ error: typeError('true or false') }).default(false),
});
export type AuthorizationPolicySpec = z.infer<typeof AuthorizationPolicySpec>;
export type AuthorizationPolicySpecInput = z.input<typeof AuthorizationPolicySpec>;

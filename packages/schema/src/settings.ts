/**
 * Mesh-wide settings: one set per mesh, changed through the API and versioned with the mesh like its rules, so a
 * change is a revision every proxy receives, shows in the history and is undone by a rollback. They hold the mutual
 * TLS mode of every sidecar (as Istio's mesh-wide PeerAuthentication does) and how sidecars read request paths.
 *
 * A part added after clients and revisions were written (`http`) may be left out of a PUT and is absent from the
 * revisions stored before it: either way the mesh keeps the value it has, so a client that predates a setting
 * cannot turn it back to its default by sending what it knows.
 */
import { z } from 'zod';
import { count, typeError } from './common.ts';

/**
 * "off": sidecars call each other in plaintext (inbound listeners still accept mutual TLS); "permissive": they
 * call each other with mutual TLS, falling back to plaintext for a sidecar without a certificate yet, and inbound
 * listeners accept both; "strict": mutual TLS only, plaintext refused.
 */
export const MtlsMode = z.enum(['off', 'permissive', 'strict'], {
  error: 'must be "off", "permissive" or "strict"',
});
export type MtlsMode = z.infer<typeof MtlsMode>;

/**
 * How proxies read request paths. Every proxy normalises a request's path once (RFC 3986: unreserved escapes
 * decoded, "." and ".." removed) and routes, authorizes and forwards that one path; `mergeSlashes` also turns runs
 * of "/" into one, so that "//admin" is "/admin" (Envoy's `merge_slashes`, off by default as there: an app may
 * tell the two apart).
 */
export const MeshHttpSettings = z.strictObject(
  { mergeSlashes: z.boolean({ error: typeError('true or false') }).default(false) },
  { error: typeError('an object') },
);
export type MeshHttpSettings = z.infer<typeof MeshHttpSettings>;

/** The settings a mesh has: every part present. */
export const MeshSettingsSpec = z.strictObject({
  mtls: z.strictObject({ mode: MtlsMode }, { error: typeError('an object') }),
  http: MeshHttpSettings,
});
export type MeshSettingsSpec = z.infer<typeof MeshSettingsSpec>;

/**
 * Settings as a PUT or a stored revision writes them: `http` may be left out (by clients written, and revisions
 * stored, before it existed), and the mesh then keeps the one it has.
 */
export const MeshSettingsUpdate = MeshSettingsSpec.partial({ http: true });
export type MeshSettingsUpdate = z.infer<typeof MeshSettingsUpdate>;

/**
 * What a mesh starts with: mutual TLS on, plaintext still accepted while sidecars get their certificates; paths
 * forwarded with their slashes as they came.
 */
export const DEFAULT_MESH_SETTINGS: MeshSettingsSpec = {
  mtls: { mode: 'permissive' },
  http: { mergeSlashes: false },
};

export const MeshSettings = MeshSettingsSpec.extend({
  /** Goes up by one with every change; a PUT must name the version it replaces. */
  version: z.number().int(),
  updatedAt: z.iso.datetime(),
});
export type MeshSettings = z.infer<typeof MeshSettings>;

/**
 * PUT /api/v1/mesh/settings: the whole settings and the version they replace (409 if it is not current); `http` left
 * out is kept as the mesh has it (MeshSettingsUpdate).
 */
export const MeshSettingsReplace = MeshSettingsUpdate.extend({
  version: count(1, 2_147_483_647),
});
export type MeshSettingsReplace = z.infer<typeof MeshSettingsReplace>;

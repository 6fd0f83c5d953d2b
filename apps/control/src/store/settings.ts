/**
 * Mesh settings (packages/schema/src/settings.ts), kept on the single MeshState row, a column per setting. A change
 * is a revision like any rule's: it is audited, its snapshot carries the settings to every proxy, and a rollback
 * restores them. A write that leaves a part out (an older client, a revision stored before the part existed) keeps
 * the mesh's current value of it rather than its default.
 */
import {
  DEFAULT_MESH_SETTINGS,
  type MeshSettings,
  type MeshSettingsReplace,
  type MeshSettingsSpec,
  type MeshSettingsUpdate,
  MtlsMode,
} from '@trellis/schema';
import type { Prisma } from '../db/client.ts';
import { type ChangeContext, change, type StoreDeps } from './change.ts';
import { assertVersion, sameSpec } from './common.ts';

type Reader = Pick<Prisma.TransactionClient, 'meshState'>;

interface SettingsRow {
  mtlsMode: string;
  httpMergeSlashes: boolean;
  settingsVersion: number;
  settingsUpdatedAt: Date;
}

const columns = {
  mtlsMode: true,
  httpMergeSlashes: true,
  settingsVersion: true,
  settingsUpdatedAt: true,
} as const;

function specOf(row: SettingsRow | null): MeshSettingsSpec {
  const mode = MtlsMode.safeParse(row?.mtlsMode);
  return {
    mtls: { mode: mode.success ? mode.data : DEFAULT_MESH_SETTINGS.mtls.mode },
    http: { mergeSlashes: row?.httpMergeSlashes ?? DEFAULT_MESH_SETTINGS.http.mergeSlashes },
  };
}

/** The columns of `spec`. */
function columnsOf(spec: MeshSettingsSpec) {
  return { mtlsMode: spec.mtls.mode, httpMergeSlashes: spec.http.mergeSlashes };
}

function settingsOf(row: SettingsRow): MeshSettings {
  return { ...specOf(row), version: row.settingsVersion, updatedAt: row.settingsUpdatedAt.toISOString() };
}

/** The settings a revision's snapshot records. */
export async function settingsSpec(tx: Reader): Promise<MeshSettingsSpec> {
  return specOf(await tx.meshState.findUnique({ where: { id: 1 }, select: columns }));
}

export async function getSettings(deps: StoreDeps): Promise<MeshSettings> {
  const row = await deps.db.meshState.findUnique({ where: { id: 1 }, select: columns });
  if (!row) throw new Error('MeshState row is missing: the database was not migrated');
  return settingsOf(row);
}

/**
 * Writes `update` inside a change (rollbacks use it too), a part it leaves out kept as it is; records nothing when
 * the result is what the mesh has.
 */
export async function writeSettings(
  ctx: ChangeContext,
  update: MeshSettingsUpdate,
  version?: number,
): Promise<{ settings: MeshSettings; changed: boolean }> {
  const row = await ctx.tx.meshState.findUnique({ where: { id: 1 }, select: columns });
  if (!row) throw new Error('MeshState row is missing: the database was not migrated');
  const before = settingsOf(row);
  assertVersion('mesh-settings', 'mesh', version, { version: row.settingsVersion }, before);
  const current = specOf(row);
  const spec: MeshSettingsSpec = { mtls: update.mtls, http: update.http ?? current.http };
  if (sameSpec(current, spec)) return { settings: before, changed: false };
  const updated = await ctx.tx.meshState.update({
    where: { id: 1 },
    data: { ...columnsOf(spec), settingsVersion: row.settingsVersion + 1, settingsUpdatedAt: ctx.now },
    select: columns,
  });
  const after = settingsOf(updated);
  ctx.record({
    action: 'update',
    kind: 'mesh-settings',
    resourceId: 'mesh',
    resourceName: 'mesh',
    before,
    after,
  });
  return { settings: after, changed: true };
}

export async function replaceSettings(deps: StoreDeps, actor: string, body: MeshSettingsReplace) {
  const { version, ...spec } = body;
  return change(deps, actor, async (ctx) => (await writeSettings(ctx, spec, version)).settings);
}

/**
 * Mesh settings (packages/schema/src/settings.ts), kept on the single MeshState row. A change is a revision like
 * any rule's: it is audited, its snapshot carries the settings to every proxy, and a rollback restores them.
 */
import {
  DEFAULT_MESH_SETTINGS,
  type MeshSettings,
  type MeshSettingsReplace,
  type MeshSettingsSpec,
  MtlsMode,
} from '@trellis/schema';
import type { Prisma } from '../db/client.ts';
import { type ChangeContext, change, type StoreDeps } from './change.ts';
import { assertVersion, sameSpec } from './common.ts';

type Reader = Pick<Prisma.TransactionClient, 'meshState'>;

interface SettingsRow {
  mtlsMode: string;
  settingsVersion: number;
  settingsUpdatedAt: Date;
}

const columns = { mtlsMode: true, settingsVersion: true, settingsUpdatedAt: true } as const;

function specOf(row: SettingsRow | null): MeshSettingsSpec {
  const mode = MtlsMode.safeParse(row?.mtlsMode);
  return { mtls: { mode: mode.success ? mode.data : DEFAULT_MESH_SETTINGS.mtls.mode } };
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

/** Writes `spec` inside a change (rollbacks use it too); records nothing when it is what the mesh has. */
export async function writeSettings(
  ctx: ChangeContext,
  spec: MeshSettingsSpec,
  version?: number,
): Promise<{ settings: MeshSettings; changed: boolean }> {
  const row = await ctx.tx.meshState.findUnique({ where: { id: 1 }, select: columns });
  if (!row) throw new Error('MeshState row is missing: the database was not migrated');
  const before = settingsOf(row);
  assertVersion('mesh-settings', 'mesh', version, { version: row.settingsVersion }, before);
  if (sameSpec(specOf(row), spec)) return { settings: before, changed: false };
  const updated = await ctx.tx.meshState.update({
    where: { id: 1 },
    data: { mtlsMode: spec.mtls.mode, settingsVersion: row.settingsVersion + 1, settingsUpdatedAt: ctx.now },
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

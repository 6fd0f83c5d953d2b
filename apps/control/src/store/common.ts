/** Checks shared by every resource store: existence, optimistic concurrency, "did anything change". */
import { isDeepStrictEqual } from 'node:util';
import type { ResourceKind } from '@trellis/schema';
import { TrellisError } from '../errors.ts';

export function notFound(kind: ResourceKind | 'revision', name: string | number): TrellisError {
  return new TrellisError('TRELLIS_ERR_NOT_FOUND', `${kind} ${JSON.stringify(name)} does not exist`);
}

export function assertFound<T>(value: T | null | undefined, kind: ResourceKind, name: string): T {
  if (value === null || value === undefined) throw notFound(kind, name);
  return value;
}

/** Refuses a write made against a version other than the current one, returning the current resource. */
export function assertVersion(
  kind: ResourceKind,
  name: string,
  expected: number | undefined,
  current: { version: number },
  currentResource: unknown,
): void {
  if (expected !== undefined && expected !== current.version) {
    throw new TrellisError(
      'TRELLIS_ERR_VERSION_CONFLICT',
      `${kind} ${JSON.stringify(name)} is at version ${current.version}, not ${expected}: someone else changed it; reload and re-apply`,
      { current: currentResource },
    );
  }
}

/** Compares the spec part of two resources, ignoring metadata. */
export function sameSpec(a: object, b: object): boolean {
  const strip = ({ id: _i, version: _v, createdAt: _c, updatedAt: _u, ...rest }: Record<string, unknown>) =>
    rest;
  return isDeepStrictEqual(strip(a as Record<string, unknown>), strip(b as Record<string, unknown>));
}

export function nameMustMatch(pathName: string, bodyName: string): void {
  if (pathName !== bodyName) {
    throw new TrellisError('TRELLIS_ERR_VALIDATION', `name: must match the name in the URL ("${pathName}")`, {
      errors: [
        {
          path: 'name',
          message: `must match the name in the URL ("${pathName}"); renaming is not supported`,
        },
      ],
    });
  }
}

export function unknownReference(path: string, message: string): TrellisError {
  return new TrellisError('TRELLIS_ERR_UNKNOWN_REFERENCE', `${path}: ${message}`, {
    errors: [{ path, message }],
  });
}
